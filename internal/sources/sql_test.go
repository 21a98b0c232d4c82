package sources

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/testenv"
)

// TestSQLSource runs queries against a real PostgreSQL server: rows match
// accounts by key, each bad row or bad query is a measure error naming its
// category, and no error carries the DSN, a host, a port or a password.
func TestSQLSource(t *testing.T) {
	ctx := context.Background()
	pg := startWarehouse(t, "reader", "reader-pw",
		"CREATE EXTENSION pg_stat_statements",
		"CREATE TABLE tickets (account text, open integer, score numeric, note text)",
		`INSERT INTO tickets VALUES ('acme', 3, 4.5, 'x'), ('globex', 0, NULL, '7'), ('twice', 1, 1, ''), ('twice', 2, 2, ''),
			('initech', 9, 'NaN', 'high')`,
		"CREATE TABLE counters (id bigint, n double precision)",
		"INSERT INTO counters VALUES (424242, 12.5)",
		"GRANT SELECT ON tickets, counters TO reader",
	)
	targets := []Target{{Name: "acme"}, {Name: "globex"}, {Name: "twice"}, {Name: "initech"},
		{Name: "numeric-id", ExternalIDs: map[string]string{"warehouse": "424242"}}, {Name: "absent"}}
	secret := func(dsn string) map[string][]byte { return map[string][]byte{"dsn": []byte(dsn)} }
	good := secret(pg.DSN("reader", "reader-pw", "warehouse"))
	source := func(data map[string][]byte, spec csv1alpha1.SQLSource) *SQL {
		t.Helper()
		s, err := NewSQL("warehouse", &spec, data, outbound.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pull := func(s *SQL, query string) map[string]Sample {
		return s.Pull(ctx, []*csv1alpha1.Measure{{Name: "m", Query: query}}, targets)["m"]
	}
	for _, tc := range []struct {
		name   string
		secret map[string][]byte
		spec   csv1alpha1.SQLSource
		query  string
		want   map[string]Sample // the accounts not named share want["*"]
	}{
		{name: "rows match accounts by key", query: "SELECT account, open FROM tickets", want: map[string]Sample{
			"acme": {Value: 3}, "globex": {Value: 0}, "twice": {Err: `2 rows with key "twice"`}, "initech": {Value: 9},
			"numeric-id": {Err: `no row with key "424242"`}, "absent": {Err: `no row with key "absent"`}}},
		{name: "numeric values; NULL and NaN are errors", query: "SELECT account, score FROM tickets", want: map[string]Sample{
			"acme": {Value: 4.5}, "globex": {Err: "value is NULL"}, "initech": {Err: "value is not a finite number"},
			"twice": {Err: `2 rows with key "twice"`}, "*": {}}},
		{name: "a text value is not a number", query: "SELECT account, note FROM tickets WHERE account = 'globex'", want: map[string]Sample{
			"globex": {Err: "value is not a number"}, "*": {}}},
		{name: "an integer key matches the account's external id", query: "SELECT id, n FROM counters", want: map[string]Sample{
			"numeric-id": {Value: 12.5}, "*": {}}},
		{name: "three columns", query: "SELECT account, open, score FROM tickets",
			want: map[string]Sample{"*": {Err: "the query returns 3 columns, want 2 (account key, value)"}}},
		{name: "a key that is not one", query: "SELECT 1.5::numeric, 2",
			want: map[string]Sample{"*": {Err: "the first column is not an account key (text or an integer)"}}},
		{name: "more rows than maxRows", spec: csv1alpha1.SQLSource{MaxRows: 2}, query: "SELECT account, open FROM tickets",
			want: map[string]Sample{"*": {Err: "the query returned more than 2 rows, the limit (maxRows)"}}},
		{name: "a slow query past the timeout", spec: csv1alpha1.SQLSource{Timeout: &metav1.Duration{Duration: 300 * time.Millisecond}},
			query: "SELECT account, open FROM tickets, pg_sleep(5)",
			want:  map[string]Sample{"*": {Err: "query failed: statement timeout (SQLSTATE 57014)"}}},
		{name: "a write is refused", query: "WITH w AS (DELETE FROM tickets RETURNING account, open) SELECT * FROM w",
			want: map[string]Sample{"*": {Err: "query failed: read-only transaction (SQLSTATE 25006)"}}},
		{name: "an unknown table", query: "SELECT account, open FROM invoices",
			want: map[string]Sample{"*": {Err: "query failed: undefined table (SQLSTATE 42P01)"}}},
		{name: "a wrong password", secret: secret(pg.DSN("reader", "wrong", "warehouse")), query: "SELECT account, open FROM tickets",
			want: map[string]Sample{"*": {Err: "query failed: authentication failed (SQLSTATE 28P01)"}}},
		{name: "a password from its own key", secret: map[string][]byte{
			"dsn": []byte(strings.Replace(pg.DSN("reader", "x", "warehouse"), ":x@", "@", 1)), "password": []byte("reader-pw")},
			query: "SELECT account, open FROM tickets WHERE account = 'acme'", want: map[string]Sample{"acme": {Value: 3}, "*": {}}},
		{name: "a server that is down", secret: secret(fmt.Sprintf("postgres://reader:reader-pw@127.0.0.1:%d/warehouse?sslmode=disable", freeLoopbackPort(t))),
			query: "SELECT account, open FROM tickets", want: map[string]Sample{"*": {Err: "query failed: connection refused"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.secret
			if data == nil {
				data = good
			}
			got := pull(source(data, tc.spec), tc.query)
			for _, tg := range targets {
				want, ok := tc.want[tg.Name]
				if !ok {
					want, ok = tc.want["*"]
					if ok && want == (Sample{}) {
						continue // not this case's concern
					}
				}
				if got[tg.Name] != want {
					t.Errorf("%s = %+v, want %+v", tg.Name, got[tg.Name], want)
				}
				for _, secret := range []string{"127.0.0.1", fmt.Sprint(pg.Port), "reader-pw", "postgres://"} {
					if strings.Contains(got[tg.Name].Err, secret) {
						t.Errorf("%s: error %q holds %q", tg.Name, got[tg.Name].Err, secret)
					}
				}
			}
		})
	}

	n, err := pg.Calls(ctx, "warehouse", "FROM counters")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("pg_stat_statements counted %d runs of the counters query, want 1", n)
	}
}

func TestNewSQLRefusesAnUnusableSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"no dsn", map[string][]byte{"password": []byte("p")}, "secret has no key dsn"},
		{"a dsn that does not parse", map[string][]byte{"dsn": []byte("postgres://u:p@[::1/db")}, "dsn does not parse as a PostgreSQL connection string"},
		{"a CA that is not PEM", map[string][]byte{"dsn": []byte("postgres://db/x?sslmode=verify-full"), "ca.crt": []byte("nope")}, "ca.crt holds no PEM certificate"},
	} {
		_, err := NewSQL("warehouse", &csv1alpha1.SQLSource{}, tc.data, outbound.Options{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: the error quotes the dsn: %v", tc.name, err)
		}
	}
}

