package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// fakeClock is a clock the test moves while the simulator reads it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestWarehouseFeedsTheDemoPlan: the simulator keeps the warehouse's
// tables so that the warehouse plan's own queries, run with its read-only
// login, return each customer's ramps, at the start and once they are
// over; the login cannot write; and the support desk's export carries the
// CSAT ramps.
func TestWarehouseFeedsTheDemoPlan(t *testing.T) {
	tele, err := LoadTelemetry(filepath.Join("..", "..", "config", "demo", "telemetry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	sim := NewSimulator(tele, clock.Now)
	w, err := StartWarehouse(t.Context(), sim, func(err error) { t.Errorf("syncing: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })

	queries := map[string]string{}
	plans, _ := demoObjects(t)
	for _, p := range plans {
		for _, m := range p.Spec.Measures {
			if p.Name == "warehouse" && m.Source == "warehouse" {
				queries[m.Name] = m.Query
			}
		}
	}
	if len(queries) != 2 {
		t.Fatalf("the warehouse plan's sql measures: %v", queries)
	}
	cfg, err := pgx.ParseConfig(w.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = w.Password
	reader, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close(context.Background()) })
	read := func() (map[string]map[int64]int64, error) {
		out := map[string]map[int64]int64{}
		for name, q := range queries {
			rows, err := reader.Query(t.Context(), q)
			if err != nil {
				return nil, err
			}
			out[name] = map[int64]int64{}
			for rows.Next() {
				var id, v int64
				if err := rows.Scan(&id, &v); err != nil {
					return nil, err
				}
				out[name][id] = v
			}
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// The simulator syncs every 2 seconds: poll until the tables say what
	// the ramps say.
	expect := func(when string, want map[string]map[int64]int64) {
		t.Helper()
		var got map[string]map[int64]int64
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got, err = read(); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(got, want) {
				return
			}
		}
		t.Fatalf("%s: the queries return %v, want %v", when, got, want)
	}
	expect("at the start", map[string]map[int64]int64{
		"openTickets": {1042: 1, 2077: 2, 3150: 3}, "overdueDays": {1042: 0, 2077: 0, 3150: 0}})
	clock.Step(90 * time.Second)
	expect("after the ramps", map[string]map[int64]int64{
		"openTickets": {1042: 1, 2077: 12, 3150: 3}, "overdueDays": {1042: 0, 2077: 0, 3150: 60}})

	if _, err := reader.Exec(t.Context(), "DELETE FROM tickets"); err == nil {
		t.Error("the read-only login deleted tickets")
	}

	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + SupportDeskPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var export struct {
		Customers []struct {
			ID   string  `json:"id"`
			CSAT float64 `json:"csat"`
		} `json:"customers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&export); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(export.Customers)
	if want := "[{1042 92} {2077 58} {3150 88}]"; got != want {
		t.Errorf("support desk export = %s, want %s", got, want)
	}
}
