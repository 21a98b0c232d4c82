package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// settle waits until no status was written for Quiet, at most two
// intervals; it reports whether the fleet went quiet. It watches
// Prometheus's query count meanwhile and returns when the last query
// arrived, zero if none did.
func (b *bench) settle(ctx context.Context) (quiet bool, lastQuery time.Time, err error) {
	deadline := time.Now().Add(2 * b.cfg.Interval)
	q0, err := b.promQueries(ctx)
	if err != nil {
		return false, lastQuery, err
	}
	for {
		if q, err := b.promQueries(ctx); err != nil {
			return false, lastQuery, err
		} else if q > q0 {
			q0, lastQuery = q, time.Now()
		}
		if time.Since(b.tracker.snapshot().lastWrite) >= b.cfg.Quiet {
			return true, lastQuery, nil
		}
		if time.Now().After(deadline) || !sleep(ctx, 200*time.Millisecond) {
			return false, lastQuery, ctx.Err()
		}
	}
}

// measureJSON reads every account back, page by page, for its average
// JSON size.
func (b *bench) measureJSON(ctx context.Context) error {
	var total, n int
	_, err := b.api.list(ctx, fmt.Sprintf(accountsPath, namespace), func(raw json.RawMessage) error {
		total += len(raw)
		n++
		return nil
	})
	if err == nil && n > 0 {
		b.res.JSONBytes = float64(total) / float64(n)
	}
	return err
}

// idle counts, over IdleIntervals plan intervals of a settled fleet, the
// status writes, the account reconciles and the queries Prometheus
// answered. The window starts
// half an interval after a collection (lastQuery, or the next one when
// zero), so that it holds exactly one collection per interval.
func (b *bench) idle(ctx context.Context, m *process, lastQuery time.Time) error {
	if lastQuery.IsZero() {
		var err error
		if lastQuery, err = b.nextQuery(ctx, "the idle window"); err != nil {
			return err
		}
	}
	start := lastQuery.Add(b.cfg.Interval / 2)
	for start.Before(time.Now()) {
		start = start.Add(b.cfg.Interval)
	}
	if !sleep(ctx, time.Until(start)) {
		return ctx.Err()
	}
	b.log("Idle window: %d intervals of %s", b.cfg.IdleIntervals, b.cfg.Interval)
	s0 := b.tracker.snapshot()
	q1, err := b.promQueries(ctx)
	if err != nil {
		return err
	}
	cpu0, err := m.cpu()
	if err != nil {
		return err
	}
	r0, err := accountReconciles(ctx, m)
	if err != nil {
		return err
	}
	t0 := time.Now()
	for end := time.Now().Add(time.Duration(b.cfg.IdleIntervals) * b.cfg.Interval); time.Now().Before(end); {
		if !sleep(ctx, min(time.Second, time.Until(end))) {
			return ctx.Err()
		}
	}
	cpu1, err := m.cpu()
	if err != nil {
		return err
	}
	b.realMidnight("the idle window", t0, time.Now())
	b.res.IdleCPUPer5m = time.Duration(float64(cpu1-cpu0) * float64(5*time.Minute) / float64(time.Since(t0)))
	r1, err := accountReconciles(ctx, m)
	if err != nil {
		return err
	}
	b.res.IdleReconciles = int64(r1 - r0)
	s1 := b.tracker.snapshot()
	q2, err := b.promQueries(ctx)
	if err != nil {
		return err
	}
	b.res.Idle, b.res.IdleQueries, b.res.IdleIntervals = s1.since(s0), int64(q2-q1), b.cfg.IdleIntervals
	return nil
}

// accountReconciles reads how many account reconciles the manager has run.
func accountReconciles(ctx context.Context, m *process) (float64, error) {
	body, err := scrape(ctx, m.metrics)
	if err != nil {
		return 0, fmt.Errorf("reading the manager's metrics: %w", err)
	}
	return sumSeries(body, "controller_runtime_reconcile_total", `controller="customeraccount"`), nil
}

