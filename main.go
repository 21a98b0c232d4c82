// Command manager runs the success-operator: the CustomerAccount and
// SuccessPlan controllers.
package main

import (
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/sources"
)

func main() {
	var (
		metricsAddr, probeAddr string
		leaderElect            bool
		qps                    float64
		burst                  int
		opts                   controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles.")
	flag.Float64Var(&qps, "kube-api-qps", 50, "Queries per second the manager may send to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 100, "Burst of queries the manager may send to the API server.")
	flag.IntVar(&opts.AccountConcurrency, "account-concurrency", 4, "CustomerAccounts reconciled in parallel.")
	flag.IntVar(&opts.PlanConcurrency, "plan-concurrency", 2, "SuccessPlans reconciled in parallel.")
	flag.BoolVar(&opts.AccountMetrics, "account-metrics", true,
		"Expose one health series per account; turn off for very large fleets.")
	flag.BoolVar(&opts.Guard.AllowLinkLocal, "allow-link-local-sources", false,
		"Let sources and webhooks reach link-local and cloud metadata addresses (refused by default).")
	flag.DurationVar(&opts.Guard.Timeout, "source-timeout", sources.DefaultTimeout, "Timeout of one request to a source.")
	flag.Int64Var(&opts.Guard.MaxBody, "source-max-body", sources.DefaultMaxBody, "Largest response body accepted from a source, in bytes.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "success-operator.customersuccess.dev",
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		log.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}

// scheme returns the built-in kinds and this API.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(csv1alpha1.AddToScheme(s))
	return s
}
