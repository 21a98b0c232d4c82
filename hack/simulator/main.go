// Command simulator serves the demo's telemetry on its own: per-account
// usage (active_users_7d, feature_adoption_ratio) that evolves over time
// as config/demo/telemetry.yaml describes, for a Prometheus to scrape.
// `make demo` runs the same simulator in-process.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"customersuccess.dev/success-operator/internal/demo"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9100", "Address to serve /metrics on.")
	scenario := flag.String("scenario", "config/demo/telemetry.yaml", "Telemetry scenario file.")
	flag.Parse()
	tele, err := demo.LoadTelemetry(*scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", demo.NewSimulator(tele, time.Now).Handler())
	fmt.Printf("Serving %d accounts' telemetry on http://%s/metrics\n", len(tele.Profiles), *addr)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}
