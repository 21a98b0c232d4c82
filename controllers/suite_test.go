package controllers

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/testenv"
)

// metricsAddr is where the suite's manager serves its metrics.
var metricsAddr string

// freeAddress returns a loopback address with a free port.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// isolatedLabel marks accounts the suite's manager does not see.
const isolatedLabel = "test.customersuccess.dev/isolated"

// The suite runs one real control plane and one manager for the package.
var (
	cfg       *rest.Config
	k8sClient client.Client
	counter   = &writeCounter{}
	clk       = testingclock.NewFakeClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err := testenv.New(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	k8sClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Accounts labelled isolated are left to tests that drive a reconciler
	// by hand.
	notIsolated, err := labels.Parse("!" + isolatedLabel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	metricsAddr, err = freeAddress()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  testenv.Scheme(),
		Metrics: metricsserver.Options{BindAddress: metricsAddr},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&csv1alpha1.CustomerAccount{}: {Label: notIsolated},
		}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := SetupWithManager(mgr, Options{
		AccountConcurrency: 2, PlanConcurrency: 2, Clock: clk, AccountMetrics: true,
		Guard:   outbound.Options{Timeout: time.Second, MaxBody: 1 << 20},
		Backoff: func(n int32) time.Duration { return time.Duration(n) * 100 * time.Millisecond },
		Client:  &countingClient{Client: mgr.GetClient(), counter: counter},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	if promServer != nil {
		if err := promServer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "prometheus:", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

// zapLevel keeps test output quiet unless TEST_LOG=1.
func zapLevel() zapcore.Level {
	if os.Getenv("TEST_LOG") == "1" {
		return zapcore.Level(-2)
	}
	return zapcore.Level(2)
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test-" + rand.String(8)}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// writeCounter counts the reconcilers' API calls, by verb and kind.
type writeCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *writeCounter) add(verb string, obj client.Object, ns string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[fmt.Sprintf("%s %T %s", verb, obj, ns)]++
}

// get returns how many calls of verb on objects of obj's type in namespace
// ns were made.
func (c *writeCounter) get(verb string, obj client.Object, ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[fmt.Sprintf("%s %T %s", verb, obj, ns)]
}

// countingClient is the manager's real client, counting what reconcilers
// read and write.
type countingClient struct {
	client.Client
	counter *writeCounter
}

func (c *countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.counter.add("get", obj, key.Namespace)
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), counter: c.counter}
}

type countingStatus struct {
	client.SubResourceWriter
	counter *writeCounter
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.counter.add("status", obj, obj.GetNamespace())
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.counter.add("status", obj, obj.GetNamespace())
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}
