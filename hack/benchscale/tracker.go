package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// tracker follows the benchmark's accounts and plan through two watches:
// how many accounts carry a health status of the plan's generation, the
// plan's counts, how many times each kind was modified, and each account's
// stage, to count stage changes. It keeps one flag and one stage per
// account, never the objects.
type tracker struct {
	api        *rawAPI
	ns         string
	generation int64

	mu        sync.Mutex
	evaluated map[string]bool
	nEval     int
	// stages is each account's status.stage, stageChanges how many
	// MODIFIED events moved an account from one stage to another.
	stages       map[string]string
	stageChanges int64
	// stageNames interns the stage names the accounts' stages hold.
	stageNames map[string]string
	plan       planCounts
	// modified counts MODIFIED events of accounts and of plans.
	accountWrites, planWrites int64
	lastWrite                 time.Time
	// probe is one account whose measure the latency phase waits for.
	probe *probe
	err   error
}

// planCounts is what the plan's status says.
type planCounts struct {
	generation, observed int64
	accounts, banded     int32
}

// probe waits for one account's measure to show a value.
type probe struct {
	account, measure string
	value            float64
	seen             time.Time
}

// snapshot is the tracker's state at one moment.
type snapshot struct {
	evaluated                 int
	plan                      planCounts
	accountWrites, planWrites int64
	lastWrite                 time.Time
	stageChanges              int64
}

// writes counts status writes, of accounts and of the plan.
type writes struct{ accounts, plan int64 }

// total is every write.
func (w writes) total() int64 { return w.accounts + w.plan }

// since returns the writes between an earlier snapshot and s.
func (s snapshot) since(earlier snapshot) writes {
	return writes{accounts: s.accountWrites - earlier.accountWrites, plan: s.planWrites - earlier.planWrites}
}

// planReady reports whether the plan's status, for its current generation,
// counts n accounts, each of them in a band.
func (s snapshot) planReady(n int) bool {
	p := s.plan
	return p.generation > 0 && p.observed == p.generation && int(p.accounts) == n && int(p.banded) == n
}

func newTracker(api *rawAPI, ns string, planGeneration int64) *tracker {
	return &tracker{api: api, ns: ns, generation: planGeneration, evaluated: map[string]bool{},
		stages: map[string]string{}, stageNames: map[string]string{}}
}

// start lists, then watches, the accounts and the plans until ctx is done.
func (t *tracker) start(ctx context.Context) error {
	accounts, plans := fmt.Sprintf(accountsPath, t.ns), fmt.Sprintf(plansPath, t.ns)
	arv, err := t.relist(ctx, accounts, t.onAccount)
	if err != nil {
		return err
	}
	prv, err := t.relist(ctx, plans, t.onPlan)
	if err != nil {
		return err
	}
	go t.follow(ctx, accounts, arv, t.onAccount)
	go t.follow(ctx, plans, prv, t.onPlan)
	return nil
}

// relist reads the current objects as ADDED events.
func (t *tracker) relist(ctx context.Context, path string, fn func(watchEvent)) (string, error) {
	return t.api.list(ctx, path, func(raw json.RawMessage) error {
		ev := watchEvent{Type: "ADDED"}
		if err := json.Unmarshal(raw, &ev.Object); err != nil {
			return err
		}
		fn(ev)
		return nil
	})
}

// follow watches path from rv, watching again where a stream ends and
// listing again when rv expired.
func (t *tracker) follow(ctx context.Context, path, rv string, fn func(watchEvent)) {
	for ctx.Err() == nil {
		next, err := t.api.watch(ctx, path, rv, fn)
		rv = next
		if errors.Is(err, errExpired) {
			rv, err = t.relist(ctx, path, fn)
		}
		if err != nil && ctx.Err() == nil {
			t.mu.Lock()
			t.err = fmt.Errorf("watching %s: %w", path, err)
			t.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (t *tracker) onAccount(ev watchEvent) {
	o := &ev.Object
	done := ev.Type != "DELETED" && o.Status.Health != nil && o.Status.Health.PlanGeneration == t.generation
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Type == "MODIFIED" {
		t.accountWrites++
		t.lastWrite = time.Now()
	}
	t.trackStage(ev)
	if was := t.evaluated[o.Metadata.Name]; was != done {
		if done {
			t.nEval++
		} else {
			t.nEval--
		}
	}
	if done {
		t.evaluated[o.Metadata.Name] = true
	} else {
		delete(t.evaluated, o.Metadata.Name)
	}
	if p := t.probe; p != nil && p.seen.IsZero() && o.Metadata.Name == p.account && o.Status.Health != nil {
		for _, m := range o.Status.Health.Measures {
			if v, err := strconv.ParseFloat(m.Value, 64); m.Name == p.measure && err == nil && v == p.value {
				p.seen = time.Now()
			}
		}
	}
}

// trackStage keeps the account's stage and counts a MODIFIED event that
// moves it from one stage to another. The caller holds t.mu.
func (t *tracker) trackStage(ev watchEvent) {
	o := &ev.Object
	if ev.Type == "MODIFIED" {
		if was := t.stages[o.Metadata.Name]; was != "" && o.Status.Stage != "" && was != o.Status.Stage {
			t.stageChanges++
		}
	}
	if ev.Type == "DELETED" || o.Status.Stage == "" {
		delete(t.stages, o.Metadata.Name)
		return
	}
	name, ok := t.stageNames[o.Status.Stage]
	if !ok {
		name = o.Status.Stage
		t.stageNames[name] = name
	}
	t.stages[o.Metadata.Name] = name
}

func (t *tracker) onPlan(ev watchEvent) {
	if ev.Object.Metadata.Name != planName {
		return
	}
	o := &ev.Object
	var banded int32
	for _, n := range o.Status.Bands {
		banded += n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Type == "MODIFIED" {
		t.planWrites++
		t.lastWrite = time.Now()
	}
	t.plan = planCounts{generation: o.Metadata.Generation, observed: o.Status.ObservedGeneration,
		accounts: o.Status.Accounts, banded: banded}
}

func (t *tracker) snapshot() snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snapshot{evaluated: t.nEval, plan: t.plan, accountWrites: t.accountWrites,
		planWrites: t.planWrites, lastWrite: t.lastWrite, stageChanges: t.stageChanges}
}

// inStage counts the accounts whose status says they are in stage.
func (t *tracker) inStage(stage string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.stages {
		if s == stage {
			n++
		}
	}
	return n
}

// waitFor polls the tracker until cond holds, and fails after timeout,
// when a watch fails, or when alive (if not nil) fails.
func (t *tracker) waitFor(ctx context.Context, what string, timeout time.Duration, alive func() error, cond func(snapshot) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		s := t.snapshot()
		if cond(s) {
			return nil
		}
		t.mu.Lock()
		err := t.err
		t.mu.Unlock()
		if err == nil && alive != nil {
			err = alive()
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not reached within %s (%d accounts evaluated, plan %+v)", what, timeout, s.evaluated, s.plan)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// watchMeasure starts waiting for account's measure to show value.
func (t *tracker) watchMeasure(account, measure string, value float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.probe = &probe{account: account, measure: measure, value: value}
}

// measureSeen returns when the watched value was first seen, zero if not yet.
func (t *tracker) measureSeen() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.probe == nil {
		return time.Time{}
	}
	return t.probe.seen
}
