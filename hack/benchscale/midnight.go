package main

import (
	"context"
	"fmt"
	"time"
)

// day is the unit of the accounts' day counts.
const day = 24 * time.Hour

// midnightPass is what the manager did when the day changed under a
// settled fleet whose plan reads account.daysToRenewal.
type midnightPass struct {
	// Ran is set once the phase ran.
	Ran bool
	// Offset is the shift of the manager's clock, Lead how long before
	// its midnight the manager started.
	Offset, Lead time.Duration
	// Restart are the status writes from the manager's start, Lead
	// before its midnight, until it was idle.
	Restart writes
	// Woken is how many accounts were outside the renewal stage before
	// midnight: their stage reads account.daysToRenewal (the renewal
	// stage's enterWhen), so each is evaluated once when the day changes.
	Woken int
	// Expected is how many accounts reach renewalWindow days to renewal
	// at midnight: the fleet's dates say so.
	Expected int
	// Reconciles are the account reconciles of the pass, StageChanges the
	// accounts whose stage changed, Writes its status writes.
	Reconciles   int64
	StageChanges int64
	Writes       writes
	// CPU is the manager's CPU time from a second before midnight to the
	// pass's last reconcile, Took the time from midnight to it.
	CPU, Took time.Duration
}

// midnight stops the manager old, which has evaluated the fleet, and
// starts the manager with a shifted clock (see clockManagerMain) that
// reads, lead after it starts, the first midnight UTC after now: the
// fleet was last evaluated the same day, and the restart finds it as it
// is. The shift is less than a day either way. Once the restart is idle
// it waits for that midnight and measures the pass it causes: the
// account reconciles, the stage changes, the status writes and the CPU,
// until no reconcile ran for idleFor and nothing was written for Quiet.
// Only the accounts whose stage reads a day count are evaluated again;
// only those whose stage changed are written.
func (b *bench) midnight(ctx context.Context, old *process) error {
	// The latency phase restored the first account's value as it ended:
	// the restart must find its status showing it.
	b.tracker.watchMeasure(accountName(0), usageMeasure, usage(0))
	if err := b.tracker.waitFor(ctx, "the first account's restored value", 3*b.cfg.Interval+5*b.cfg.Scrape+30*time.Second,
		old.running, func(snapshot) bool { return !b.tracker.measureSeen().IsZero() }); err != nil {
		b.note("midnight: %v", err)
	}
	if err := old.stop(); err != nil {
		return err
	}
	mp := &b.res.Midnight
	mp.Ran = true
	// The restart before midnight re-evaluates the fleet as the restart
	// phase did: half as long again, and two intervals, leave it idle.
	mp.Lead = max(time.Minute, b.restartTook*3/2+2*b.cfg.Interval)
	now := time.Now()
	midnight := now.Truncate(day).Add(day)
	atMidnight := now.Add(mp.Lead) // when the manager's clock reads midnight
	mp.Offset = midnight.Sub(atMidnight)
	for i := range b.n {
		if renewalDate(i, b.created).Equal(midnight.AddDate(0, 0, renewalWindow+1)) {
			mp.Expected++
		}
	}
	// The accounts entered their first stage during the first cold start;
	// their stage.days change a whole number of days later.
	passBound := b.cfg.coldStartTimeout(b.n)
	for k := 1; k <= 2; k++ {
		from, to := b.placed[0].Add(time.Duration(k)*day), b.placed[1].Add(time.Duration(k)*day)
		if to.After(midnight.Add(-mp.Lead)) && from.Before(midnight.Add(passBound)) {
			b.note("midnight: the accounts' stage.days change near the midnight measured too (they entered their stage around a midnight UTC)")
		}
	}
	b.log("Midnight: the manager's clock is shifted by %s, to meet midnight UTC %s in %s; %d accounts reach %d days to renewal then",
		mp.Offset.Round(time.Second), midnight.Format(time.DateTime), mp.Lead, mp.Expected, renewalWindow)

	s0 := b.tracker.snapshot()
	q0, err := b.promQueries(ctx)
	if err != nil {
		return err
	}
	m, err := b.startClockManager(mp.Offset)
	if err != nil {
		return err
	}
	defer func() { _ = m.stop() }()
	if err := b.waitIdleManager(ctx, m, q0, time.Until(atMidnight)-2*time.Second); err != nil {
		b.note("midnight: the restart was not idle before midnight: %v", err)
	}
	mp.Restart = b.tracker.snapshot().since(s0)
	if !sleep(ctx, time.Until(atMidnight.Add(-time.Second))) {
		return ctx.Err()
	}

	mp.Woken = b.n - b.tracker.inStage(renewalStage)
	s1 := b.tracker.snapshot()
	cpu0, err := m.cpu()
	if err != nil {
		return err
	}
	r0, err := accountReconciles(ctx, m)
	if err != nil {
		return err
	}
	b.log("Midnight: %d accounts outside %s", mp.Woken, renewalStage)
	last, cpu1, r1, err := b.waitPass(ctx, m, atMidnight, r0, mp.Woken > 0, passBound)
	if err != nil {
		return err
	}
	s2 := b.tracker.snapshot()
	mp.Reconciles, mp.CPU = int64(r1-r0), cpu1-cpu0
	mp.Took = max(last.Sub(atMidnight), 0)
	mp.StageChanges, mp.Writes = s2.stageChanges-s1.stageChanges, s2.since(s1)
	b.log("Midnight pass: %d reconciles, %d stage changes, %s status writes, CPU %.2fs, last reconcile %.1fs after midnight",
		mp.Reconciles, mp.StageChanges, writesCell(mp.Writes), mp.CPU.Seconds(), mp.Took.Seconds())
	return m.stop()
}

