// Package portfolio keeps each plan's portfolio (account counts per stage
// and band, MRR, MRR at risk, the KPIs' sums, the accounts awaiting
// evaluation) up to date from account changes, one account at a time: a
// change subtracts the account's old contribution and adds its new one,
// so a plan's recount costs nothing in the number of its accounts. Only a
// new period window (a new day, or a new kpiPeriod) sums a plan's accounts
// again.
//
// A Book is fed from the informer's events with the objects the cache
// holds: it keeps a pointer to each account's latest object, one map entry
// per account, and never modifies one. It is safe for concurrent use.
package portfolio

import (
	"math/big"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/kpi"
)

// Book holds the portfolios of the plans of any namespaces.
type Book struct {
	mu    sync.Mutex
	plans map[types.NamespacedName]*plan
	// accounts are the latest objects seen, by key.
	accounts map[types.NamespacedName]*csv1alpha1.CustomerAccount
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{plans: map[types.NamespacedName]*plan{}, accounts: map[types.NamespacedName]*csv1alpha1.CustomerAccount{}}
}

// plan is the summed contributions of one plan's accounts over one
// window.
type plan struct {
	// members counts the accounts whose status.plan names the plan.
	members int
	// w is the window the totals are summed over; totals is nil until the
	// plan's first Snapshot, and after a change of window until the next.
	w      window
	totals *totals
}

// window is what an account's contribution depends on besides the account:
// the calendar days that bound the KPI period and date the MRR.
type window struct {
	end    time.Time
	period time.Duration
	// today and start are the calendar days of end and end-period.
	today, start time.Time
}

func newWindow(now time.Time, period time.Duration) window {
	return window{end: now, period: period, today: day(now), start: day(now.Add(-period))}
}

// same reports whether two windows give every account the same
// contribution.
func (w window) same(o window) bool {
	return w.period == o.period && w.today.Equal(o.today) && w.start.Equal(o.start)
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// contribution is what one account adds to its plan's portfolio.
type contribution struct {
	stage string
	band  csv1alpha1.Band
	// waits: the account is evaluated by the operator (not suspended, not
	// stalled); generation is the plan generation of its score, 0 when
	// unscored.
	waits      bool
	generation int64
	// mrr is nil when the ledger cannot be summed: the account is left out
	// of MRR, MRR at risk and the KPIs.
	mrr    *big.Rat
	atRisk bool
	// sums are the account's KPI figures; nil when its ledger or
	// acquisition cost is invalid (kpiErr), which fails the plan's KPIs.
	sums   *kpi.Sums
	kpiErr error
}

func contributionOf(a *csv1alpha1.CustomerAccount, w window) contribution {
	c := contribution{stage: a.Status.Stage}
	if h := a.Status.Health; h != nil {
		c.band, c.generation = h.Band, h.PlanGeneration
	}
	c.waits = !a.Spec.Suspend && !meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.StalledCondition)
	mrr, _, err := kpi.MRR(a.Spec.Contract.Revenue, w.end)
	if err != nil {
		return c
	}
	c.mrr = mrr
	c.atRisk = evaluate.AtRisk(a.Status.Conditions, a.Status.Health)
	sums, err := kpi.NewSums(w.end, w.period)
	if err == nil {
		err = sums.Add(kpi.Account{Ledger: a.Spec.Contract.Revenue, Surveys: a.Spec.Signals.Surveys,
			AcquisitionCost: a.Spec.Contract.AcquisitionCost})
	}
	if err != nil {
		c.kpiErr = err
		return c
	}
	c.sums = sums
	return c
}

// equal reports whether two contributions add the same to a portfolio.
func (c contribution) equal(o contribution) bool {
	if c.stage != o.stage || c.band != o.band || c.waits != o.waits || c.generation != o.generation ||
		c.atRisk != o.atRisk || (c.mrr == nil) != (o.mrr == nil) || (c.sums == nil) != (o.sums == nil) ||
		(c.kpiErr == nil) != (o.kpiErr == nil) {
		return false
	}
	if c.mrr != nil && c.mrr.Cmp(o.mrr) != 0 {
		return false
	}
	return c.sums == nil || c.sums.Equal(o.sums)
}

// totals are a plan's summed contributions.
type totals struct {
	accounts int32
	stages   map[string]int32
	bands    map[csv1alpha1.Band]int32
	// waiting counts the accounts the operator evaluates, scored by
	// generation.
	waiting      int32
	byGeneration map[int64]int32
	mrr, atRisk  *big.Rat
	sums         *kpi.Sums
	// kpiErrs counts the accounts whose figures could not be summed, and
	// kpiErr is one of their errors.
	kpiErrs int32
	kpiErr  error
}

func newTotals(w window) *totals {
	t := &totals{stages: map[string]int32{}, bands: map[csv1alpha1.Band]int32{}, byGeneration: map[int64]int32{},
		mrr: new(big.Rat), atRisk: new(big.Rat)}
	t.sums, t.kpiErr = kpi.NewSums(w.end, w.period)
	return t
}

// apply adds c to t, or subtracts it when sign is negative.
func (t *totals) apply(c contribution, sign int) {
	n := int32(1)
	if sign < 0 {
		n = -1
	}
	t.accounts += n
	if c.stage != "" {
		t.stages[c.stage] += n
	}
	if c.band != "" {
		t.bands[c.band] += n
	}
	if c.waits {
		t.waiting += n
		t.byGeneration[c.generation] += n
	}
	if c.mrr != nil {
		add(t.mrr, c.mrr, n)
		if c.atRisk {
			add(t.atRisk, c.mrr, n)
		}
	}
	switch {
	case c.kpiErr != nil:
		t.kpiErrs += n
		if n > 0 {
			t.kpiErr = c.kpiErr
		}
	case c.sums != nil && t.sums != nil:
		t.sums.Merge(c.sums, sign)
	}
}

