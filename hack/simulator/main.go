// Command simulator serves the demo's data on its own, as
// config/demo/telemetry.yaml describes it: per-account usage
// (active_users_7d, feature_adoption_ratio) on /metrics for a Prometheus
// to scrape, the support desk's CSAT export, and, with -warehouse, the
// warehouse's tickets and invoices tables in a PostgreSQL database.
// `make demo` runs the same simulator in-process.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"customersuccess.dev/success-operator/internal/demo"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9100", "Address to serve /metrics and the support desk's export on.")
	scenario := flag.String("scenario", "config/demo/telemetry.yaml", "Telemetry scenario file.")
	warehouse := flag.String("warehouse", "", "DSN of a PostgreSQL database to keep the warehouse's tables in (created when missing); none when empty.")
	flag.Parse()
	if err := run(*addr, *scenario, *warehouse); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run(addr, scenario, warehouse string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	tele, err := demo.LoadTelemetry(scenario)
	if err != nil {
		return err
	}
	sim := demo.NewSimulator(tele, time.Now)
	if warehouse != "" {
		report := func(err error) { fmt.Fprintln(os.Stderr, "simulator: syncing the warehouse:", err) }
		if err := sim.RunWarehouse(ctx, warehouse, 2*time.Second, report); err != nil {
			return err
		}
	}
	fmt.Printf("Serving %d accounts' telemetry on http://%s/metrics and %d customers' CSAT on http://%s%s\n",
		len(tele.Profiles), addr, len(tele.Customers), addr, demo.SupportDeskPath)
	srv := &http.Server{Addr: addr, Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
