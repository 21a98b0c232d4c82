// Command demo runs a small customer base managed by success-operator on a
// local control plane: a telemetry simulator scraped by a real Prometheus,
// a support desk's export, a warehouse in a real PostgreSQL, a webhook
// sink, four plans and 23 accounts. It prints how to
// reach it, then refreshes `kubectl get` of accounts and plans until
// interrupted, and stops everything it started.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/demo"
	"customersuccess.dev/success-operator/internal/testenv"
)

func main() {
	var o options
	flag.DurationVar(&o.refresh, "refresh", 5*time.Second, "How often to print the accounts and plans; 0 prints nothing.")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "Address of the operator's metrics (plain HTTP); 0 disables them.")
	flag.StringVar(&o.kubeconfig, "kubeconfig-out", filepath.Join("bin", "demo.kubeconfig"), "Where to write the control plane's kubeconfig.")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	refresh     time.Duration
	metricsAddr string
	kubeconfig  string
}

func run(o options) error {
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	ctx := interruptContext()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	step("Starting the control plane (etcd, kube-apiserver) and installing the CRDs")
	kubeconfig, err := filepath.Abs(o.kubeconfig)
	if err != nil {
		return err
	}
	env, cfg, err := testenv.StartLocal(root, kubeconfig)
	if err != nil {
		return err
	}
	defer stop("control plane", env.Stop)

	step("Starting the simulator (telemetry, support desk), Prometheus and the warehouse (PostgreSQL)")
	tele, err := demo.LoadTelemetry(filepath.Join(root, "config", "demo", "telemetry.yaml"))
	if err != nil {
		return err
	}
	sim := demo.NewSimulator(tele, time.Now)
	simAddr, stopSim, err := testenv.Serve(sim.Handler())
	if err != nil {
		return err
	}
	defer stopSim()
	prom, err := testenv.StartPrometheus(root, []string{simAddr}, 2*time.Second)
	if err != nil {
		return err
	}
	defer stop("prometheus", prom.Stop)
	warehouse, err := demo.StartWarehouse(ctx, sim, func(err error) { fmt.Fprintln(os.Stderr, "demo: syncing the warehouse:", err) })
	if err != nil {
		return err
	}
	defer stop("warehouse", warehouse.Stop)

	sink := demo.NewSink([]byte("demo-signing-key"), demo.Print(os.Stdout))
	sinkAddr, stopSink, err := testenv.Serve(sink)
	if err != nil {
		return err
	}
	defer stopSink()

	step("Applying the demo's plans and accounts with kubectl")
	manifests, err := demo.Render(filepath.Join(root, "config", "demo"),
		demo.Values{PrometheusURL: prom.URL, WebhookURL: "http://" + sinkAddr + "/hooks",
			SupportDeskURL: "http://" + simAddr + demo.SupportDeskPath,
			WarehouseDSN:   warehouse.DSN, WarehousePassword: warehouse.Password, Now: time.Now()})
	if err != nil {
		return err
	}
	kubectl := filepath.Join(testenv.BinDir(root), "kubectl")
	apply := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "apply", "-f", "-")
	apply.Stdin, apply.Stdout, apply.Stderr = bytes.NewReader(manifests), os.Stdout, os.Stderr
	if err := apply.Run(); err != nil {
		return fmt.Errorf("applying the demo manifests: %w", err)
	}

	step("Starting the manager")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme(),
		// A local run: plain HTTP on loopback without authentication, the
		// equivalent of the manager's --metrics-secure=false.
		Metrics: metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: false},
	})
	if err != nil {
		return err
	}
	// The demo's plans send webhooks to the sink on loopback.
	if err := controllers.SetupWithManager(mgr, controllers.Options{AccountConcurrency: 4, PlanConcurrency: 2, AccountMetrics: true}); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	fmt.Printf(`
The demo is running. In another shell:

  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl get customeraccounts -n customers -o wide
  kubectl get successplans -n customers
  kubectl describe customeraccount -n customers
  kubectl get events -n customers --sort-by=.lastTimestamp
  kubectl get successplan smb -n customers -o jsonpath='{.status.kpis}'

Prometheus: %s   Operator metrics: %s
Support desk export: http://%s%s
Warehouse: PGPASSWORD=%s psql '%s' -c 'TABLE tickets'
Press Ctrl-C to stop everything.

`, kubeconfig, filepath.Dir(kubectl), prom.URL, metricsURL(o.metricsAddr), simAddr, demo.SupportDeskPath, warehouse.Password, warehouse.DSN)

	if o.refresh > 0 {
		go watch(ctx, kubectl, kubeconfig, o.refresh)
	}
	err = <-done
	fmt.Println("\nStopping")
	return err
}

// interruptContext returns a context that the first SIGINT or SIGTERM
// cancels; later ones are only acknowledged, so that the deferred stops
// always run before the demo exits. ctrl.SetupSignalHandler exits at once
// on a second signal, and stopping takes long enough for an impatient
// second Ctrl-C: envtest runs etcd and kube-apiserver each in a process
// group of its own, which the terminal's Ctrl-C does not reach, so a demo
// that exits early leaves them running, etcd with its data directory.
func interruptContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		for range signals {
			fmt.Fprintln(os.Stderr, "demo: still stopping the processes it started; it exits when they are gone")
		}
	}()
	return ctx
}

// metricsURL is where the operator's metrics are served on addr.
func metricsURL(addr string) string {
	if addr == "0" || addr == "" {
		return "off"
	}
	return "http://" + addr + "/metrics"
}

// watch prints the accounts and plans every interval.
func watch(ctx context.Context, kubectl, kubeconfig string, every time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		var out bytes.Buffer
		for _, kind := range []string{"customeraccounts", "successplans"} {
			cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "get", kind, "-n", "customers")
			cmd.Stdout, cmd.Stderr = &out, &out
			_ = cmd.Run()
			out.WriteString("\n")
		}
		if ctx.Err() != nil {
			return
		}
		fmt.Printf("--- %s ---\n%s", time.Now().Format(time.TimeOnly), strings.TrimRight(out.String(), "\n")+"\n\n")
	}, every)
}

func step(msg string) { fmt.Println("==> " + msg) }

func stop(what string, f func() error) {
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: stopping the %s: %v\n", what, err)
	}
}
