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
// per account, and never modifies one. A change that keeps the account's
// spec (its metadata.generation), such as the operator's own status
// writes, moves only what the status says: the ledger is read again only
// when the at-risk flag flips, for the MRR it moves. It is safe for
// concurrent use.
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
	// unevaluated counts, per namespace, the accounts whose status does not
	// describe their spec yet (status.observedGeneration behind
	// metadata.generation).
	unevaluated map[string]int
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{plans: map[types.NamespacedName]*plan{}, accounts: map[types.NamespacedName]*csv1alpha1.CustomerAccount{},
		unevaluated: map[string]int{}}
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
	standing
	// mrr is nil when the ledger cannot be summed: the account is left out
	// of MRR, MRR at risk and the KPIs.
	mrr *big.Rat
	// sums are the account's KPI figures; nil when its ledger or
	// acquisition cost is invalid (kpiErr), which fails the plan's KPIs.
	sums   *kpi.Sums
	kpiErr error
}

// standing is the part of a contribution the account's status decides.
type standing struct {
	stage string
	band  csv1alpha1.Band
	// waits: the account is evaluated by the operator (not suspended, not
	// stalled); generation is the plan generation of its score, 0 when
	// unscored.
	waits      bool
	generation int64
	// atRisk: AtRisk or Red; its MRR counts as at risk.
	atRisk bool
}

func standingOf(a *csv1alpha1.CustomerAccount) standing {
	s := standing{stage: a.Status.Stage}
	if h := a.Status.Health; h != nil {
		s.band, s.generation = h.Band, h.PlanGeneration
	}
	s.waits = !a.Spec.Suspend && !meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.StalledCondition)
	s.atRisk = evaluate.AtRisk(a.Status.Conditions, a.Status.Health)
	return s
}

func contributionOf(a *csv1alpha1.CustomerAccount, w window) contribution {
	c := contribution{standing: standingOf(a)}
	mrr, _, err := kpi.MRR(a.Spec.Contract.Revenue, w.end)
	if err != nil {
		return c
	}
	c.mrr = mrr
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
	if c.standing != o.standing || (c.mrr == nil) != (o.mrr == nil) || (c.sums == nil) != (o.sums == nil) ||
		(c.kpiErr == nil) != (o.kpiErr == nil) {
		return false
	}
	if c.mrr != nil && c.mrr.Cmp(o.mrr) != 0 {
		return false
	}
	return c.sums == nil || c.sums.Equal(o.sums)
}

// sameSpec reports whether two objects of an account carry the same spec:
// the API server gives every new spec a new generation (an object it did
// not store, of generation 0, is never taken for the same).
func sameSpec(a, b *csv1alpha1.CustomerAccount) bool {
	return a.Generation == b.Generation && a.Generation != 0
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
	t.count(c.standing, n)
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

// count adds the counts of a standing to t, n being 1 or -1.
func (t *totals) count(s standing, n int32) {
	if s.stage != "" {
		t.stages[s.stage] += n
	}
	if s.band != "" {
		t.bands[s.band] += n
	}
	if s.waits {
		t.waiting += n
		t.byGeneration[s.generation] += n
	}
}

// restand moves an account of an unchanged spec from one standing to
// another; mrr returns its MRR (nil when its ledger cannot be summed), read
// only when the at-risk flag flips.
func (t *totals) restand(from, to standing, mrr func() *big.Rat) {
	t.count(from, -1)
	t.count(to, 1)
	if from.atRisk == to.atRisk {
		return
	}
	if m := mrr(); m != nil {
		if to.atRisk {
			add(t.atRisk, m, 1)
		} else {
			add(t.atRisk, m, -1)
		}
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
// contribution to it changed. completed reports that the change finished
// the evaluation of the plan its status.plan names: afterwards, and not
// before, no account of the namespace awaits the evaluation of its spec
// and every account the plan evaluates is scored with one plan
// generation, this account's. Such a change is worth a recount at once:
// it is the last of a burst.
func (b *Book) Observe(a *csv1alpha1.CustomerAccount) (changed []types.NamespacedName, completed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := types.NamespacedName{Namespace: a.Namespace, Name: a.Name}
	old := b.accounts[key]
	target, generation := types.NamespacedName{Namespace: a.Namespace, Name: a.Status.Plan}, int64(0)
	if a.Status.Health != nil {
		generation = a.Status.Health.PlanGeneration
	}
	before := b.evaluated(target, generation)
	b.accounts[key] = a
	b.count(old, -1)
	b.count(a, 1)
	changed = b.move(old, a)
	return changed, len(changed) > 0 && !before && b.evaluated(target, generation)
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
	b.count(old, -1)
	return b.move(old, nil)
}

// count adds n to the unevaluated accounts of a's namespace when a's
// status is behind its spec; a nil a counts nothing.
func (b *Book) count(a *csv1alpha1.CustomerAccount, n int) {
	if a == nil || a.Status.ObservedGeneration == a.Generation {
		return
	}
	b.unevaluated[a.Namespace] += n
	if b.unevaluated[a.Namespace] == 0 {
		delete(b.unevaluated, a.Namespace)
	}
}

// evaluated reports whether no account of the plan's namespace awaits the
// evaluation of its spec and every account the plan evaluates is scored
// with plan generation g; false before the plan's first Snapshot.
func (b *Book) evaluated(key types.NamespacedName, g int64) bool {
	p := b.plans[key]
	if key.Name == "" || g == 0 || p == nil || p.totals == nil || b.unevaluated[key.Namespace] > 0 {
		return false
	}
	return p.totals.waiting == p.totals.byGeneration[g]
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
		if sameSpec(old, cur) {
			before, after := standingOf(old), standingOf(cur)
			if before == after {
				return nil
			}
			p.totals.restand(before, after, func() *big.Rat {
				mrr, _, err := kpi.MRR(cur.Spec.Contract.Revenue, p.w.end)
				if err != nil {
					return nil
				}
				return mrr
			})
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
