package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// namespace holds the benchmark's plan and accounts.
const namespace = "bench"

// config is one benchmark: the fleet sizes and how each is run.
type config struct {
	// Sizes are the fleet sizes, each on a fresh control plane.
	Sizes []int
	// ManagerArgs are extra flags of the manager (a profiler address).
	ManagerArgs []string
	// Runs is how many cold starts of the operator and of the bare loop
	// each size gets, alternated; the figures are their medians.
	Runs int
	// Interval is the plan's interval, Scrape Prometheus's.
	Interval, Scrape time.Duration
	// IdleIntervals is the length of the idle window, in plan intervals.
	IdleIntervals int
	// QPS, Burst and Concurrency are the client settings of the manager
	// (--kube-api-qps, --kube-api-burst, --account-concurrency) and of the
	// bare loop.
	QPS         float64
	Burst       int
	Concurrency int
	// Loaders is how many requests create and reset the accounts at once.
	Loaders int
	// Quiet is how long no status write must be seen before the fleet
	// counts as settled.
	Quiet time.Duration
	// Timeout bounds each cold start; 0 scales it with the fleet.
	Timeout time.Duration
	// Log receives the progress.
	Log io.Writer
}

// coldStartTimeout is the bound of one cold start of n accounts.
func (c config) coldStartTimeout(n int) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 2*time.Minute + time.Duration(n)*20*time.Millisecond
}

// result is what one fleet size measured.
type result struct {
	N int
	// OperatorStart and BareStart are the cold starts, one per run;
	// OperatorCPU and BareCPU the processes' CPU time over them.
	OperatorStart, BareStart []time.Duration
	OperatorCPU, BareCPU     []time.Duration
	// OperatorWrites are the account status writes of each operator cold
	// start; the bare loop writes each account once.
	OperatorWrites []int64
	// Evaluated is how many accounts carried the plan generation's health
	// at the end of the first cold start.
	Evaluated int
	// IdleCPUPer5m is the manager's CPU over the idle window, scaled to 5
	// minutes.
	IdleCPUPer5m time.Duration
	// LiveHeap is the manager's live heap in bytes after a garbage
	// collection at the end of the idle window.
	LiveHeap float64
	// EmptyHeap is the same over the plan without accounts.
	EmptyHeap float64
	// JSONBytes is an account's average size as read back, with status.
	JSONBytes float64
	// ColdStartEvents were created from the manager's start until the
	// fleet settled.
	ColdStartEvents events
	// Idle are the status writes in the idle window of IdleIntervals
	// intervals; IdleQueries the queries Prometheus answered in it, and
	// IdleReconciles the account reconciles the manager ran.
	Idle           writes
	IdleQueries    int64
	IdleIntervals  int
	IdleReconciles int64
	// Restart are the status writes, RestartEvents the Events, that
	// followed a manager restart over the evaluated fleet.
	Restart       writes
	RestartEvents events
	// Latency is from a change of one account's exported value, right
	// after a collection, to its status showing it.
	Latency time.Duration
	// Midnight is the day change the first run's manager met (see
	// midnight).
	Midnight midnightPass
	// RealMidnight is set when a real midnight UTC fell in the idle
	// window or the restart: the accounts' day counts changed there.
	RealMidnight bool
	// Notes say where a phase ended on its bound instead of its condition.
	Notes []string
}

// run benchmarks every size of cfg and returns the results.
func run(ctx context.Context, cfg config) ([]*result, error) {
	ctrl.SetLogger(logr.Discard())
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "benchscale-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// The manager builds while the first control plane starts.
	manager := &managerBuild{path: filepath.Join(dir, "manager"), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	go manager.build(ctx, cfg.Log, root)
	defer func() { cancel(); <-manager.done }()
	var results []*result
	for _, n := range cfg.Sizes {
		b := &bench{cfg: cfg, root: root, dir: dir, manager: manager, self: self, n: n, res: &result{N: n}}
		if err := b.run(ctx); err != nil {
			return results, fmt.Errorf("fleet of %d accounts: %w", n, err)
		}
		results = append(results, b.res)
	}
	return results, nil
}

// bench is one fleet size: its control plane, Prometheus, exporter and
// accounts, and what it measured so far.
type bench struct {
	cfg             config
	root, dir, self string
	manager         *managerBuild
	n               int
	res             *result

	kubeconfig string
	cl         client.Client
	api        *rawAPI
	exp        *exporter
	prom       *testenv.Prometheus
	tracker    *tracker
	// bareConfig is the bare loop's config file, written after the first
	// cold start: the loop writes the status the operator wrote.
	bareConfig string
	// created is when the accounts were created (their dates count from
	// it); placed is the span of the first cold start, when the accounts
	// entered their first stage; restartTook is how long the restart
	// took to go idle.
	created     time.Time
	placed      [2]time.Time
	restartTook time.Duration
	// dirty is set once statuses were written: the next run resets them.
	dirty bool
	// heap follows the manager's live heap while the fleet settles and
	// idles; nil in other phases.
}

func (b *bench) log(format string, args ...any) {
	logf(b.cfg.Log, "N=%d: "+format, append([]any{b.n}, args...)...)
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
	}
}

