package sources

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
)

// Defaults of an sql source.
const (
	DefaultSQLTimeout = 10 * time.Second
	DefaultSQLMaxRows = 1_000_000
)

// SQL runs one query per measure per pull on a database that speaks the
// PostgreSQL protocol, over one connection, each as one prepared
// statement in a read-only transaction with a statement timeout. A query returns rows of (account
// key, value); only the rows of the pull's targets are kept.
type SQL struct {
	// DSN is the connection string; Password, when set, replaces its
	// password; CA, when set, replaces the system roots of its TLS modes.
	DSN, Password string
	CA            []byte
	// SourceName is the plan's name of the source: a row's key is matched
	// against Target.Key(SourceName).
	SourceName string
	Timeout    time.Duration
	MaxRows    int
	// Guard is the address policy of the connection.
	Guard outbound.Options
}

// NewSQL returns the sql source of a plan from its spec and the keys of
// its Secret (dsn, password, ca.crt).
func NewSQL(name string, spec *csv1alpha1.SQLSource, secret map[string][]byte, guard outbound.Options) (*SQL, error) {
	if len(secret["dsn"]) == 0 {
		return nil, errors.New("secret has no key dsn")
	}
	s := &SQL{DSN: string(secret["dsn"]), Password: string(secret["password"]), CA: secret["ca.crt"],
		SourceName: name, Timeout: DefaultSQLTimeout, MaxRows: DefaultSQLMaxRows, Guard: guard}
	if spec.Timeout != nil && spec.Timeout.Duration > 0 {
		s.Timeout = spec.Timeout.Duration
	}
	if spec.MaxRows > 0 {
		s.MaxRows = int(spec.MaxRows)
	}
	if _, err := s.config(); err != nil {
		return nil, err
	}
	return s, nil
}

// config parses the DSN into a connection config with the source's
// password, CA, timeouts, read-only sessions and guarded dialer. Its
// errors never quote the DSN.
func (s *SQL) config() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(s.DSN)
	if err != nil {
		return nil, errors.New("dsn does not parse as a PostgreSQL connection string")
	}
	if s.Password != "" {
		cfg.Password = s.Password
	}
	if len(s.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.CA) {
			return nil, errors.New("ca.crt holds no PEM certificate")
		}
		for _, c := range append([]*pgconn.FallbackConfig{{TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...) {
			if c.TLSConfig != nil {
				c.TLSConfig.RootCAs = pool
			}
		}
	}
	cfg.ConnectTimeout = s.Timeout
	cfg.DialFunc = outbound.Dialer(s.Guard).DialContext
	cfg.RuntimeParams["application_name"] = "success-operator"
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(s.Timeout.Milliseconds(), 10)
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	return cfg, nil
}

// Pull connects once and runs every measure's query.
func (s *SQL) Pull(ctx context.Context, measures []*csv1alpha1.Measure, targets []Target) map[string]map[string]Sample {
	out := make(map[string]map[string]Sample, len(measures))
	cfg, err := s.config()
	if err != nil {
		for _, m := range measures {
			out[m.Name] = FailAll(targets, err.Error())
		}
		return out
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		for _, m := range measures {
			out[m.Name] = FailAll(targets, describeSQL(err))
		}
		return out
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	for _, m := range measures {
		out[m.Name] = s.query(ctx, conn, m.Query, targets)
	}
	return out
}

// row is what a query answered for one account key.
type row struct {
	sample Sample
	rows   int
}

// query runs one measure's query and matches its rows to the targets.
//
// The boundary is the server's, whatever the text holds: the query is sent
// with the extended protocol as one unnamed prepared statement (a Parse,
// which PostgreSQL refuses for more than one statement, however quotes,
// comments or dollar quotes hide the semicolons), inside a transaction
// begun READ ONLY and always rolled back. It runs only when the
// statement's description has no parameter and two columns, so a
// statement that returns no rows (COMMIT, SET, ...) is never executed.
func (s *SQL) query(ctx context.Context, conn *pgx.Conn, query string, targets []Target) map[string]Sample {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout+time.Second) // the server's statement_timeout answers first
	defer cancel()
	found := make(map[string]*row, len(targets))
	for _, t := range targets {
		found[t.Key(s.SourceName)] = &row{}
	}
	err := s.run(ctx, conn, query, func(values []any) error {
		key, ok := keyText(values[0])
		if !ok {
			return shapeError("the first column is not an account key (text or an integer)")
		}
		if r := found[key]; r != nil {
			r.rows++
			r.sample = number(values[1])
		}
		return nil
	})
	if err != nil {
		return FailAll(targets, describeSQL(err))
	}
	out := make(map[string]Sample, len(targets))
	for _, t := range targets {
		key := t.Key(s.SourceName)
		switch r := found[key]; r.rows {
		case 0:
			out[t.Name] = Sample{Err: fmt.Sprintf("no row with key %q", key)}
		case 1:
			out[t.Name] = r.sample
		default:
			out[t.Name] = Sample{Err: fmt.Sprintf("%d rows with key %q", r.rows, key)}
		}
	}
	return out
}

