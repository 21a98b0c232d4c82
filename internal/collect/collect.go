// Package collect pulls the remote sources of SuccessPlans. Collectors, a
// manager Runnable, supervises one goroutine per valid plan generation: it
// pulls each remote measure of the plan once per interval for all the
// plan's accounts into a sources.Store, and sends the accounts whose values
// changed on a channel for the account reconciler. The reconcilers drive
// it (Ensure, Stop, Wake); it reports source requests through
// SourceObserver and imports nothing of theirs.
package collect

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/membership"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/sources"
)

// minWakeGap is the shortest time between two collections of a plan that
// an account asked for (a new account without values); a burst of new
// accounts is served by one collection.
const minWakeGap = 5 * time.Second

// Collectors run one collector per valid SuccessPlan. A collector pulls
// each remote measure of the plan once per interval for all the plan's
// accounts, keeps the values in the Store, and enqueues only the accounts
// whose values changed.
type Collectors struct {
	// Client lists the plans of a namespace: the manager's cache.
	Client client.Client
	// Members reads the accounts of a plan by their status.plan.
	Members Members
	// Secrets reads credentials with a direct get: no Secret cache.
	Secrets client.Reader
	// Store receives the pulled values, per plan.
	Store *sources.Store
	// Clock times the intervals and the wake gap.
	Clock clock.WithTicker
	// Guard configures outbound HTTP.
	Guard outbound.Options
	// Changed receives the accounts to reconcile.
	Changed chan event.GenericEvent
	// Metrics observes source requests; nil is allowed.
	Metrics SourceObserver

	mu      sync.Mutex
	ctx     context.Context
	running map[types.NamespacedName]*loop
	// pending are plans ensured before Start, started by it.
	pending map[types.NamespacedName]*csv1alpha1.SuccessPlan
	// wanted are the accounts woken for, per plan, until a collection
	// takes them.
	wanted map[types.NamespacedName]map[string]sources.Target
}

// Members returns the accounts of namespace ns whose status.plan is plan
// (managed) and those without a status.plan yet (unresolved). They are
// shared with the cache: a collection only reads them.
type Members func(ctx context.Context, ns, plan string) (managed, unresolved []*csv1alpha1.CustomerAccount, err error)

// SourceObserver records what source requests did.
type SourceObserver interface {
	// ObservePull records one pull of one measure for all the accounts of a
	// plan: its duration, and how many of its total values failed.
	ObservePull(plan types.NamespacedName, source, sourceType string, d time.Duration, failed, total int)
	// ForgetPlan drops what was recorded for a plan.
	ForgetPlan(plan types.NamespacedName)
}

// loop is the goroutine that collects one plan generation.
type loop struct {
	generation int64
	cancel     context.CancelFunc
	wake       chan struct{}
	// done is closed when the goroutine has returned.
	done chan struct{}
}

