package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"customersuccess.dev/success-operator/internal/watch"
)

// RunTests is the TestMain of a package tested against a real API server:
// it starts the local control plane, hands its config and a client to
// started, runs the package's tests and stops the control plane. It
// returns the exit code; a control plane that does not start fails the
// package.
func RunTests(m *testing.M, started func(cfg *rest.Config, c client.Client)) int {
	root, err := RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err := New(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	started(cfg, c)
	return m.Run()
}

// Namespace creates a namespace of its own for one test, named prefix
// followed by random letters.
func Namespace(t testing.TB, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + rand.String(8)}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// NewManager returns a manager for one test: its cache sees only
// namespace ns, it serves no metrics, and its controllers may share names
// with those of other tests' managers.
func NewManager(t testing.TB, cfg *rest.Config, ns string) ctrl.Manager {
	t.Helper()
	return NewScopedManager(t, cfg, watch.Scope{Namespaces: []string{ns}})
}

// NewScopedManager is NewManager watching scope, as the manager's
// --watch-namespaces and --watch-label-selector set it; like the manager,
// it receives watch streams without managedFields (watch.LeanStreams).
func NewScopedManager(t testing.TB, cfg *rest.Config, scope watch.Scope) ctrl.Manager {
	t.Helper()
	mgr, err := ctrl.NewManager(watch.LeanStreams(cfg), ctrl.Options{
		Scheme:     Scheme(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Cache:      scope.Cache(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

// StartManager runs mgr until the test ends, or until the stop it returns
// is called, and fails the test when it stops with an error.
func StartManager(t testing.TB, mgr ctrl.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
