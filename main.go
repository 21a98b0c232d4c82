// Command manager runs the success-operator: the CustomerAccount and
// SuccessPlan controllers.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/watch"
)

func main() {
	var (
		metricsAddr, probeAddr string
		pprofAddr              string
		metricsCertPath        string
		metricsCertName        string
		metricsCertKey         string
		metricsSecure          bool
		leaderElect            bool
		leaderElectionID       string
		leaderElectionNS       string
		watchNamespaces        string
		watchSelector          string
		qps                    float64
		burst                  int
		opts                   controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.BoolVar(&metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS to callers the API server authenticates (TokenReview) and authorizes "+
			"(SubjectAccessReview: get on the non-resource URL /metrics). "+
			"Set to false only for local runs: it serves plain HTTP without authentication.")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"Directory that holds the metrics server's certificate and key; empty uses a generated self-signed certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "File name of the metrics server's certificate in --metrics-cert-path.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "File name of the metrics server's key in --metrics-cert-path.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address the Go profiler (/debug/pprof) binds to; empty disables it.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles.")
	flag.Float64Var(&qps, "kube-api-qps", 50, "Queries per second the manager may send to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 100, "Burst of queries the manager may send to the API server.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces the manager watches (and caches); empty watches all.")
	flag.StringVar(&watchSelector, "watch-label-selector", "",
		"Label selector of the CustomerAccounts and SuccessPlans this manager serves (a shard); empty serves all.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "success-operator.customersuccess.dev",
		"Name of the leader election lease; give each shard its own.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election lease; empty is the manager's own namespace, "+
			"which only a manager running in a cluster has: set it to run --leader-elect elsewhere.")
	flag.IntVar(&opts.AccountConcurrency, "account-concurrency", 4, "CustomerAccounts reconciled in parallel.")
	flag.IntVar(&opts.PlanConcurrency, "plan-concurrency", 2, "SuccessPlans reconciled in parallel.")
	flag.IntVar(&opts.DeliveryConcurrency, "delivery-concurrency", controllers.DefaultDeliveryConcurrency,
		"Webhook deliveries in flight at once, apart from the reconciles.")
	flag.IntVar(&opts.DeliveryPerHost, "delivery-per-host", controllers.DefaultDeliveryPerHost,
		"Webhook deliveries in flight at once to one host (host and port of the webhook URL).")
	flag.BoolVar(&opts.AccountMetrics, "account-metrics", true,
		"Expose one health series per account; turn off for very large fleets.")
	flag.BoolVar(&opts.Guard.AllowLinkLocal, "allow-link-local-sources", false,
		"Let sources and webhooks reach link-local and cloud metadata addresses "+
			"(169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200, 192.0.0.192, 168.63.129.16, "+
			"also IPv4-mapped or behind NAT64 64:ff9b::/96; refused by default).")
	flag.DurationVar(&opts.Guard.Timeout, "source-timeout", outbound.DefaultTimeout, "Timeout of one request to a source.")
	flag.Int64Var(&opts.Guard.MaxBody, "source-max-body", outbound.DefaultMaxBody,
		"Largest response body accepted from an http source, in bytes (Prometheus answers are bounded by --source-max-series).")
	flag.IntVar(&opts.Guard.MaxSeries, "source-max-series", outbound.DefaultMaxSeries,
		"Most series a Prometheus answer may hold; it is read as a stream, keeping only the plan's accounts.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	metrics, err := metricsOptions(metricsAddr, metricsSecure, metricsCertPath, metricsCertName, metricsCertKey)
	if err != nil {
		log.Error(err, "Invalid metrics flags")
		os.Exit(1)
	}
	scope, err := watch.Parse(watchNamespaces, watchSelector)
	if err != nil {
		log.Error(err, "Invalid watch flags")
		os.Exit(1)
	}
	// The manager's watch streams arrive without managedFields (see
	// watch.LeanStreams).
	cfg := watch.LeanStreams(ctrl.GetConfigOrDie())
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme(),
		Metrics:                       metrics,
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       leaderElectionNS,
		Cache:                         scope.Cache(),
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

// metricsOptions configures the metrics server. Secure serving needs the
// manager's ServiceAccount to create TokenReviews and SubjectAccessReviews
// (config/rbac/metrics_auth_role.yaml), and the scraper a role with get on
// /metrics (config/rbac/metrics_reader_role.yaml).
func metricsOptions(addr string, secure bool, certPath, certName, keyName string) (metricsserver.Options, error) {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure}
	if !secure {
		return opts, nil
	}
	opts.FilterProvider = metricsAuth
	if certPath != "" {
		// controller-runtime falls back to a self-signed certificate when the
		// files are missing; a path that was given but is wrong is an error.
		for _, name := range []string{certName, keyName} {
			if _, err := os.Stat(filepath.Join(certPath, name)); err != nil {
				return opts, fmt.Errorf("--metrics-cert-path: %w", err)
			}
		}
		// The server watches the files and picks up a renewed certificate.
		opts.CertDir, opts.CertName, opts.KeyName = certPath, certName, keyName
	}
	return opts, nil
}

// metricsAuth is controller-runtime's metrics filter
// (filters.WithAuthenticationAndAuthorization: a TokenReview, then a
// SubjectAccessReview), with the answer to a bearer token that does not
// authenticate corrected. That filter takes the authenticator's "invalid
// bearer token" for a failure of its own: it answers 500 and logs an error
// with a stack trace. As the API server does, metricsAuth answers 401 and
// logs the reason at V(4) only, so that a scraper with a stale token
// neither floods the log nor looks like a broken manager. A token that
// authenticates without the right to get /metrics still gets 403, and a
// SubjectAccessReview that fails still 500 with an error log.
func metricsAuth(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	filter, err := filters.WithAuthenticationAndAuthorization(cfg, hc)
	if err != nil {
		return nil, err
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		log = quietAuthLog(log)
		// The filter calls passed with the writer it was given, an
		// *authAnswer, once the caller may read the metrics.
		passed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a, ok := w.(*authAnswer); ok {
				a.passed = true
				w = a.ResponseWriter
			}
			next.ServeHTTP(w, r)
		})
		inner, err := filter(log, passed)
		if err != nil {
			return nil, err
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := &authAnswer{ResponseWriter: w}
			inner.ServeHTTP(a, r)
			a.finish()
		}), nil
	}, nil
}

