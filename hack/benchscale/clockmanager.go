package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/testenv"
	"customersuccess.dev/success-operator/internal/watch"
)

// clockEnv names the environment variable that turns the benchmark's
// binary (or its test binary) into the manager with a shifted clock; its
// value is the shift, a time.Duration.
const clockEnv = "BENCHSCALE_CLOCK_OFFSET"

// offsetClock is the real clock shifted by offset: it reads another
// moment of the calendar and runs at the real pace, so that a manager
// can meet a midnight UTC without waiting for it. Timers and tickers are
// the real clock's: they measure durations, which the shift does not
// change, and so are the work queues' requeue delays.
type offsetClock struct {
	clock.RealClock
	offset time.Duration
}

func (c offsetClock) Now() time.Time                  { return time.Now().Add(c.offset) }
func (c offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// clockManagerMain runs the operator as main.go runs it (the same
// controllers.SetupWithManager, lean watch streams and cache, client
// settings and metrics), with its clock shifted by offset. It reads the
// flags the benchmark gives the manager (see managerArgs), not
// -manager-arg's.
func clockManagerMain(offset string, args []string) int {
	if err := clockManager(offset, args); err != nil {
		fmt.Fprintln(os.Stderr, "clock manager:", err)
		return 1
	}
	return 0
}

func clockManager(offset string, args []string) error {
	shift, err := time.ParseDuration(offset)
	if err != nil {
		return fmt.Errorf("%s: %w", clockEnv, err)
	}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var (
		metricsAddr, probeAddr, pprofAddr string
		qps                               float64
		burst                             int
		opts                              controllers.Options
	)
	fs.Bool("leader-elect", false, "Ignored: no leader election.")
	fs.Bool("metrics-secure", false, "Ignored: metrics over plain HTTP.")
	fs.StringVar(&metricsAddr, "metrics-bind-address", "0", "")
	fs.StringVar(&probeAddr, "health-probe-bind-address", "0", "")
	fs.StringVar(&pprofAddr, "pprof-bind-address", "", "")
	fs.Float64Var(&qps, "kube-api-qps", 50, "")
	fs.IntVar(&burst, "kube-api-burst", 100, "")
	fs.IntVar(&opts.AccountConcurrency, "account-concurrency", 4, "")
	fs.BoolVar(&opts.AccountMetrics, "account-metrics", true, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zap.Options{})))
	opts.PlanConcurrency = 2
	opts.DeliveryConcurrency, opts.DeliveryPerHost = controllers.DefaultDeliveryConcurrency, controllers.DefaultDeliveryPerHost
	opts.Guard = outbound.Options{Timeout: outbound.DefaultTimeout, MaxBody: outbound.DefaultMaxBody, MaxSeries: outbound.DefaultMaxSeries}
	opts.Clock = offsetClock{offset: shift}

	scope, err := watch.Parse("", "")
	if err != nil {
		return err
	}
	cfg := watch.LeanStreams(ctrl.GetConfigOrDie())
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		Cache:                  scope.Cache(),
	})
	if err != nil {
		return err
	}
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
