package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/event"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/sources"
)

func TestRemoteMeasures(t *testing.T) {
	remote := map[string]builtSource{"prom": {kind: "prometheus"}, "docs": {kind: "http"}}
	for _, tc := range []struct {
		name     string
		measures []csv1alpha1.Measure
		order    []string
		groups   map[string][]string
	}{
		{name: "none", order: nil, groups: map[string][]string{}},
		{
			name:     "static only",
			measures: []csv1alpha1.Measure{{Name: "nps", Source: "signals"}},
			order:    nil,
			groups:   map[string][]string{},
		},
		{
			name: "grouped in the order sources are first named",
			measures: []csv1alpha1.Measure{
				{Name: "tickets", Source: "docs"},
				{Name: "usage", Source: "prom"},
				{Name: "nps", Source: "signals"},
				{Name: "open", Source: "docs"},
				{Name: "gone", Source: "unknown"},
			},
			order:  []string{"docs", "prom"},
			groups: map[string][]string{"docs": {"tickets", "open"}, "prom": {"usage"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, bySource := remoteMeasures(tc.measures, remote)
			if !slices.Equal(order, tc.order) {
				t.Errorf("order = %v, want %v", order, tc.order)
			}
			got := map[string][]string{}
			for src, group := range bySource {
				for _, m := range group {
					if m.Source != src {
						t.Errorf("measure %s of source %s grouped under %s", m.Name, m.Source, src)
					}
					got[src] = append(got[src], m.Name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.groups) {
				t.Errorf("groups = %v, want %v", got, tc.groups)
			}
		})
	}
}

func TestRemoteMeasuresPointIntoThePlan(t *testing.T) {
	measures := []csv1alpha1.Measure{{Name: "usage", Source: "prom"}}
	_, bySource := remoteMeasures(measures, map[string]builtSource{"prom": {}})
	if bySource["prom"][0] != &measures[0] {
		t.Error("the grouped measure is a copy, not the plan's")
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples map[string]sources.Sample
		want    int
	}{
		{name: "none", want: 0},
		{name: "all good", samples: map[string]sources.Sample{"a": {Value: 1}, "b": {}}, want: 0},
		{name: "some failed", samples: map[string]sources.Sample{"a": {Err: "timeout"}, "b": {Value: 2}, "c": {Err: "HTTP 500"}}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failures(tc.samples); got != tc.want {
				t.Errorf("failures = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSources(t *testing.T) {
	plan := &csv1alpha1.SuccessPlan{ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(t), Name: "gold"}}
	plan.Spec.Sources = []csv1alpha1.Source{
		{Name: "prom", Prometheus: &csv1alpha1.PrometheusSource{URL: "https://prometheus.example"}},
		{Name: "badprom", Prometheus: &csv1alpha1.PrometheusSource{URL: "://nowhere"}},
		{Name: "docs", HTTP: &csv1alpha1.HTTPSource{URL: "https://crm.example/{{ .Name }}"}},
		{Name: "locked", HTTP: &csv1alpha1.HTTPSource{URL: "https://crm.example/{{ .Name }}",
			AuthSecretRef: &csv1alpha1.LocalObjectReference{Name: "missing"}}},
		{Name: "signals", Static: &csv1alpha1.StaticSource{}},
	}
	c := &Collectors{Secrets: k8sClient}
	got := c.sources(context.Background(), plan)
	for _, tc := range []struct {
		name, kind string
		failed     bool
	}{
		{name: "prom", kind: "prometheus"},
		{name: "badprom", kind: "prometheus", failed: true},
		{name: "docs", kind: "http"},
		{name: "locked", kind: "http", failed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := got[tc.name]
			switch {
			case !ok:
				t.Fatal("source not built")
			case b.kind != tc.kind:
				t.Errorf("kind = %q, want %q", b.kind, tc.kind)
			case tc.failed && b.err == "":
				t.Error("want an error, got none")
			case !tc.failed && (b.err != "" || b.source == nil):
				t.Errorf("want a source, got err %q", b.err)
			}
		})
	}
	if _, ok := got["signals"]; ok {
		t.Error("a static source is built: the account reconciler reads it")
	}
}

// TestCollectors drives one plan through the supervisor: ensured before
// Start, collected, replaced by a new generation, woken, stopped.
func TestCollectors(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"open": 3}`)
	}))
	defer srv.Close()
	ns := newNamespace(t)
	plan := httpPlan(ns, srv.URL+"/{{ .Name }}")
	create(t, plan, account(ns, "active", false), account(ns, "paused", true))
	if plan.Generation != 1 {
		t.Fatalf("created plan has generation %d, want 1", plan.Generation)
	}
	key := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	changed := make(chan event.GenericEvent, 8)
	obs := &observer{}
	clk := testingclock.NewFakeClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	c := &Collectors{Client: k8sClient, Members: listMembers(k8sClient), Secrets: k8sClient, Store: sources.NewStore(), Clock: clk, Changed: changed, Metrics: obs}

	if !c.NeedLeaderElection() {
		t.Error("collectors run on every replica, want the leader only")
	}
	c.Ensure(plan)
	if _, ok := c.Running(key); ok {
		t.Fatal("a collector runs before Start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- c.Start(ctx) }()

	select {
	case ev := <-changed:
		if ev.Object.GetNamespace() != key.Namespace || ev.Object.GetName() != "active" {
			t.Errorf("changed %s/%s, want %s/active", ev.Object.GetNamespace(), ev.Object.GetName(), key.Namespace)
		}
	case <-time.After(timeout):
		t.Fatal("no account changed after Start")
	}
	if got, ok := c.Store.Get(key, "active", "open"); !ok || !got.Has || got.Value != 3 {
		t.Errorf("stored %+v, %v; want 3", got, ok)
	}
	if _, ok := c.Store.Get(key, "paused", "open"); ok {
		t.Error("a suspended account was collected")
	}
	if gen, ok := c.Running(key); !ok || gen != 1 {
		t.Errorf("Running = %d, %v; want 1, true", gen, ok)
	}
	if n := obs.pullCount(); n != 1 {
		t.Errorf("observed %d pulls, want 1", n)
	}

	c.Ensure(plan)
	next := plan.DeepCopy()
	next.Generation = 2
	c.Ensure(next)
	if gen, ok := c.Running(key); !ok || gen != 2 {
		t.Errorf("Running after a new generation = %d, %v; want 2, true", gen, ok)
	}
	waitFor(t, "the new generation's first collection", func() bool { return hits.Load() == 2 })

	// The clock has not moved since the new generation's collection began,
	// so a wake now waits out the whole wake gap. Once that collection is
	// over (the collector waits on its interval timer), wake it and step
	// the clock once by exactly the gap: the hour interval does not pass,
	// and whether the collector has yet started to wait on the gap or not
	// (then it finds the gap already passed), the step lets exactly one
	// collection through. The wake is for an account that has just
	// resolved to the plan, in another plan's name until its status is
	// written: the collection includes it.
	moving := account(ns, "moving", false)
	create(t, moving)
	moving.Status.Plan = "silver"
	if err := k8sClient.Status().Update(context.Background(), moving); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the collector to wait on its interval", clk.HasWaiters)
	c.Wake(key, sources.Target{Name: "moving", Namespace: ns})
	clk.Step(minWakeGap)
	waitFor(t, "a collection on wake", func() bool { return hits.Load() == 4 })
	waitFor(t, "the woken account's value", func() bool {
		got, ok := c.Store.Get(key, "moving", "open")
		return ok && got.Has && got.Value == 3
	})

	c.Stop(key)
	if _, ok := c.Running(key); ok {
		t.Error("a stopped collector is still running")
	}
	if _, ok := c.Store.Get(key, "active", "open"); ok {
		t.Error("a stopped plan's values are kept")
	}
	if !obs.forgot(key) {
		t.Error("a stopped plan's metrics are kept")
	}
	c.Wake(key, sources.Target{Name: "active", Namespace: ns}) // no collector: nothing to wake

	cancel()
	if err := <-started; err != nil {
		t.Errorf("Start = %v", err)
	}
}

// TestStopDuringPull stops a plan whose collection waits on its source:
// Stop returns once the collection has, and nothing is written back.
func TestStopDuringPull(t *testing.T) {
	requested := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		requested <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	ns := newNamespace(t)
	plan := httpPlan(ns, srv.URL+"/{{ .Name }}")
	create(t, plan, account(ns, "active", false))
	key := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	obs := &observer{}
	c := &Collectors{Client: k8sClient, Members: listMembers(k8sClient), Secrets: k8sClient, Store: sources.NewStore(),
		Clock: testingclock.NewFakeClock(time.Now()), Changed: make(chan event.GenericEvent, 8), Metrics: obs}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	waitFor(t, "Start", func() bool {
		c.Ensure(plan)
		_, ok := c.Running(key)
		return ok
	})
	select {
	case <-requested:
	case <-time.After(timeout):
		t.Fatal("the source was not requested")
	}

	c.Stop(key)
	if _, ok := c.Store.Get(key, "active", "open"); ok {
		t.Error("a value was written after Stop")
	}
	if n := obs.pullCount(); n != 0 {
		t.Errorf("observed %d pulls of a stopped collection, want 0", n)
	}
	if !obs.forgot(key) {
		t.Error("the stopped plan's metrics are kept")
	}
}

// httpPlan is a valid plan "gold" in namespace ns that pulls the measure
// open from an HTTP source at url; its accounts name it in their
// successPlanRef.
func httpPlan(ns, url string) *csv1alpha1.SuccessPlan {
	plan := &csv1alpha1.SuccessPlan{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gold"}}
	plan.Spec.AccountSelector = &metav1.LabelSelector{}
	plan.Spec.Interval = metav1.Duration{Duration: time.Hour}
	plan.Spec.Sources = []csv1alpha1.Source{
		{Name: "crm", HTTP: &csv1alpha1.HTTPSource{URL: url}},
		{Name: "signals", Static: &csv1alpha1.StaticSource{}},
	}
	plan.Spec.Measures = []csv1alpha1.Measure{
		{Name: "open", Source: "crm", JSONPath: "{.open}", Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 1},
		{Name: "nps", Source: "signals", Key: "nps", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 1},
	}
	return plan
}

func account(ns, name string, suspend bool) *csv1alpha1.CustomerAccount {
	a := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	a.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: "gold"}
	a.Spec.Suspend = suspend
	return a
}

// timeout bounds every wait on the collectors or the API server: long
// enough for a loaded machine, never a pace the tests rely on.
const timeout = 30 * time.Second

// waitFor polls cond until it holds, for at most timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// observer is a SourceObserver that remembers what it was told.
type observer struct {
	mu        sync.Mutex
	pulls     int
	forgotten []types.NamespacedName
}

func (o *observer) ObservePull(types.NamespacedName, string, string, time.Duration, int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pulls++
}

func (o *observer) ForgetPlan(plan types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.forgotten = append(o.forgotten, plan)
}

func (o *observer) pullCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pulls
}

func (o *observer) forgot(plan types.NamespacedName) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.forgotten, plan)
}

// TestAFirstValueTheStatusShowsEnqueuesNothing: after the operator starts,
// its store is empty and every pulled value is new to it; an account whose
// status, evaluated with the plan's generation, already shows the value is
// not evaluated again for it, one whose status does not is.
func TestAFirstValueTheStatusShowsEnqueuesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"open": 3}`)
	}))
	defer srv.Close()
	ns := newNamespace(t)
	plan := httpPlan(ns, srv.URL+"/{{ .Name }}")
	shown, stale, other := account(ns, "shown", false), account(ns, "stale", false), account(ns, "other", false)
	create(t, plan, shown, stale, other)
	for _, a := range []*csv1alpha1.CustomerAccount{shown, stale} {
		a.Status.Health = &csv1alpha1.HealthStatus{PlanGeneration: plan.Generation,
			Measures: []csv1alpha1.MeasureStatus{{Name: "open", Value: "3", Stale: a == stale}}}
		if err := k8sClient.Status().Update(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	key := types.NamespacedName{Namespace: ns, Name: plan.Name}
	changed := make(chan event.GenericEvent, 8)
	clk := testingclock.NewFakeClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	c := &Collectors{Client: k8sClient, Members: listMembers(k8sClient), Secrets: k8sClient, Store: sources.NewStore(), Clock: clk, Changed: changed}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	waitFor(t, "Start", func() bool {
		c.Ensure(plan)
		_, ok := c.Running(key)
		return ok
	})
	// The collection is over, its changes sent, once the collector waits
	// on its interval.
	waitFor(t, "the first collection", clk.HasWaiters)
	var got []string
	for len(changed) > 0 {
		got = append(got, (<-changed).Object.GetName())
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"other", "stale"}) {
		t.Errorf("changed %v, want [other stale]", got)
	}
	if v, ok := c.Store.Get(key, "shown", "open"); !ok || v.Value != 3 {
		t.Errorf("the shown account's value is stored: %+v, %v", v, ok)
	}
}

// TestALongCollectionDoesNotStretchTheInterval: the next collection is due
// an interval after the last one began: a pull that takes a third of the
// interval leaves two thirds to wait, not a whole interval.
func TestALongCollectionDoesNotStretchTheInterval(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 1 {
			clk.Step(20 * time.Minute) // the first pull takes a third of the hour
		}
		fmt.Fprint(w, `{"open": 3}`)
	}))
	defer srv.Close()
	ns := newNamespace(t)
	plan := httpPlan(ns, srv.URL+"/{{ .Name }}")
	create(t, plan, account(ns, "active", false))
	c := &Collectors{Client: k8sClient, Members: listMembers(k8sClient), Secrets: k8sClient, Store: sources.NewStore(), Clock: clk,
		Changed: make(chan event.GenericEvent, 8)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	waitFor(t, "Start", func() bool {
		c.Ensure(plan)
		_, ok := c.Running(types.NamespacedName{Namespace: ns, Name: plan.Name})
		return ok
	})
	waitFor(t, "the first collection to wait on its interval", func() bool { return hits.Load() == 1 && clk.HasWaiters() })
	clk.Step(40 * time.Minute)
	waitFor(t, "the next collection, an hour after the first began", func() bool { return hits.Load() == 2 })
}