// Start implements manager.Runnable: collectors live as long as the
// manager.
func (c *Collectors) Start(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	if c.running == nil {
		c.running = map[types.NamespacedName]*loop{}
	}
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, plan := range pending {
		c.Ensure(plan)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader pulls sources.
func (c *Collectors) NeedLeaderElection() bool { return true }

// Ensure runs a collector for the plan's current generation, replacing one
// of an older generation; before Start, it records the plan for Start to
// run. The replacement starts collecting once the old one has returned, so
// a plan has at most one collection in flight.
func (c *Collectors) Ensure(plan *csv1alpha1.SuccessPlan) {
	key := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		if c.pending == nil {
			c.pending = map[types.NamespacedName]*csv1alpha1.SuccessPlan{}
		}
		c.pending[key] = plan.DeepCopy()
		return
	}
	var prev <-chan struct{}
	if cur, ok := c.running[key]; ok {
		if cur.generation == plan.Generation {
			return
		}
		cur.cancel()
		prev = cur.done
	}
	ctx, cancel := context.WithCancel(c.ctx)
	l := &loop{generation: plan.Generation, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.running[key] = l
	plan = plan.DeepCopy()
	go func() {
		defer close(l.done)
		if prev != nil {
			<-prev
		}
		c.run(ctx, key, plan, l.wake)
	}()
}

// Stop ends the plan's collector, waits for it to return, then drops the
// plan's values from the Store and its series from Metrics: a collection in
// flight cannot write them back. Stopping a plan without a collector only
// drops.
func (c *Collectors) Stop(key types.NamespacedName) {
	c.mu.Lock()
	cur, ok := c.running[key]
	if ok {
		cur.cancel()
		delete(c.running, key)
	}
	delete(c.pending, key)
	delete(c.wanted, key)
	c.mu.Unlock()
	if ok {
		<-cur.done
	}
	c.Store.Forget(key)
	if c.Metrics != nil {
		c.Metrics.ForgetPlan(key)
	}
}

// Running reports the plan generation the plan's collector was started
// for, and whether one was started and not stopped since. A plan ensured
// before Start is not running until Start.
func (c *Collectors) Running(key types.NamespacedName) (generation int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.running[key]
	if !ok {
		return 0, false
	}
	return cur.generation, true
}

// Wake asks the plan's collector for a collection soon, coalesced, that
// includes the account t: an account that has just resolved to the plan
// may not yet be listed by its status.plan. The account is remembered
// until a collection of the plan takes it, so a wake before the plan's
// collector runs is not lost.
func (c *Collectors) Wake(key types.NamespacedName, t sources.Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want(key, t)
	if cur, ok := c.running[key]; ok {
		select {
		case cur.wake <- struct{}{}:
		default:
		}
	}
}

// want remembers account t for the next collection of plan key; c.mu is
// held.
func (c *Collectors) want(key types.NamespacedName, t sources.Target) {
	if c.wanted == nil {
		c.wanted = map[types.NamespacedName]map[string]sources.Target{}
	}
	if c.wanted[key] == nil {
		c.wanted[key] = map[string]sources.Target{}
	}
	c.wanted[key][t.Name] = t
}

// run collects once at once, then every interval (from the start of one
// collection to the start of the next) or on wake, a wake waiting until
// minWakeGap has passed since the last collection began.
func (c *Collectors) run(ctx context.Context, key types.NamespacedName, plan *csv1alpha1.SuccessPlan, wake <-chan struct{}) {
	log := ctrl.LoggerFrom(ctx).WithValues("successplan", key)
	interval := plan.Spec.GetInterval()
	var last time.Time
	for {
		last = c.Clock.Now()
		if err := c.collect(ctx, key, plan); err != nil && ctx.Err() == nil {
			log.Error(err, "Collecting measures")
		}
		// The next collection is due an interval after this one began, not
		// after it ended: a long pull (a large fleet) does not stretch the
		// interval.
		timer := c.Clock.NewTimer(max(interval-c.Clock.Since(last), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		case <-wake:
			timer.Stop()
			if gap := minWakeGap - c.Clock.Since(last); gap > 0 {
				select {
				case <-ctx.Done():
					return
				case <-c.Clock.After(gap):
				}
			}
		}
	}
}

// collect pulls every remote measure of the plan once for all its
// accounts and enqueues the accounts whose values changed.
func (c *Collectors) collect(ctx context.Context, key types.NamespacedName, plan *csv1alpha1.SuccessPlan) error {
	targets, health, err := c.targets(ctx, plan)
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(targets))
	for _, t := range targets {
		keep[t.Name] = true
	}
	measures := map[string]bool{}
	changed := map[string]bool{}
	srcs := c.sources(ctx, plan)
	var order []string
	var bySource map[string][]*csv1alpha1.Measure
	if len(targets) > 0 {
		order, bySource = remoteMeasures(plan.Spec.Measures, srcs)
	}
	for _, group := range bySource {
		for _, m := range group {
			measures[m.Name] = true
		}
	}
	for _, name := range order {
		src, group := srcs[name], bySource[name]
		start := c.Clock.Now()
		var pulled map[string]map[string]sources.Sample
		if src.err != "" {
			pulled = make(map[string]map[string]sources.Sample, len(group))
			for _, m := range group {
				pulled[m.Name] = sources.FailAll(targets, src.err)
			}
		} else {
			pulled = src.source.Pull(ctx, group, targets)
		}
		if ctx.Err() != nil {
			return nil
		}
		now := c.Clock.Now()
		for _, m := range group {
			samples := pulled[m.Name]
			if c.Metrics != nil {
				c.Metrics.ObservePull(key, m.Source, src.kind, now.Sub(start), failures(samples), len(samples))
			}
			for acct, s := range samples {
				_, had := c.Store.Get(key, acct, m.Name)
				if c.Store.Put(key, acct, m.Name, s, now) && (had || !shows(health[acct], plan.Generation, m.Name, s)) {
					changed[acct] = true
				}
			}
		}
	}
	c.Store.Retain(key, keep, measures)
	for name := range changed {
		acct := &csv1alpha1.CustomerAccount{}
		acct.Namespace, acct.Name = key.Namespace, name
		select {
		case c.Changed <- event.GenericEvent{Object: acct}:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// shows reports whether an account's status, evaluated with the plan's
// generation, already shows sample s as the current value of a measure:
// then the account need not be evaluated again for the first value a
// collector pulls after the operator started (its store is empty, every
// value is new to it). Anything else (an error, a stale or overridden
// value, another value) is a change.
func shows(h *csv1alpha1.HealthStatus, generation int64, measure string, s sources.Sample) bool {
	if h == nil || h.PlanGeneration != generation || s.Err != "" {
		return false
	}
	for i := range h.Measures {
		m := &h.Measures[i]
		if m.Name != measure {
			continue
		}
		if m.Overridden || m.Stale || m.Error != "" || m.Value == "" {
			return false
		}
		v, err := strconv.ParseFloat(string(m.Value), 64)
		return err == nil && v == s.Value
	}
	return false
}

// remoteMeasures groups the measures of remote sources (those in remote)
// by source, the sources in the order the measures first name them: one
// Pull per source lets a source share a request between its measures.
// Measures of other sources (static) are left out: the account reconciler
// reads them.
func remoteMeasures(measures []csv1alpha1.Measure, remote map[string]builtSource) (order []string, bySource map[string][]*csv1alpha1.Measure) {
	bySource = map[string][]*csv1alpha1.Measure{}
	for i := range measures {
		m := &measures[i]
		if _, ok := remote[m.Source]; !ok {
			continue
		}
		if bySource[m.Source] == nil {
			order = append(order, m.Source)
		}
		bySource[m.Source] = append(bySource[m.Source], m)
	}
	return order, bySource
}

// failures counts the samples that carry an error.
func failures(samples map[string]sources.Sample) int {
	n := 0
	for _, s := range samples {
		if s.Err != "" {
			n++
		}
	}
	return n
}

// targets lists the unsuspended accounts whose plan is this one, with the
// health their cached status shows (read only), read through Members:
// those whose status.plan names it, those not resolved yet (no
// status.plan) that it selects, and those woken for since the last
// collection (resolved to it, their status.plan not written yet).
func (c *Collectors) targets(ctx context.Context, plan *csv1alpha1.SuccessPlan) ([]sources.Target, map[string]*csv1alpha1.HealthStatus, error) {
	key := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	c.mu.Lock()
	wanted := c.wanted[key]
	delete(c.wanted, key)
	c.mu.Unlock()
	accts, unresolved, err := c.Members(ctx, plan.Namespace, plan.Name)
	plans := &csv1alpha1.SuccessPlanList{}
	if err == nil && len(unresolved) > 0 {
		err = c.Client.List(ctx, plans, client.InNamespace(plan.Namespace), client.UnsafeDisableDeepCopy)
	}
	if err != nil {
		c.mu.Lock()
		for _, t := range wanted {
			c.want(key, t)
		}
		c.mu.Unlock()
		return nil, nil, err
	}
	if len(unresolved) > 0 {
		accts = append(accts, membership.Managed(plan, unresolved, plans.Items)...)
	}
	out := make([]sources.Target, 0, len(accts)+len(wanted))
	health := make(map[string]*csv1alpha1.HealthStatus, len(accts))
	for _, a := range accts {
		delete(wanted, a.Name)
		if !a.Spec.Suspend {
			out = append(out, sources.Target{Name: a.Name, Namespace: a.Namespace, ExternalIDs: a.Spec.ExternalIDs})
			health[a.Name] = a.Status.Health
		}
	}
	for _, t := range wanted {
		out = append(out, t)
	}
	return out, health, nil
}

// builtSource is a plan source ready to pull, or why it cannot.
type builtSource struct {
	kind   string
	source sources.Source
	err    string
}

// sources builds the plan's remote sources, reading their Secrets now so
// that a rotated credential is used at the next collection.
func (c *Collectors) sources(ctx context.Context, plan *csv1alpha1.SuccessPlan) map[string]builtSource {
	out := map[string]builtSource{}
	for _, s := range plan.Spec.Sources {
		switch {
		case s.Prometheus != nil:
			b := builtSource{kind: "prometheus"}
			hc, err := c.client(ctx, plan.Namespace, s.Prometheus.AuthSecretRef)
			if err == nil {
				b.source, err = sources.NewPrometheus(s.Prometheus.URL, s.Name, s.Prometheus.GetAccountLabel(), hc)
			}
			if err != nil {
				b.err = err.Error()
			}
			out[s.Name] = b
		case s.SQL != nil:
			b := builtSource{kind: "sql"}
			secret, err := outbound.ReadSecret(ctx, c.Secrets, plan.Namespace, s.SQL.SecretRef.Name)
			if err == nil {
				if b.source, err = sources.NewSQL(s.Name, s.SQL, secret, c.Guard); err != nil {
					err = fmt.Errorf("secret %s: %w", s.SQL.SecretRef.Name, err)
				}
			}
			if err != nil {
				b.err = err.Error()
			}
			out[s.Name] = b
		case s.HTTP != nil:
			b := builtSource{kind: "http"}
			hc, err := c.client(ctx, plan.Namespace, s.HTTP.AuthSecretRef)
			if err != nil {
				b.err = err.Error()
			} else {
				b.source = &sources.HTTP{URL: s.HTTP.URL, ItemsPath: s.HTTP.ItemsPath, KeyPath: s.HTTP.KeyPath, SourceName: s.Name,
					Client: hc, Throttle: sources.NewThrottle(s.HTTP.RateLimit)}
			}
			out[s.Name] = b
		}
	}
	return out
}

// client returns a guarded HTTP client with the credentials of ref.
func (c *Collectors) client(ctx context.Context, ns string, ref *csv1alpha1.LocalObjectReference) (*http.Client, error) {
	creds := outbound.Credentials{}
	if ref != nil {
		var err error
		if creds, err = outbound.CredentialsFor(ctx, c.Secrets, ns, ref.Name); err != nil {
			return nil, err
		}
	}
	return creds.Client(c.Guard)
}