func TestCheckSQL(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT account, open FROM tickets":                         "",
		"  select distinct a.id, sum(t.open) from a join t on true": "",
		"WITH x AS (SELECT 1) SELECT a, b FROM x":                   "",
		"SELECT account FROM tickets":                               "selects 1 columns, want 2: the account key, then the value",
		"select a, b, c from t":                                     "selects 3 columns, want 2: the account key, then the value",
		"DELETE FROM tickets":                                       "must be one SELECT (or WITH ... SELECT) statement",
		"SELECT a, b FROM t; DROP TABLE t":                          "must be one statement",
		"SELECT a, b FROM t;":                                       "",
		"":                                                          "must be one SELECT (or WITH ... SELECT) statement",
		// A star's columns are the database's to count.
		"SELECT * FROM open_tickets":        "",
		"SELECT t.* FROM open_tickets AS t": "",
		"SELECT a, b /* , c */ FROM t":      "",
		// Semicolons behind quotes, comments or dollar quotes: no early
		// message, the server refuses them at each pull
		// (TestSQLServerRefusesAWrite).
		"SELECT 'k' AS k, 1; COMMIT; BEGIN READ WRITE; INSERT INTO t VALUES (1); COMMIT": "",
		"SELECT a, b FROM t /* ; */ ; -- ;\nCOMMIT":                                      "",
		"SELECT $k$k;$k$, 1; COMMIT; INSERT INTO t VALUES ($$;$$)":                       "",
		"SELECT a, b FROM t; ":             "",
		"SELECT a, b FROM t WHERE c = 1;;": "",
		"-- SELECT\nDELETE FROM tickets":   "must be one SELECT (or WITH ... SELECT) statement",
	} {
		if got := checkSQL(q); got != want {
			t.Errorf("checkSQL(%q) = %q, want %q", q, got, want)
		}
	}
}