// run sets the size up, alternates the operator's and the bare loop's
// cold starts, and tears everything down.
func (b *bench) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	env, err := b.setUp(ctx)
	if env != nil {
		defer func() {
			if b.prom != nil {
				_ = b.prom.Stop()
			}
			_ = env.Stop()
		}()
	}
	if err != nil {
		return err
	}
	for r := range b.cfg.Runs {
		if err := b.operatorRun(ctx, r); err != nil {
			return err
		}
		if err := b.bareRun(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// setUp starts the control plane, the exporter and Prometheus, creates
// the plan and the accounts, and starts the tracker.
func (b *bench) setUp(ctx context.Context) (*envtest.Environment, error) {
	b.log("Starting the control plane")
	b.kubeconfig = filepath.Join(b.dir, fmt.Sprintf("kubeconfig-%d", b.n))
	env, cfg, err := testenv.StartLocal(b.root, b.kubeconfig)
	if err != nil {
		return nil, err
	}
	// The benchmark's own requests are not rate limited: only the manager
	// and the bare loop are measured.
	cfg.QPS = -1
	if b.cl, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return env, err
	}
	if b.api, err = newRawAPI(cfg); err != nil {
		return env, err
	}

	b.log("Starting the exporter (%d series) and Prometheus (scrape every %s)", b.n, b.cfg.Scrape)
	b.exp = newExporter(b.n)
	addr, stopExporter, err := testenv.Serve(b.exp)
	if err != nil {
		return env, err
	}
	go func() { <-ctx.Done(); stopExporter() }()
	if b.prom, err = testenv.StartPrometheus(b.root, []string{addr}, b.cfg.Scrape); err != nil {
		return env, err
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(b.n)*time.Millisecond)
	defer cancel()
	if err := b.prom.WaitForSeries(wait, fmt.Sprintf("count(%s) >= %d", metricName, b.n), 1); err != nil {
		return env, err
	}

	if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return env, err
	}
	plan := benchPlan(namespace, b.prom.URL, b.cfg.Interval)
	if err := b.cl.Create(ctx, plan); err != nil {
		return env, fmt.Errorf("creating the plan: %w", err)
	}
	b.tracker = newTracker(b.api, namespace, plan.Generation)
	if err := b.tracker.start(ctx); err != nil {
		return env, err
	}
	if err := b.emptyFleet(ctx); err != nil {
		return env, err
	}
	b.log("Creating %d accounts (%d at a time)", b.n, b.cfg.Loaders)
	start, now := time.Now(), time.Now()
	b.created = now
	if err := b.parallel(ctx, func(ctx context.Context, i int) error {
		return b.cl.Create(ctx, benchAccount(namespace, i, now))
	}); err != nil {
		return env, fmt.Errorf("creating the accounts: %w", err)
	}
	b.log("Created %d accounts in %.1fs", b.n, time.Since(start).Seconds())
	return env, nil
}

// emptyFleet runs the manager over the plan alone, until the plan's status
// counts its zero accounts and a moment more, for the live heap that does
// not grow with the fleet.
func (b *bench) emptyFleet(ctx context.Context) error {
	b.log("Starting the manager over an empty fleet")
	m, err := b.startManager()
	if err != nil {
		return err
	}
	defer func() { _ = m.stop() }()
	if err := b.tracker.waitFor(ctx, "the plan's status", time.Minute, m.running, func(s snapshot) bool {
		return s.planReady(0)
	}); err != nil {
		return err
	}
	sleep(ctx, 2*time.Second)
	if b.res.EmptyHeap, err = liveHeap(ctx, m); err != nil {
		return err
	}
	if cpu, err := m.cpu(); err == nil {
		b.log("The manager over an empty fleet used %.2fs of CPU", cpu.Seconds())
	}
	return m.stop()
}

