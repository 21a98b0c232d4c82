package controllers

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/testenv"
	"customersuccess.dev/success-operator/internal/watch"
)

// The package shares one real control plane; every test that needs the
// operator starts its own (see startOperator).
var (
	cfg       *rest.Config
	k8sClient client.Client
)

// epoch is where every test's fake clock starts.
var epoch = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// stderr gets what TEST_LOG asks for; the capture gets every line at
	// the most verbose level, encoded as the manager's logger encodes it
	// (objects as references), for tests that check what reaches the logs.
	capture := zapcore.NewCore(&zap.KubeAwareEncoder{Encoder: zapcore.NewJSONEncoder(uzap.NewProductionEncoderConfig())},
		zapcore.AddSync(capturedLogs), zapcore.Level(-127))
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel()),
		zap.RawZapOpts(uzap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, capture) }))))
	code := testenv.RunTests(m, func(c *rest.Config, kc client.Client) { cfg, k8sClient = c, kc })
	if promServer != nil {
		if err := promServer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "prometheus:", err)
		}
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

// capturedLogs holds every log line of the test run, at every verbosity.
var capturedLogs = &testenv.SyncBuffer{}

// logLines returns every log line written so far in the test run, by any
// operator, at any verbosity (debug included).
func logLines() []string {
	return strings.Split(strings.TrimSuffix(capturedLogs.String(), "\n"), "\n")
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string { return testenv.Namespace(t, k8sClient, "test-") }

// freeAddress returns a loopback address with a free port.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// operator is one test's operator: a manager that sees only the test's
// namespace, with its own fake clock, its own count of API calls and its
// own metrics registry. It stops when the test ends, or at stop.
type operator struct {
	ns       string
	clock    *testingclock.FakeClock
	calls    *callCounter
	registry *prometheus.Registry
	// shared is what the reconcilers and collectors share.
	shared *shared
	// stop stops the manager and waits until it has.
	stop func()
}

// startOperator creates a namespace and runs the operator on it.
func startOperator(t *testing.T) *operator {
	t.Helper()
	return runOperator(t, newNamespace(t))
}

// runOperator runs the operator on namespace ns, as main wires it, with a
// short webhook backoff; tune changes the options first.
func runOperator(t *testing.T, ns string, tune ...func(*Options)) *operator {
	t.Helper()
	return runScoped(t, ns, nil, tune...)
}

// runScoped is runOperator serving only the accounts and plans that
// selector matches (nil: all), as --watch-label-selector sets it.
func runScoped(t *testing.T, ns string, selector labels.Selector, tune ...func(*Options)) *operator {
	t.Helper()
	op := &operator{
		ns:       ns,
		clock:    testingclock.NewFakeClock(epoch),
		calls:    &callCounter{},
		registry: prometheus.NewRegistry(),
	}
	mgr := testenv.NewScopedManager(t, cfg, watch.Scope{Namespaces: []string{ns}, Selector: selector})
	opts := Options{
		AccountConcurrency: 2, PlanConcurrency: 2, Clock: op.clock, AccountMetrics: true, Registry: op.registry,
		Guard:   outbound.Options{Timeout: time.Second, MaxBody: 1 << 20},
		Backoff: func(n int32) time.Duration { return time.Duration(n) * 100 * time.Millisecond },
		Client:  &countingClient{Client: mgr.GetClient(), calls: op.calls},
	}
	for _, f := range tune {
		f(&opts)
	}
	var err error
	if op.shared, err = setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	op.stop = testenv.StartManager(t, mgr)
	return op
}

// scrape reads the operator's metrics as the metrics endpoint serves them.
func (op *operator) scrape() string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(op.registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// stepCollection steps the clock by one plan interval once the collectors
// wait on it (their last collection is over), then waits until cond holds.
// It steps exactly once: a test makes sure, before, that the collection
// will see what cond waits for.
func (op *operator) stepCollection(g Gomega, interval time.Duration, cond func() bool) {
	op.stepCollectionWithin(g, interval, timeout, cond)
}

// fleetTimeout bounds what a fleet of a thousand accounts takes on a busy
// two-core machine: a reconcile and a status write each.
const fleetTimeout = 3 * time.Minute

// stepCollectionWithin is stepCollection waiting up to within for cond.
func (op *operator) stepCollectionWithin(g Gomega, interval, within time.Duration, cond func() bool) {
	op.awaitCollectors(g)
	op.clock.Step(interval)
	g.Eventually(cond, within, poll).Should(BeTrue())
}

// collectUntil steps the clock by one plan interval whenever the
// collectors wait on it, until cond holds: for a fleet that the first
// collection may not see whole (accounts a collection missed are pulled
// at the next).
func (op *operator) collectUntil(g Gomega, interval time.Duration, cond func() bool) {
	g.Eventually(func() bool {
		if cond() {
			return true
		}
		if op.clock.HasWaiters() {
			op.clock.Step(interval)
		}
		return false
	}, fleetTimeout, 250*time.Millisecond).Should(BeTrue())
}

// pulls reads how many pulls of the plan's source the operator made.
func (op *operator) pulls(g Gomega, source string) int64 {
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^successoperator_source_pull_duration_seconds_count\{[^}]*namespace=%q[^}]*source=%q[^}]*\} (\d+)$`, op.ns, source))
	m := re.FindStringSubmatch(op.scrape())
	g.Expect(m).NotTo(BeNil(), "no pull of source %s", source)
	v, err := strconv.ParseInt(m[1], 10, 64)
	g.Expect(err).NotTo(HaveOccurred())
	return v
}

// awaitCollectors waits until a collector waits on the clock: the
// collection it ran is over, its changes handed to the accounts' queue.
func (op *operator) awaitCollectors(g Gomega) {
	g.Eventually(op.clock.HasWaiters, timeout, poll).Should(BeTrue(), "no collector waits on the clock")
}

// settle waits until every reconcile of the accounts caused by what
// happened before it has completed. It changes a label of each account,
// which the reconciler handles and which changes nothing it computes, and
// waits until that reconcile has read the account, twice: reconciles of
// one object never overlap, so the reconciles before the first change are
// over once the second has begun.
func (op *operator) settle(t *testing.T, g Gomega, names ...string) {
	t.Helper()
	for range 2 {
		for _, name := range names {
			key := client.ObjectKey{Namespace: op.ns, Name: name}
			reads := op.calls.get("get", &csv1alpha1.CustomerAccount{}, key)
			update(t, &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: op.ns, Name: name}},
				func(a *csv1alpha1.CustomerAccount) {
					n, _ := strconv.Atoi(a.Labels[settleLabel])
					a.Labels[settleLabel] = strconv.Itoa(n + 1)
				})
			g.Eventually(func() int { return op.calls.get("get", &csv1alpha1.CustomerAccount{}, key) }, timeout, poll).
				Should(BeNumerically(">", reads))
		}
	}
}

// settleLabel is the label settle changes.
const settleLabel = "test.customersuccess.dev/settle"

// accountWrites counts the operator's status writes of the namespace's
// accounts.
func (op *operator) accountWrites() int {
	return op.calls.get("status", &csv1alpha1.CustomerAccount{}, client.ObjectKey{Namespace: op.ns})
}

// planWrites counts the operator's status writes of the namespace's plans.
func (op *operator) planWrites() int {
	return op.calls.get("status", &csv1alpha1.SuccessPlan{}, client.ObjectKey{Namespace: op.ns})
}

// callCounter counts the operator's API calls by verb, kind and object; a
// call also counts for the object's namespace (an empty name). It fails
// List calls on request.
type callCounter struct {
	mu        sync.Mutex
	calls     map[string]int
	failLists map[reflect.Type]int
}

func callKey(verb string, obj any, key client.ObjectKey) string {
	return fmt.Sprintf("%s %s %s", verb, kindOf(obj), key)
}

// kindOf names the kind of a typed object or list, or of the metadata of
// an object (a status write reads back only that).
func kindOf(obj any) string {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return m.Kind
	}
	return reflect.TypeOf(obj).Elem().Name()
}

func (c *callCounter) add(verb string, obj any, key client.ObjectKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[callKey(verb, obj, key)]++
	if key.Name != "" {
		c.calls[callKey(verb, obj, client.ObjectKey{Namespace: key.Namespace})]++
	}
}

// get returns how many calls of verb on objects of obj's type were made
// for key: one object, or a whole namespace when key has no name.
func (c *callCounter) get(verb string, obj any, key client.ObjectKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[callKey(verb, obj, key)]
}

// failNextLists makes the next n List calls of list's type fail with a
// transient error, as an API server that is briefly unavailable.
func (c *callCounter) failNextLists(list client.ObjectList, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failLists == nil {
		c.failLists = map[reflect.Type]int{}
	}
	c.failLists[reflect.TypeOf(list)] = n
}

// listFails consumes one injected failure of list's type.
func (c *callCounter) listFails(list client.ObjectList) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failLists[reflect.TypeOf(list)] == 0 {
		return false
	}
	c.failLists[reflect.TypeOf(list)]--
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[callKey("failed list", list, client.ObjectKey{})]++
	return true
}

// countingClient is a client, counting what reconcilers read and write.
type countingClient struct {
	client.Client
	calls *callCounter
}

func (c *countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.calls.add("get", obj, key)
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *countingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if c.calls.listFails(list) {
		return apierrors.NewServiceUnavailable("injected List failure")
	}
	return c.Client.List(ctx, list, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), calls: c.calls}
}

type countingStatus struct {
	client.SubResourceWriter
	calls *callCounter
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.calls.add("status", obj, client.ObjectKeyFromObject(obj))
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.calls.add("status", obj, client.ObjectKeyFromObject(obj))
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}