// freeLoopbackPort is a loopback port nothing listens on.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// writableWarehouse starts a private PostgreSQL with a database warehouse
// whose login writer owns the table audit: it may insert, so only the
// server's own rules can keep a measure's query from writing. It checks
// that writer can write and answers the DSN of writer and a function that
// counts audit's rows.
func writableWarehouse(t *testing.T) (pg *testenv.Postgres, dsn string, auditRows func() int64) {
	t.Helper()
	ctx := context.Background()
	pg = startWarehouse(t, "writer", "writer-pw",
		"CREATE EXTENSION pg_stat_statements",
		"CREATE TABLE audit (note text)",
		"ALTER TABLE audit OWNER TO writer",
		"CREATE TABLE tickets (account text, open integer, score numeric)",
		"INSERT INTO tickets VALUES ('acme', 3, 4.5), ('globex', 0, 1), ('initech', 9, 2.25)",
		"CREATE VIEW open_tickets AS SELECT account, open FROM tickets",
		"GRANT SELECT ON tickets, open_tickets TO writer",
		`CREATE PROCEDURE commit_and_write(INOUT k text, INOUT v integer) LANGUAGE plpgsql AS $$
		BEGIN
			COMMIT;
			SET TRANSACTION READ WRITE;
			INSERT INTO audit VALUES ('procedure');
			COMMIT;
			k := 'acme'; v := 1;
		END $$`,
	)
	dsn = pg.DSN("writer", "writer-pw", "warehouse")
	// writer can write: an insert in a transaction rolled back.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO audit VALUES ('can write')"); err != nil {
		t.Fatalf("writer cannot write, the test proves nothing: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	auditRows = func() int64 {
		t.Helper()
		conn, err := pgx.Connect(ctx, pg.DSN("postgres", pg.Password, "warehouse"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }()
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return pg, dsn, auditRows
}

// TestSQLServerRefusesAWrite sends, with a login that may write, queries
// that end the read-only transaction with a COMMIT hidden from a text
// check (by quotes, comments or dollar quotes, or in a procedure) and
// then insert: each is refused by the server, the measure reports the
// error, and the table holds no row afterwards.
func TestSQLServerRefusesAWrite(t *testing.T) {
	pg, dsn, auditRows := writableWarehouse(t)
	ctx := context.Background()
	s, err := NewSQL("warehouse", &csv1alpha1.SQLSource{}, map[string][]byte{"dsn": []byte(dsn)}, outbound.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := []Target{{Name: "acme"}, {Name: "k"}}
	const multiple = "query failed: more than one statement (SQLSTATE 42601)"
	for _, tc := range []struct{ name, query, want string }{
		{name: "a second statement after a quote",
			query: "SELECT 'k' AS k, 1; COMMIT; BEGIN READ WRITE; INSERT INTO audit VALUES ('quotes'); COMMIT", want: multiple},
		{name: "semicolons in comments",
			query: "SELECT account, open FROM tickets /* ; */ ; -- ;\nCOMMIT; BEGIN READ WRITE; INSERT INTO audit SELECT 'comments' /* ; */; COMMIT -- ;", want: multiple},
		{name: "semicolons in dollar quotes",
			query: "SELECT $k$k;$k$, 1; COMMIT; BEGIN READ WRITE; INSERT INTO audit VALUES ($$dollar; quoted$$); COMMIT", want: multiple},
		{name: "COMMIT; BEGIN READ WRITE; INSERT",
			query: "SELECT account, open FROM tickets; COMMIT; BEGIN READ WRITE; INSERT INTO audit DEFAULT VALUES; COMMIT", want: multiple},
		{name: "statements joined without spaces",
			query: "SELECT account, open FROM tickets;COMMIT;BEGIN READ WRITE;INSERT INTO audit DEFAULT VALUES;COMMIT", want: multiple},
		{name: "a procedure that commits",
			query: "CALL commit_and_write(NULL, NULL)", want: "query failed: invalid transaction termination (SQLSTATE 2D000)"},
		{name: "a writing CTE", query: "WITH w AS (INSERT INTO audit VALUES ('cte') RETURNING note, 1) SELECT * FROM w",
			want: "query failed: read-only transaction (SQLSTATE 25006)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := pg.Exec(ctx, "warehouse", "TRUNCATE audit"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // two pulls: one could prepare the next
				got := s.Pull(ctx, []*csv1alpha1.Measure{{Name: "m", Query: tc.query}}, targets)["m"]
				for _, tg := range targets {
					if got[tg.Name].Err != tc.want {
						t.Errorf("pull %d: %s = %+v, want error %q", i+1, tg.Name, got[tg.Name], tc.want)
					}
				}
			}
			if n := auditRows(); n != 0 {
				t.Fatalf("audit holds %d rows after the pulls, want 0", n)
			}
		})
	}

	// On one connection, the query after a refused one still reads.
	if err := pg.Exec(ctx, "warehouse", "TRUNCATE audit"); err != nil {
		t.Fatal(err)
	}
	got := s.Pull(ctx, []*csv1alpha1.Measure{
		{Name: "bad", Query: "SELECT 'k', 1; COMMIT; BEGIN READ WRITE; INSERT INTO audit VALUES ('same connection'); COMMIT"},
		{Name: "good", Query: "SELECT account, open FROM tickets"},
	}, targets)
	if got["bad"]["acme"].Err != multiple || got["good"]["acme"] != (Sample{Value: 3}) {
		t.Errorf("one connection: bad = %+v, good = %+v", got["bad"]["acme"], got["good"]["acme"])
	}
	if n := auditRows(); n != 0 {
		t.Fatalf("audit holds %d rows, want 0", n)
	}
}

// TestSQLColumnsFromTheStatementsDescription takes the column count from
// the prepared statement, not from the text: SELECT * from a two-column
// view is accepted at plan time and read at each pull, and a query of
// another shape (three columns, none, a parameter) is never executed.
func TestSQLColumnsFromTheStatementsDescription(t *testing.T) {
	pg, dsn, _ := writableWarehouse(t)
	ctx := context.Background()
	const star = "SELECT * FROM open_tickets"
	plan := &csv1alpha1.SuccessPlanSpec{
		Sources:  []csv1alpha1.Source{{Name: "warehouse", SQL: &csv1alpha1.SQLSource{}}},
		Measures: []csv1alpha1.Measure{{Name: "open", Source: "warehouse", Query: star}},
	}
	if errs := ValidatePlan(plan); len(errs) != 0 {
		t.Errorf("ValidatePlan refuses %q: %v", star, errs)
	}
	s, err := NewSQL("warehouse", &csv1alpha1.SQLSource{}, map[string][]byte{"dsn": []byte(dsn)}, outbound.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := []Target{{Name: "acme"}, {Name: "globex"}, {Name: "initech"}}
	got := s.Pull(ctx, []*csv1alpha1.Measure{
		{Name: "star", Query: star},
		{Name: "wide", Query: "SELECT * FROM tickets AS wide"},
		{Name: "none", Query: "SELECT FROM tickets AS none"},
		{Name: "param", Query: "SELECT account, open FROM tickets AS param WHERE open > $1"},
	}, targets)
	for name, want := range map[string]Sample{"acme": {Value: 3}, "globex": {Value: 0}, "initech": {Value: 9}} {
		if got["star"][name] != want {
			t.Errorf("star: %s = %+v, want %+v", name, got["star"][name], want)
		}
		if want := "the query returns 3 columns, want 2 (account key, value)"; got["wide"][name].Err != want {
			t.Errorf("wide: %s = %+v, want error %q", name, got["wide"][name], want)
		}
		if want := "the query returns 0 columns, want 2 (account key, value)"; got["none"][name].Err != want {
			t.Errorf("none: %s = %+v, want error %q", name, got["none"][name], want)
		}
		if want := "the query has 1 parameters ($1, ...), want none"; got["param"][name].Err != want {
			t.Errorf("param: %s = %+v, want error %q", name, got["param"][name], want)
		}
	}
	for _, fragment := range []string{"AS wide", "AS none", "AS param"} {
		if n, err := pg.Calls(ctx, "warehouse", fragment); err != nil || n != 0 {
			t.Errorf("the query %q ran %d times (%v), want 0: its description refuses it", fragment, n, err)
		}
	}
	if n, err := pg.Calls(ctx, "warehouse", "FROM open_tickets"); err != nil || n != 1 {
		t.Errorf("the query of the view ran %d times (%v), want 1", n, err)
	}
}

// startWarehouse starts a private PostgreSQL with a database warehouse, a
// login role with password, and the statements ddl run in warehouse.
func startWarehouse(t *testing.T, role, password string, ddl ...string) *testenv.Postgres {
	t.Helper()
	pg, err := testenv.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	ctx := context.Background()
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE warehouse",
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password)); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "warehouse", ddl...); err != nil {
		t.Fatal(err)
	}
	return pg
}