func add(sum, x *big.Rat, sign int32) {
	if sign < 0 {
		sum.Sub(sum, x)
		return
	}
	sum.Add(sum, x)
}

// Observe records the latest object of an account, created or changed,
// and returns the plans whose portfolio it changed: the plan its
// status.plan names before and after the change, when the account's
// contribution to it changed.
func (b *Book) Observe(a *csv1alpha1.CustomerAccount) []types.NamespacedName {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := types.NamespacedName{Namespace: a.Namespace, Name: a.Name}
	old := b.accounts[key]
	b.accounts[key] = a
	return b.move(old, a)
}

// Forget drops a deleted account and returns the plan whose portfolio it
// changed.
func (b *Book) Forget(a *csv1alpha1.CustomerAccount) []types.NamespacedName {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := types.NamespacedName{Namespace: a.Namespace, Name: a.Name}
	old, ok := b.accounts[key]
	if !ok {
		return nil
	}
	delete(b.accounts, key)
	return b.move(old, nil)
}

// move replaces account old (nil when new) by cur (nil when deleted) in
// the plans they name.
func (b *Book) move(old, cur *csv1alpha1.CustomerAccount) []types.NamespacedName {
	var from, to types.NamespacedName
	if old != nil && old.Status.Plan != "" {
		from = types.NamespacedName{Namespace: old.Namespace, Name: old.Status.Plan}
	}
	if cur != nil && cur.Status.Plan != "" {
		to = types.NamespacedName{Namespace: cur.Namespace, Name: cur.Status.Plan}
	}
	if from == to && from.Name != "" {
		p := b.plans[from]
		if p.totals == nil {
			return []types.NamespacedName{from}
		}
		before, after := contributionOf(old, p.w), contributionOf(cur, p.w)
		if before.equal(after) {
			return nil
		}
		p.totals.apply(before, -1)
		p.totals.apply(after, 1)
		return []types.NamespacedName{from}
	}
	var changed []types.NamespacedName
	if from.Name != "" {
		p := b.plans[from]
		p.members--
		if p.totals != nil {
			p.totals.apply(contributionOf(old, p.w), -1)
		}
		if p.members == 0 {
			delete(b.plans, from)
		}
		changed = append(changed, from)
	}
	if to.Name != "" {
		p := b.plans[to]
		if p == nil {
			p = &plan{}
			b.plans[to] = p
		}
		p.members++
		if p.totals != nil {
			p.totals.apply(contributionOf(cur, p.w), 1)
		}
		changed = append(changed, to)
	}
	return changed
}

// Snapshot is a plan's portfolio at one moment.
type Snapshot struct {
	// Accounts counts the accounts whose status.plan names the plan.
	Accounts int32
	// Stages and Bands count them per stage and health band (those without
	// one are not counted).
	Stages map[string]int32
	Bands  map[csv1alpha1.Band]int32
	// Pending counts the accounts not yet evaluated with the plan's
	// generation; suspended and stalled accounts wait for a spec change,
	// not for the operator.
	Pending int32
	// MRR and MRRAtRisk sum the MRR as of now of the accounts, and of
	// those AtRisk or Red; accounts whose ledger cannot be summed are left
	// out.
	MRR, MRRAtRisk *big.Rat
	// Portfolio are the KPIs' figures over the period; KPIErr is set, and
	// Portfolio empty, when an account's figures could not be summed.
	Portfolio kpi.Portfolio
	KPIErr    error
}

// Snapshot returns the portfolio of a plan of the given generation as of
// now over the KPI period. A new window (once a day) sums the plan's
// accounts again, looking at every account of the book; otherwise it costs
// nothing in their number.
func (b *Book) Snapshot(key types.NamespacedName, generation int64, now time.Time, period time.Duration) Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.plans[key]
	if p == nil {
		p = &plan{}
	}
	w := newWindow(now, period)
	if p.totals == nil || !p.w.same(w) {
		p.w, p.totals = w, newTotals(w)
		for k, a := range b.accounts {
			if k.Namespace == key.Namespace && a.Status.Plan == key.Name {
				p.totals.apply(contributionOf(a, w), 1)
			}
		}
	}
	if p.members > 0 {
		b.plans[key] = p
	}
	t := p.totals
	s := Snapshot{
		Accounts: t.accounts, Stages: make(map[string]int32, len(t.stages)), Bands: make(map[csv1alpha1.Band]int32, len(t.bands)),
		Pending: t.waiting - t.byGeneration[generation],
		MRR:     new(big.Rat).Set(t.mrr), MRRAtRisk: new(big.Rat).Set(t.atRisk),
	}
	for k, v := range t.stages {
		if v != 0 {
			s.Stages[k] = v
		}
	}
	for k, v := range t.bands {
		if v != 0 {
			s.Bands[k] = v
		}
	}
	switch {
	case t.sums == nil:
		s.KPIErr = t.kpiErr
	case t.kpiErrs > 0:
		s.KPIErr = t.kpiErr
	default:
		s.Portfolio = t.sums.Portfolio()
		s.Portfolio.Start, s.Portfolio.End = now.Add(-period), now
	}
	return s
}
