// Command benchscale is the operator's scale benchmark (`make
// bench-scale`). For each fleet size N it starts a local control plane
// (bin/k8s), an exporter serving one gauge per account, and a real
// Prometheus (bin/prometheus) scraping it; creates one plan and N accounts
// in namespace bench; then alternates cold starts of the manager (built
// from main.go, run as its own process) with cold starts of a bare status
// loop, the same binary re-executed, that patches each account's status
// once with the manager's client settings. The first run of the manager
// goes on to Events, memory, an idle window, a restart, the
// change-to-status latency and a midnight UTC: the same binary
// re-executed as the manager with its clock shifted to meet a midnight a
// minute or more after it starts (see midnight). It prints one table:
// figure | N=... | goal, every ratio from figures measured in the same
// run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if path := os.Getenv(bareEnv); path != "" {
		os.Exit(bareMain(path))
	}
	if offset := os.Getenv(clockEnv); offset != "" {
		os.Exit(clockManagerMain(offset, os.Args[1:]))
	}
	cfg := defaultConfig()
	sizes := flag.String("n", "1000,10000", "Fleet sizes, comma-separated; each runs on a fresh control plane.")
	flag.IntVar(&cfg.Runs, "runs", cfg.Runs, "Cold starts of the operator and of the bare loop per size, alternated; figures are medians.")
	flag.DurationVar(&cfg.Interval, "interval", cfg.Interval, "The plan's interval (at least 10s).")
	flag.DurationVar(&cfg.Scrape, "scrape", cfg.Scrape, "Prometheus's scrape interval.")
	flag.IntVar(&cfg.IdleIntervals, "idle-intervals", cfg.IdleIntervals, "Length of the idle window, in plan intervals; longer than the default staleAfter (three intervals) so that it covers the timers an evaluated value sets.")
	flag.Float64Var(&cfg.QPS, "qps", cfg.QPS, "--kube-api-qps of the manager, and the bare loop's QPS.")
	flag.IntVar(&cfg.Burst, "burst", cfg.Burst, "--kube-api-burst of the manager, and the bare loop's burst.")
	flag.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "--account-concurrency of the manager, and the bare loop's concurrency.")
	flag.IntVar(&cfg.Loaders, "loaders", cfg.Loaders, "Parallel requests creating and resetting accounts.")
	flag.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "How long without a status write counts as settled.")
	flag.Func("manager-arg", "An extra flag of the manager, e.g. --pprof-bind-address=127.0.0.1:6060 to profile it; repeatable.",
		func(v string) error { cfg.ManagerArgs = append(cfg.ManagerArgs, v); return nil })
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "Bound of one cold start; 0 scales with N (2m + 20ms per account).")
	flag.Parse()
	var err error
	if cfg.Sizes, err = parseSizes(*sizes); err == nil {
		err = cfg.validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := run(ctx, cfg)
	if len(results) > 0 {
		fmt.Println()
		report(os.Stdout, cfg, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		stop()
		os.Exit(1)
	}
}

// defaultConfig is the benchmark as `make bench-scale` runs it.
func defaultConfig() config {
	return config{
		Sizes:         []int{1000, 10000},
		Runs:          3,
		Interval:      15 * time.Second,
		Scrape:        2 * time.Second,
		IdleIntervals: 4,
		QPS:           1000,
		Burst:         2000,
		Concurrency:   4,
		Loaders:       32,
		Quiet:         5 * time.Second,
		Log:           os.Stderr,
	}
}

func (c config) validate() error {
	switch {
	case c.Runs < 1:
		return fmt.Errorf("-runs must be at least 1")
	case c.Interval < 10*time.Second:
		return fmt.Errorf("-interval must be at least 10s, the API's minimum")
	case c.Scrape <= 0 || c.IdleIntervals < 1 || c.Concurrency < 1 || c.Loaders < 1 || c.QPS <= 0 || c.Burst < 1:
		return fmt.Errorf("-scrape, -idle-intervals, -concurrency, -loaders, -qps and -burst must be positive")
	}
	return nil
}