// run prepares query as one unnamed statement in a read-only transaction,
// checks its description, executes it and hands each row's values to
// each. The transaction is rolled back: nothing a query does is kept.
func (s *SQL) run(ctx context.Context, conn *pgx.Conn, query string, each func([]any) error) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sd, err := tx.Prepare(ctx, "", query)
	if err != nil {
		return err
	}
	if n := len(sd.ParamOIDs); n != 0 {
		return shapeError(fmt.Sprintf("the query has %d parameters ($1, ...), want none", n))
	}
	if n := len(sd.Fields); n != 2 {
		return shapeError(fmt.Sprintf("the query returns %d columns, want 2 (account key, value)", n))
	}
	types := conn.TypeMap()
	formats := make([]int16, len(sd.Fields))
	for i, f := range sd.Fields {
		formats[i] = types.FormatCodeForOID(f.DataTypeOID)
	}
	rows := pgx.RowsFromResultReader(types, conn.PgConn().ExecStatement(ctx, sd, nil, nil, formats))
	defer rows.Close()
	count := 0
	for rows.Next() {
		if count++; count > s.MaxRows {
			return shapeError(fmt.Sprintf("the query returned more than %d rows, the limit (maxRows)", s.MaxRows))
		}
		values, err := rows.Values()
		if err != nil {
			return err
		}
		if err := each(values); err != nil {
			return err
		}
	}
	rows.Close()
	return rows.Err()
}

// shapeError says how a query's answer is not (account key, value) rows.
type shapeError string

func (e shapeError) Error() string { return string(e) }

// keyText is an account key read from the first column.
func keyText(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return k, true
	case int16, int32, int64:
		return fmt.Sprint(k), true
	}
	return "", false
}

// number reads a value of the second column: a NULL or a value that is not
// a number is that account's error.
func number(v any) Sample {
	switch x := v.(type) {
	case nil:
		return Sample{Err: "value is NULL"}
	case float64:
		return finite(x)
	case float32:
		return finite(float64(x))
	case int16:
		return Sample{Value: float64(x)}
	case int32:
		return Sample{Value: float64(x)}
	case int64:
		return Sample{Value: float64(x)}
	case bool:
		if x {
			return Sample{Value: 1}
		}
		return Sample{Value: 0}
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil || !f.Valid {
			return Sample{Err: "value is not a number"}
		}
		return finite(f.Float64)
	}
	return Sample{Err: "value is not a number"}
}

// sqlStates names the SQLSTATE codes an sql source most often meets; the
// others are reported by code. A server's message is never reported: it
// may quote data.
var sqlStates = map[string]string{
	"57014": "statement timeout",
	"28P01": "authentication failed",
	"28000": "authentication failed",
	"3D000": "database does not exist",
	"42P01": "undefined table",
	"42703": "undefined column",
	"42601": "syntax error",
	"42501": "permission denied",
	"42883": "undefined function",
	"25006": "read-only transaction",
	"2D000": "invalid transaction termination",
	"53300": "too many connections",
	"57P01": "server shutting down",
	"57P03": "server not accepting connections",
}

// describeSQL turns a driver error into its category: the SQLSTATE (and
// its name when known) for a server's error, the transport category for
// a connection failure, or the query's shape; never the DSN, a host, a
// port or the server's message.
func describeSQL(err error) string {
	var (
		pgErr *pgconn.PgError
		shape shapeError
	)
	switch {
	case errors.As(err, &pgErr):
		if pgErr.Code == "42601" && pgErr.Routine == "exec_parse_message" {
			// PostgreSQL's refusal to prepare more than one statement (the
			// only syntax error its Parse message raises itself).
			return "query failed: more than one statement (SQLSTATE 42601)"
		}
		if name, ok := sqlStates[pgErr.Code]; ok {
			return fmt.Sprintf("query failed: %s (SQLSTATE %s)", name, pgErr.Code)
		}
		return "query failed: SQLSTATE " + pgErr.Code
	case errors.As(err, &shape):
		return string(shape)
	case pgconn.Timeout(err):
		return "query failed: " + outbound.ErrTextTimeout
	default:
		return "query failed: " + outbound.Describe(err)
	}
}