// parallel calls fn for every account index, Loaders at a time.
func (b *bench) parallel(ctx context.Context, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range max(b.cfg.Loaders, 1) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.n || ctx.Err() != nil {
					return ctx.Err()
				}
				if err := fn(ctx, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// reset removes the status of every account and of the plan, with the
// manager stopped, so that the next run is a cold start again.
func (b *bench) reset(ctx context.Context) error {
	if !b.dirty {
		return nil
	}
	b.log("Resetting %d statuses", b.n)
	empty := client.RawPatch(types.MergePatchType, []byte(`{"status":null}`))
	if err := b.parallel(ctx, func(ctx context.Context, i int) error {
		acct := &csv1alpha1.CustomerAccount{}
		acct.Namespace, acct.Name = namespace, accountName(i)
		return b.cl.Status().Patch(ctx, acct, empty)
	}); err != nil {
		return fmt.Errorf("resetting the accounts: %w", err)
	}
	plan := &csv1alpha1.SuccessPlan{}
	plan.Namespace, plan.Name = namespace, planName
	if err := b.cl.Status().Patch(ctx, plan, empty); err != nil {
		return fmt.Errorf("resetting the plan: %w", err)
	}
	b.dirty = false
	return b.tracker.waitFor(ctx, "reset", time.Minute+time.Duration(b.n)*time.Millisecond, nil, func(s snapshot) bool {
		return s.evaluated == 0 && s.plan.accounts == 0
	})
}

// operatorRun is one cold start of the manager. The first run goes on to
// the steady-state figures: Events, JSON size, the idle window, the live
// heap, a restart and the change-to-status latency.
func (b *bench) operatorRun(ctx context.Context, r int) error {
	if err := b.reset(ctx); err != nil {
		return err
	}
	events0, err := b.countEvents(ctx)
	if err != nil {
		return err
	}
	b.log("Run %d: starting the manager", r+1)
	before := b.tracker.snapshot()
	m, err := b.startManager()
	if err != nil {
		return err
	}
	defer func() { _ = m.stop() }()
	b.dirty = true
	took, cpu, err := b.coldStart(ctx, m, true)
	if err != nil {
		return err
	}
	if r == 0 {
		b.placed = [2]time.Time{m.started, time.Now()}
	}
	written := b.tracker.snapshot().since(before).accounts
	b.res.OperatorStart = append(b.res.OperatorStart, took)
	b.res.OperatorCPU = append(b.res.OperatorCPU, cpu)
	b.res.OperatorWrites = append(b.res.OperatorWrites, written)
	b.log("Run %d: operator cold start %.1fs, CPU %.1fs, %d account writes", r+1, took.Seconds(), cpu.Seconds(), written)
	if r > 0 {
		return m.stop()
	}
	b.res.Evaluated = b.tracker.snapshot().evaluated
	if err := b.writeBareConfig(ctx); err != nil {
		return err
	}
	quiet, lastQuery, err := b.settle(ctx)
	if err != nil {
		return err
	}
	if !quiet {
		b.note("the fleet was still writing status %s after the cold start", 2*b.cfg.Interval)
	}
	events1, err := b.countEvents(ctx)
	if err != nil {
		return err
	}
	b.res.ColdStartEvents = events1.since(events0)
	if err := b.measureJSON(ctx); err != nil {
		return err
	}
	if err := b.idle(ctx, m, lastQuery); err != nil {
		return err
	}
	if b.res.LiveHeap, err = liveHeap(ctx, m); err != nil {
		return err
	}
	restarted, err := b.restart(ctx, m)
	if restarted != nil {
		defer func() { _ = restarted.stop() }()
	}
	if err != nil {
		return err
	}
	if err := b.latency(ctx); err != nil {
		return err
	}
	return b.midnight(ctx, restarted)
}

// bareRun is one cold start of the bare status loop.
func (b *bench) bareRun(ctx context.Context, r int) error {
	if err := b.reset(ctx); err != nil {
		return err
	}
	b.log("Run %d: starting the bare status loop", r+1)
	p, err := startProcess("bare status loop", b.self, nil, []string{bareEnv + "=" + b.bareConfig})
	if err != nil {
		return err
	}
	p.exitsOnEOF = true
	defer func() { _ = p.stop() }()
	b.dirty = true
	took, cpu, err := b.coldStart(ctx, p, false)
	if err != nil {
		return err
	}
	b.res.BareStart = append(b.res.BareStart, took)
	b.res.BareCPU = append(b.res.BareCPU, cpu)
	b.log("Run %d: bare cold start %.1fs, CPU %.1fs", r+1, took.Seconds(), cpu.Seconds())
	if err := p.stop(); err != nil {
		return err
	}
	if p.waitErr != nil {
		return fmt.Errorf("the bare status loop failed: %w%s", p.waitErr, p.tail())
	}
	return nil
}

// coldStart waits until every account carries a health status of the
// plan's generation and, for the operator, until the plan's status counts
// every account; it returns the time since the process started and the
// process's CPU time.
func (b *bench) coldStart(ctx context.Context, p *process, operator bool) (time.Duration, time.Duration, error) {
	var first time.Duration
	writes := b.tracker.snapshot().accountWrites
	err := b.tracker.waitFor(ctx, "cold start of the "+p.name, b.cfg.coldStartTimeout(b.n), p.running, func(s snapshot) bool {
		if first == 0 && s.accountWrites > writes {
			first = time.Since(p.started)
		}
		return s.evaluated == b.n && (!operator || s.planReady(b.n))
	})
	took := time.Since(p.started)
	if err != nil {
		return 0, 0, err
	}
	b.log("The %s wrote its first status %.1fs after it started", p.name, first.Seconds())
	cpu, err := p.cpu()
	return took, cpu, err
}

// managerBuild is the manager's binary, built from main.go once.
type managerBuild struct {
	path string
	err  error
	// done is closed when the build has finished.
	done chan struct{}
}

func (m *managerBuild) build(ctx context.Context, log io.Writer, root string) {
	defer close(m.done)
	logf(log, "Building the manager from %s", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", m.path, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		m.err = fmt.Errorf("building the manager: %w\n%s", err, out)
	}
}

// startManager starts the manager built from main.go as its own process:
// no leader election, and metrics on a free loopback port, read for the
// live heap and by the restart phase.
func (b *bench) startManager() (*process, error) {
	<-b.manager.done
	if b.manager.err != nil {
		return nil, b.manager.err
	}
	return b.runManager("manager", b.manager.path, b.cfg.ManagerArgs, nil)
}

// startClockManager starts the manager with its clock shifted by offset:
// the benchmark's own binary, re-executed (see clockManagerMain), with the
// flags startManager gives main.go's.
func (b *bench) startClockManager(offset time.Duration) (*process, error) {
	return b.runManager("manager with a shifted clock", b.self, nil, []string{clockEnv + "=" + offset.String()})
}

// runManager starts bin as the manager with the benchmark's flags, extra
// flags and env added.
func (b *bench) runManager(name, bin string, extra, env []string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--leader-elect=false",
		"--metrics-bind-address=" + addr, "--metrics-secure=false",
		"--pprof-bind-address=" + pprofAddr,
		"--health-probe-bind-address=0",
		fmt.Sprintf("--kube-api-qps=%g", b.cfg.QPS), fmt.Sprintf("--kube-api-burst=%d", b.cfg.Burst),
		fmt.Sprintf("--account-concurrency=%d", b.cfg.Concurrency),
		// Per-account series would only make the benchmark's scrapes cost
		// more; they are computed at scrape time and nothing else scrapes.
		"--account-metrics=false",
	}
	args = append(args, extra...)
	p, err := startProcess(name, bin, args, append([]string{"KUBECONFIG=" + b.kubeconfig}, env...))
	if err != nil {
		return nil, err
	}
	p.metrics = "http://" + addr + "/metrics"
	p.pprof = "http://" + pprofAddr
	return p, nil
}

// liveHeap reads the manager's live heap in bytes after garbage
// collections: it asks the manager's profiler twice for a heap profile with
// gc=1, which collects first, then reads the live heap the second
// collection marked (the runtime's /gc/heap/live:bytes, which
// controller-runtime's Go collector exports). Two collections empty the
// sync.Pools (a pool survives one collection in its victim cache): what
// the benchmark's own scrapes left there (the metrics handler's gzip
// writers) is not the fleet's.
func liveHeap(ctx context.Context, m *process) (float64, error) {
	for range 2 {
		if _, err := scrape(ctx, m.pprof+"/debug/pprof/heap?gc=1"); err != nil {
			return 0, fmt.Errorf("collecting the manager's garbage: %w", err)
		}
	}
	body, err := scrape(ctx, m.metrics)
	if err != nil {
		return 0, fmt.Errorf("reading the manager's metrics: %w", err)
	}
	bytes := sumSeries(body, "go_gc_heap_live_bytes")
	if bytes == 0 {
		return 0, fmt.Errorf("the manager's metrics have no go_gc_heap_live_bytes")
	}
	return bytes, nil
}

// writeBareConfig writes the bare loop's config, with the status the
// operator wrote for the first account as the status the loop writes.
func (b *bench) writeBareConfig(ctx context.Context) error {
	resp, err := b.api.get(ctx, fmt.Sprintf(accountsPath, namespace)+"/"+accountName(0), nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var acct struct {
		Status json.RawMessage `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&acct); err != nil {
		return err
	}
	data, err := json.Marshal(bareConfig{Kubeconfig: b.kubeconfig, Namespace: namespace,
		QPS: b.cfg.QPS, Burst: b.cfg.Burst, Concurrency: b.cfg.Concurrency, Status: acct.Status})
	if err != nil {
		return err
	}
	b.bareConfig = filepath.Join(b.dir, fmt.Sprintf("bare-%d.json", b.n))
	return os.WriteFile(b.bareConfig, data, 0o600)
}

func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.log("Note: %s", msg)
	b.res.Notes = append(b.res.Notes, fmt.Sprintf("N=%d: %s", b.n, msg))
}

// sleep waits for d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// median of xs, 0 for none.
func median[T ~int64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// parseSizes parses a comma-separated list of fleet sizes.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-n: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
