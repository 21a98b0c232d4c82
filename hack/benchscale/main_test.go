package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestMain runs the bare status loop, or the manager with a shifted
// clock, when the benchmark re-executes this test binary as one.
func TestMain(m *testing.M) {
	if path := os.Getenv(bareEnv); path != "" {
		os.Exit(bareMain(path))
	}
	if offset := os.Getenv(clockEnv); offset != "" {
		os.Exit(clockManagerMain(offset, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestBenchmarkCounts runs the benchmark on 200 accounts, once, so that it
// keeps working, and checks the counts it measures, never its times: a
// settled fleet causes no write, Prometheus answers one query per measure
// per interval, a cold start records at most one Event per account, a
// restart over an evaluated fleet writes nothing, and at midnight every
// account whose stage reads account.daysToRenewal is evaluated once and
// only those that change stage are written.
func TestBenchmarkCounts(t *testing.T) {
	const n = 200
	cfg := defaultConfig()
	cfg.Sizes, cfg.Runs = []int{n}, 1
	// The shortest interval the API allows, and an idle window longer than
	// a value's default staleAfter (three intervals): the figures are
	// counts, and the window covers every timer an evaluated value sets.
	cfg.Interval, cfg.IdleIntervals = 10*time.Second, 4
	cfg.Quiet = 3 * time.Second
	var log bytes.Buffer
	cfg.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	results, err := run(ctx, cfg)
	var out bytes.Buffer
	if len(results) > 0 {
		report(&out, cfg, results)
	}
	t.Logf("progress:\n%s\n%s", log.String(), out.String())
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Evaluated != n {
		t.Errorf("%d of %d accounts evaluated", r.Evaluated, n)
	}
	if r.RealMidnight {
		// The fleet's day counts changed in a window that expects nothing.
		t.Log("a real midnight fell in the idle window or the restart: their counts are not checked")
	} else {
		checkSteady(t, r)
	}
	if e := r.ColdStartEvents; e.total() > n {
		t.Errorf("cold start: %d Events for %d accounts (%.2f per account: %s), want at most 1 per account",
			e.total(), n, float64(e.total())/n, e)
	}
	if e := r.RestartEvents; e.total() != 0 {
		t.Errorf("restart: %d Events (%s), want 0", e.total(), e)
	}
	checkMidnight(t, &r.Midnight)
	for _, note := range r.Notes {
		t.Log("Note: " + note)
	}
}

// checkSteady checks the idle window and the restart: nothing written,
// no reconcile, one query per interval.
func checkSteady(t *testing.T, r *result) {
	t.Helper()
	if r.Idle.total() != 0 {
		t.Errorf("idle: %s status writes in %d interval(s), want 0", writesCell(r.Idle), r.IdleIntervals)
	}
	if r.IdleReconciles != 0 {
		t.Errorf("idle: %d account reconciles in %d interval(s), want 0", r.IdleReconciles, r.IdleIntervals)
	}
	if got := queriesPerInterval(r); got != promMeasures {
		t.Errorf("idle: %.1f Prometheus queries per interval, want %d (one per Prometheus measure)", got, promMeasures)
	}
	if r.Restart.total() != 0 {
		t.Errorf("restart: %s status writes, want 0", writesCell(r.Restart))
	}
}

// checkMidnight checks the midnight pass: the restart before it writes
// nothing; each account whose stage reads account.daysToRenewal is
// evaluated once; the accounts reaching the renewal window, and only
// they, change stage and are written.
func checkMidnight(t *testing.T, p *midnightPass) {
	t.Helper()
	if !p.Ran {
		t.Fatal("the midnight pass did not run")
	}
	if p.Restart.total() != 0 {
		t.Errorf("midnight: the restart before it made %s status writes, want 0", writesCell(p.Restart))
	}
	if p.Woken == 0 || p.Reconciles != int64(p.Woken) {
		t.Errorf("midnight: %d account reconciles, want one for each of the %d accounts outside %s", p.Reconciles, p.Woken, renewalStage)
	}
	if p.Expected == 0 {
		t.Errorf("midnight: no account reaches %d days to renewal; the fixture should have one", renewalWindow)
	}
	if p.StageChanges != int64(p.Expected) || p.Writes.accounts != int64(p.Expected) {
		t.Errorf("midnight: %d stage changes and %d account status writes, want %d each (the accounts reaching %d days to renewal)",
			p.StageChanges, p.Writes.accounts, p.Expected, renewalWindow)
	}
}