// waitPass waits, reading the manager's metrics, for the pass that
// starts at midnight (real time) to end: the manager reconciled an account
// after midnight (when woken, some account's stage reads a day count),
// its queues have been empty and no reconcile ran for idleFor, and no
// status was written for Quiet. It returns when the last reconcile after
// midnight was seen, the CPU time then and the reconcile count.
func (b *bench) waitPass(ctx context.Context, m *process, midnight time.Time, r0 float64, woken bool, bound time.Duration) (time.Time, time.Duration, float64, error) {
	deadline := midnight.Add(bound)
	last, lastCount := time.Time{}, r0
	var lastCPU time.Duration
	for {
		if !sleep(ctx, 250*time.Millisecond) {
			return last, lastCPU, lastCount, ctx.Err()
		}
		if err := m.running(); err != nil {
			return last, lastCPU, lastCount, err
		}
		body, err := scrape(ctx, m.metrics)
		if err != nil {
			return last, lastCPU, lastCount, fmt.Errorf("reading the manager's metrics: %w", err)
		}
		reconciled := sumSeries(body, "controller_runtime_reconcile_total", `controller="customeraccount"`)
		busy := sumSeries(body, "workqueue_depth") > 0 || sumSeries(body, "controller_runtime_active_workers") > 0
		if reconciled > lastCount || lastCPU == 0 {
			if lastCPU, err = m.cpu(); err != nil {
				return last, lastCPU, lastCount, err
			}
			if reconciled > lastCount && time.Now().After(midnight) {
				last = time.Now()
			}
			lastCount = reconciled
		}
		quiet := time.Since(b.tracker.snapshot().lastWrite) >= b.cfg.Quiet
		after := time.Since(midnight) >= idleFor
		if after && !busy && quiet && (!woken || (!last.IsZero() && time.Since(last) >= idleFor)) {
			return last, lastCPU, lastCount, nil
		}
		if time.Now().After(deadline) {
			b.note("midnight: the pass did not end within %s of midnight", bound)
			return last, lastCPU, lastCount, nil
		}
	}
}

// realMidnight notes that a midnight UTC fell in a phase measured with
// the real clock, from from to to: every account outside the renewal
// stage was evaluated again there, and the accounts reaching the renewal
// window moved.
func (b *bench) realMidnight(phase string, from, to time.Time) {
	if from.Truncate(day).Equal(to.Truncate(day)) {
		return
	}
	b.res.RealMidnight = true
	b.note("a midnight UTC fell in %s: the accounts' day counts changed there", phase)
}