// authFailed is the message with which controller-runtime's filter logs an
// authentication error and answers 500.
const authFailed = "Authentication failed"

// authAnswer holds back the filter's own answer (a refusal) until the
// filter returns, to correct its status; the metrics handler writes
// straight to the client.
type authAnswer struct {
	http.ResponseWriter
	passed bool
	status int
	body   bytes.Buffer
}

func (a *authAnswer) WriteHeader(status int) {
	if a.passed {
		a.ResponseWriter.WriteHeader(status)
		return
	}
	if a.status == 0 {
		a.status = status
	}
}

func (a *authAnswer) Write(b []byte) (int, error) {
	if a.passed {
		return a.ResponseWriter.Write(b)
	}
	return a.body.Write(b)
}

// Unwrap lets http.ResponseController reach the client's writer.
func (a *authAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// finish sends the refusal held back, a failed authentication as 401.
func (a *authAnswer) finish() {
	if a.passed || (a.status == 0 && a.body.Len() == 0) {
		return
	}
	if a.status == http.StatusInternalServerError && strings.HasPrefix(a.body.String(), authFailed) {
		http.Error(a.ResponseWriter, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if a.status != 0 {
		a.ResponseWriter.WriteHeader(a.status)
	}
	_, _ = a.ResponseWriter.Write(a.body.Bytes())
}

// quietAuthLog returns log with the metrics filter's authentication errors
// (a token that does not authenticate) logged as information at V(4),
// without a stack trace; every other message passes unchanged.
func quietAuthLog(log logr.Logger) logr.Logger {
	sink := log.GetSink()
	if sink == nil {
		return log
	}
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1) // the frame of authLogSink
	}
	return logr.New(authLogSink{sink})
}

// authLogSink is the sink of quietAuthLog.
type authLogSink struct{ logr.LogSink }

// Init does nothing: the sink it wraps was initialised by its own logger.
func (s authLogSink) Init(logr.RuntimeInfo) {}

func (s authLogSink) Error(err error, msg string, keysAndValues ...any) {
	if msg != authFailed {
		s.LogSink.Error(err, msg, keysAndValues...)
		return
	}
	if s.Enabled(4) {
		s.Info(4, msg, append(keysAndValues, "reason", err.Error())...)
	}
}

func (s authLogSink) WithValues(keysAndValues ...any) logr.LogSink {
	return authLogSink{s.LogSink.WithValues(keysAndValues...)}
}

func (s authLogSink) WithName(name string) logr.LogSink {
	return authLogSink{s.LogSink.WithName(name)}
}

// scheme returns the built-in kinds and this API.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(csv1alpha1.AddToScheme(s))
	return s
}
