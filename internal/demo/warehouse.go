package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"

	"customersuccess.dev/success-operator/internal/testenv"
)

// Customer is a customer of the demo's data warehouse and support desk, by
// its id there (the accounts' externalIDs.warehouse and
// externalIDs.supportdesk).
type Customer struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	// OpenTickets is how many of its support tickets are open.
	OpenTickets Ramp `json:"openTickets"`
	// OverdueDays is how many days its open invoice is past due; 0 while
	// it is not due yet.
	OverdueDays Ramp `json:"overdueDays"`
	// CSAT is the support desk's satisfaction score, 0 to 100.
	CSAT Ramp `json:"csat"`
}

// warehouseTables are the warehouse's tables, created when missing.
var warehouseTables = []string{
	`CREATE TABLE IF NOT EXISTS customers (id integer PRIMARY KEY, name text NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS tickets (id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
		opened_at timestamptz NOT NULL DEFAULT now(), closed_at timestamptz)`,
	`CREATE TABLE IF NOT EXISTS invoices (id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
		due_date date NOT NULL, amount numeric NOT NULL, paid_at timestamptz)`,
}

// readerLogin creates the role the demo's sql source connects as: it may
// log in with password and read the warehouse's tables, nothing else.
func readerLogin(name, password string) []string {
	return []string{
		`CREATE ROLE ` + name + ` LOGIN PASSWORD '` + password + `'`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ` + name,
	}
}

// syncWarehouse writes the scenario's customers as they are now into the
// warehouse's tables, as the product's support desk and billing feeds
// would: it opens or closes tickets to the ramp's count, and moves the
// due date of each customer's open invoice.
func (s *Simulator) syncWarehouse(ctx context.Context, conn *pgx.Conn) error {
	s.mu.Lock()
	elapsed := s.now().Sub(s.start)
	customers := s.customers
	s.mu.Unlock()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, c := range customers {
			if err := syncCustomer(ctx, tx, c, elapsed); err != nil {
				return fmt.Errorf("customer %d: %w", c.ID, err)
			}
		}
		return nil
	})
}

// syncCustomer brings one customer's rows to the scenario at elapsed.
func syncCustomer(ctx context.Context, tx pgx.Tx, c Customer, elapsed time.Duration) error {
	if _, err := tx.Exec(ctx, `INSERT INTO customers (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, c.ID, c.Name); err != nil {
		return err
	}
	var open int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE customer_id = $1 AND closed_at IS NULL`, c.ID).Scan(&open); err != nil {
		return err
	}
	want := int(math.Round(c.OpenTickets.at(elapsed)))
	switch {
	case open < want:
		_, err := tx.Exec(ctx, `INSERT INTO tickets (customer_id) SELECT $1 FROM generate_series(1, $2)`, c.ID, want-open)
		if err != nil {
			return err
		}
	case open > want:
		_, err := tx.Exec(ctx, `UPDATE tickets SET closed_at = now() WHERE id IN
			(SELECT id FROM tickets WHERE customer_id = $1 AND closed_at IS NULL ORDER BY opened_at LIMIT $2)`, c.ID, open-want)
		if err != nil {
			return err
		}
	}
	// One open invoice per customer, due 30 days from now until the ramp
	// makes it overdue.
	due := 30
	if d := int(math.Round(c.OverdueDays.at(elapsed))); d > 0 {
		due = -d
	}
	tag, err := tx.Exec(ctx, `UPDATE invoices SET due_date = current_date + $2::integer WHERE customer_id = $1 AND paid_at IS NULL`, c.ID, due)
	if err != nil || tag.RowsAffected() > 0 {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO invoices (customer_id, due_date, amount) VALUES ($1, current_date + $2::integer, 1200)`, c.ID, due)
	return err
}

// RunWarehouse creates the warehouse's tables in the database of dsn when
// missing, then syncs them at once and every interval until ctx ends, over
// one connection; it reports a failed sync through report and goes on.
func (s *Simulator) RunWarehouse(ctx context.Context, dsn string, every time.Duration, report func(error)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	for _, stmt := range warehouseTables {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			_ = conn.Close(context.Background())
			return err
		}
	}
	go func() {
		defer func() { _ = conn.Close(context.Background()) }()
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if err := s.syncWarehouse(ctx, conn); err != nil && ctx.Err() == nil && report != nil {
				report(err)
			}
		}, every)
	}()
	return nil
}

// supportDesk serves the support desk's export: one document with every
// customer's id and CSAT, as a support tool's API returns it.
func (s *Simulator) supportDesk(w http.ResponseWriter, _ *http.Request) {
	type item struct {
		ID   string  `json:"id"`
		CSAT float64 `json:"csat"`
	}
	s.mu.Lock()
	elapsed := s.now().Sub(s.start)
	items := make([]item, 0, len(s.customers))
	for _, c := range s.customers {
		items = append(items, item{ID: strconv.Itoa(c.ID), CSAT: math.Round(c.CSAT.at(elapsed))})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"customers": items})
}

// The demo's warehouse database, and the login its sql source uses.
const (
	warehouseDB    = "analytics"
	readerRole     = "cs_reader"
	readerPassword = "demo-reader"
)

// Warehouse is the demo's data warehouse: a private PostgreSQL server
// whose analytics database the simulator keeps up to date.
type Warehouse struct {
	*testenv.Postgres
	// DSN and Password are the read-only login, as the demo's Secret
	// carries them: the DSN without the password.
	DSN, Password string
}

// StartWarehouse starts the warehouse's server and database, has sim sync
// its tables every 2 seconds until ctx ends (report hears of a failed
// sync), and creates the read-only login. Stop stops the server.
func StartWarehouse(ctx context.Context, sim *Simulator, report func(error)) (*Warehouse, error) {
	pg, err := testenv.StartPostgres()
	if err != nil {
		return nil, err
	}
	w := &Warehouse{Postgres: pg, Password: readerPassword,
		DSN: fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", readerRole, pg.Port, warehouseDB)}
	err = pg.Exec(ctx, "postgres", "CREATE DATABASE "+warehouseDB)
	if err == nil {
		err = sim.RunWarehouse(ctx, pg.DSN("postgres", pg.Password, warehouseDB), 2*time.Second, report)
	}
	if err == nil {
		err = pg.Exec(ctx, warehouseDB, readerLogin(readerRole, readerPassword)...)
	}
	if err != nil {
		_ = pg.Stop()
		return nil, fmt.Errorf("starting the warehouse: %w", err)
	}
	return w, nil
}