// nextQuery waits for Prometheus to answer a query, at most two intervals,
// and returns when it did; before names the phase that waits, for a note.
func (b *bench) nextQuery(ctx context.Context, before string) (time.Time, error) {
	q0, err := b.promQueries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	for deadline := time.Now().Add(2 * b.cfg.Interval); time.Now().Before(deadline); {
		if !sleep(ctx, 200*time.Millisecond) {
			return time.Time{}, ctx.Err()
		}
		q, err := b.promQueries(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if q > q0 {
			return time.Now(), nil
		}
	}
	b.note("no Prometheus query for two intervals before %s", before)
	return time.Now(), nil
}

// restart stops the manager and starts a new one over the evaluated
// fleet, and counts the status writes and Events until the new manager has
// reconciled every account once, collected once and gone idle.
func (b *bench) restart(ctx context.Context, old *process) (*process, error) {
	b.log("Restarting the manager")
	if err := old.stop(); err != nil {
		return nil, err
	}
	s0 := b.tracker.snapshot()
	events0, err := b.countEvents(ctx)
	if err != nil {
		return nil, err
	}
	q0, err := b.promQueries(ctx)
	if err != nil {
		return nil, err
	}
	m, err := b.startManager()
	if err != nil {
		return nil, err
	}
	bound := 2*b.cfg.Interval + 2*median(b.res.OperatorStart)
	if err := b.waitIdleManager(ctx, m, q0, bound); err != nil {
		b.note("restart: %v", err)
	}
	b.restartTook = time.Since(m.started)
	b.realMidnight("the restart", m.started, time.Now())
	s1 := b.tracker.snapshot()
	events1, err := b.countEvents(ctx)
	if err != nil {
		return m, err
	}
	b.res.Restart, b.res.RestartEvents = s1.since(s0), events1.since(events0)
	return m, nil
}

// idleFor is how long a restarted manager must stay idle: longer than the
// plan reconciler's coalescing window for account changes.
const idleFor = 3 * time.Second

// waitIdleManager waits, reading the manager's metrics, until it has
// reconciled at least every account once, Prometheus has answered a query
// since q0, and the work queues have stayed empty for idleFor.
func (b *bench) waitIdleManager(ctx context.Context, m *process, q0 float64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	var idleSince time.Time
	last := "no metrics read"
	for time.Now().Before(deadline) {
		if !sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
		if err := m.running(); err != nil {
			return err
		}
		body, err := scrape(ctx, m.metrics)
		if err != nil {
			idleSince, last = time.Time{}, err.Error()
			continue
		}
		q, err := b.promQueries(ctx)
		if err != nil {
			return err
		}
		reconciled := sumSeries(body, "controller_runtime_reconcile_total", `controller="customeraccount"`)
		depth := sumSeries(body, "workqueue_depth")
		active := sumSeries(body, "controller_runtime_active_workers")
		last = fmt.Sprintf("%g account reconciles, queue depth %g, %g active workers, %g new queries", reconciled, depth, active, q-q0)
		if reconciled < float64(b.n) || depth > 0 || active > 0 || q <= q0 {
			idleSince = time.Time{}
			continue
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		if time.Since(idleSince) >= idleFor {
			return nil
		}
	}
	return fmt.Errorf("the manager was not idle within %s (%s)", bound.Round(time.Second), last)
}

// latency changes the first account's exported value right after a
// collection, the worst moment, and times until its status shows it; it
// then restores the value.
func (b *bench) latency(ctx context.Context) error {
	changed := 0.3 * float64(seats(0))
	if _, err := b.nextQuery(ctx, "the latency change"); err != nil {
		return err
	}
	b.tracker.watchMeasure(accountName(0), usageMeasure, changed)
	start := time.Now()
	b.exp.set(0, changed)
	defer b.exp.set(0, usage(0))
	bound := 3*b.cfg.Interval + 5*b.cfg.Scrape + 30*time.Second
	for time.Since(start) < bound {
		if seen := b.tracker.measureSeen(); !seen.IsZero() {
			b.res.Latency = seen.Sub(start)
			b.log("Change-to-status latency %.1fs", b.res.Latency.Seconds())
			return nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s's status did not show its new %s within %s", accountName(0), usageMeasure, bound)
}

// countEvents counts the Events of the benchmark's namespace by reason,
// reading them page by page.
func (b *bench) countEvents(ctx context.Context) (events, error) {
	out := events{}
	_, err := b.api.list(ctx, fmt.Sprintf(eventsPath, namespace), func(raw json.RawMessage) error {
		var ev struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		out[ev.Reason]++
		return nil
	})
	return out, err
}

// events counts Events by reason.
type events map[string]int

// total is the number of Events.
func (e events) total() int {
	n := 0
	for _, c := range e {
		n += c
	}
	return n
}

// since returns the Events added after earlier.
func (e events) since(earlier events) events {
	out := events{}
	for reason, n := range e {
		if d := n - earlier[reason]; d != 0 {
			out[reason] = d
		}
	}
	return out
}

// String lists the reasons, most frequent first.
func (e events) String() string {
	reasons := make([]string, 0, len(e))
	for r := range e {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if e[reasons[i]] != e[reasons[j]] {
			return e[reasons[i]] > e[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, e[r])
	}
	return strings.Join(parts, ", ")
}

// promQueries is how many instant and range queries Prometheus answered.
func (b *bench) promQueries(ctx context.Context) (float64, error) {
	body, err := scrape(ctx, b.prom.URL+"/metrics")
	if err != nil {
		return 0, fmt.Errorf("reading Prometheus's metrics: %w", err)
	}
	return sumSeries(body, "prometheus_http_requests_total", `handler="/api/v1/query"`) +
		sumSeries(body, "prometheus_http_requests_total", `handler="/api/v1/query_range"`), nil
}
