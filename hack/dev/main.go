// Command dev runs success-operator on a local control plane: it starts
// etcd and kube-apiserver from bin/k8s, installs the CRDs, applies the
// samples with kubectl, writes a kubeconfig and runs the manager until
// interrupted.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run() error {
	ctrl.SetLogger(zap.New(zap.Level(zapcore.InfoLevel)))
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(root, "bin", "dev.kubeconfig")
	env, cfg, err := testenv.StartLocal(root, kubeconfig)
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "dev: stopping the control plane:", err)
		}
	}()
	kubectl := filepath.Join(root, "bin", "k8s", "kubectl")
	apply := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "-k", filepath.Join(root, "config", "samples"))
	apply.Stdout, apply.Stderr = os.Stdout, os.Stderr
	if err := apply.Run(); err != nil {
		return fmt.Errorf("applying the samples: %w", err)
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme(),
		// A local run: plain HTTP on loopback without authentication, the
		// equivalent of the manager's --metrics-secure=false.
		Metrics: metricsserver.Options{BindAddress: "127.0.0.1:8080", SecureServing: false},
	})
	if err != nil {
		return err
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{AccountConcurrency: 4, PlanConcurrency: 2}); err != nil {
		return err
	}
	fmt.Printf(`
success-operator is running on a local control plane. In another shell:

  export KUBECONFIG=%s
  export PATH=%s:$PATH
  kubectl get customeraccounts -n customers
  kubectl get successplans -n customers
  kubectl describe customeraccount acme -n customers

Metrics: http://127.0.0.1:8080/metrics. Press Ctrl-C to stop everything.

`, kubeconfig, filepath.Dir(kubectl))
	ctx := ctrl.SetupSignalHandler()
	return mgr.Start(ctx)
}
