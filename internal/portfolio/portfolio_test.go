package portfolio

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/kpi"
)

const ns = "team"

var (
	t0    = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	plans = []string{"smb", "enterprise", ""}
)

// recount is the portfolio summed from scratch over every account, the
// definition the Book must agree with.
func recount(accts map[string]*csv1alpha1.CustomerAccount, plan string, generation int64, now time.Time, period time.Duration) Snapshot {
	s := Snapshot{Stages: map[string]int32{}, Bands: map[csv1alpha1.Band]int32{}, MRR: new(big.Rat), MRRAtRisk: new(big.Rat)}
	var inputs []kpi.Account
	for _, a := range accts {
		if a.Status.Plan != plan {
			continue
		}
		s.Accounts++
		if a.Status.Stage != "" {
			s.Stages[a.Status.Stage]++
		}
		if h := a.Status.Health; h != nil && h.Band != "" {
			s.Bands[h.Band]++
		}
		stalled := meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.StalledCondition)
		if !a.Spec.Suspend && !stalled && (a.Status.Health == nil || a.Status.Health.PlanGeneration != generation) {
			s.Pending++
		}
		mrr, _, err := kpi.MRR(a.Spec.Contract.Revenue, now)
		if err != nil {
			continue
		}
		s.MRR.Add(s.MRR, mrr)
		if evaluate.AtRisk(a.Status.Conditions, a.Status.Health) {
			s.MRRAtRisk.Add(s.MRRAtRisk, mrr)
		}
		inputs = append(inputs, kpi.Account{Ledger: a.Spec.Contract.Revenue, Surveys: a.Spec.Signals.Surveys,
			AcquisitionCost: a.Spec.Contract.AcquisitionCost})
	}
	s.Portfolio, s.KPIErr = kpi.Aggregate(inputs, now, period)
	return s
}

// randomAccount returns an account with random plan, stage, health,
// conditions, ledger, surveys and acquisition cost, invalid ones included.
func randomAccount(r *rand.Rand, name string) *csv1alpha1.CustomerAccount {
	a := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	a.Status.Plan = plans[r.IntN(len(plans))]
	a.Status.Stage = []string{"", "Onboarding", "Adoption", csv1alpha1.StageChurned}[r.IntN(4)]
	if r.IntN(4) > 0 {
		a.Status.Health = &csv1alpha1.HealthStatus{
			Band:           []csv1alpha1.Band{"", csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed}[r.IntN(4)],
			PlanGeneration: int64(r.IntN(3)),
		}
	}
	a.Spec.Suspend = r.IntN(6) == 0
	for _, c := range []string{csv1alpha1.StalledCondition, csv1alpha1.AtRiskCondition} {
		if r.IntN(4) == 0 {
			meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Test"})
		}
	}
	types := []csv1alpha1.LedgerEntryType{csv1alpha1.LedgerNew, csv1alpha1.LedgerExpansion, csv1alpha1.LedgerContraction,
		csv1alpha1.LedgerChurn, csv1alpha1.LedgerReactivation}
	for range r.IntN(5) {
		amount := fmt.Sprintf("%d.%02d", r.IntN(3000), r.IntN(100))
		if r.IntN(40) == 0 {
			amount = "-1" // rejected by the KPIs
		}
		a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue, csv1alpha1.LedgerEntry{
			Date:   csv1alpha1.Date(t0.AddDate(0, 0, r.IntN(240)-180).Format(kpi.DateLayout)),
			Type:   types[r.IntN(len(types))],
			Amount: csv1alpha1.Decimal(amount),
		})
	}
	switch r.IntN(8) {
	case 0:
		a.Spec.Contract.AcquisitionCost = "1200.50"
	case 1:
		a.Spec.Contract.AcquisitionCost = "-3" // rejected by the KPIs
	}
	if r.IntN(2) == 0 {
		nps := make([]int32, 11)
		for i := range nps {
			nps[i] = int32(r.IntN(5))
		}
		a.Spec.Signals.Surveys.NPS = nps
	}
	return a
}

// TestBookEqualsRecount drives a Book through random sequences of account
// creations, changes (plan, stage, band, conditions, ledger, surveys),
// deletions, passing days and period changes, and checks after every step
// that each plan's snapshot equals the portfolio summed from scratch.
func TestBookEqualsRecount(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			b := NewBook()
			accts := map[string]*csv1alpha1.CustomerAccount{}
			now, period := t0, 90*24*time.Hour
			for step := range 300 {
				name := fmt.Sprintf("a%d", r.IntN(25))
				var changed []types.NamespacedName
				what := ""
				switch k := r.IntN(20); {
				case k < 12:
					a := randomAccount(r, name)
					// As the API server stores it: a new spec is a new
					// generation, a status-only change keeps both.
					a.Generation = 1
					if cur, ok := accts[name]; ok {
						a.Generation = cur.Generation + 1
						if r.IntN(2) == 0 {
							a.Spec, a.Generation = *cur.Spec.DeepCopy(), cur.Generation
						}
					}
					what = "observe " + name
					accts[name] = a
					changed, _ = b.Observe(a)
				case k < 15:
					if cur, ok := accts[name]; ok {
						what = "forget " + name
						delete(accts, name)
						changed = b.Forget(cur.DeepCopy())
					}
				case k < 16:
					// The same object again (a resync) changes nothing.
					if cur, ok := accts[name]; ok {
						what = "resync " + name
						if got, _ := b.Observe(cur.DeepCopy()); len(got) != 0 {
							t.Fatalf("step %d: a resync changed %v", step, got)
						}
					}
				case k < 19:
					now = now.Add(time.Duration(r.IntN(30)) * time.Hour)
					what = "now " + now.String()
				default:
					period = time.Duration(30+r.IntN(120)) * 24 * time.Hour
					what = "period " + period.String()
				}
				_ = changed
				for _, plan := range plans[:2] {
					for gen := int64(1); gen <= 2; gen++ {
						key := types.NamespacedName{Namespace: ns, Name: plan}
						got, want := b.Snapshot(key, gen, now, period), recount(accts, plan, gen, now, period)
						if msg := diff(got, want); msg != "" {
							t.Fatalf("step %d (%s), plan %s generation %d: %s", step, what, plan, gen, msg)
						}
					}
				}
			}
		})
	}
}

// TestObserveReportsChanges checks which plans a change reports: those
// whose portfolio moved, and none for a change that moves nothing.
func TestObserveReportsChanges(t *testing.T) {
	smb, ent := types.NamespacedName{Namespace: ns, Name: "smb"}, types.NamespacedName{Namespace: ns, Name: "enterprise"}
	b := NewBook()
	acme := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"}}
	acme.Status.Plan = "smb"
	acme.Status.Health = &csv1alpha1.HealthStatus{Band: csv1alpha1.BandGreen, Score: 80, PlanGeneration: 1}
	for _, tc := range []struct {
		name   string
		change func(a *csv1alpha1.CustomerAccount)
		want   []types.NamespacedName
	}{
		{"a new account", func(*csv1alpha1.CustomerAccount) {}, []types.NamespacedName{smb}},
		{"a score within the band moves nothing", func(a *csv1alpha1.CustomerAccount) { a.Status.Health.Score = 82 }, nil},
		{"a new band", func(a *csv1alpha1.CustomerAccount) { a.Status.Health.Band = csv1alpha1.BandRed }, []types.NamespacedName{smb}},
		{"another plan", func(a *csv1alpha1.CustomerAccount) { a.Status.Plan = "enterprise" }, []types.NamespacedName{smb, ent}},
		{"a label moves nothing", func(a *csv1alpha1.CustomerAccount) { a.Labels = map[string]string{"tier": "gold"} }, nil},
	} {
		next := acme.DeepCopy()
		tc.change(next)
		got, _ := b.Observe(next)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
		acme = next
		b.Snapshot(smb, 1, t0, 24*time.Hour)
		b.Snapshot(ent, 1, t0, 24*time.Hour)
	}
	if got := b.Forget(acme); fmt.Sprint(got) != fmt.Sprint([]types.NamespacedName{ent}) {
		t.Errorf("forget: changed %v, want [%v]", got, ent)
	}
	if got := b.Forget(acme); got != nil {
		t.Errorf("forgetting twice changed %v", got)
	}

	// Before a plan's first snapshot there is nothing to compare with:
	// every change counts.
	b = NewBook()
	next := acme.DeepCopy()
	b.Observe(acme)
	next.Status.Health.Score++
	if got, _ := b.Observe(next); fmt.Sprint(got) != fmt.Sprint([]types.NamespacedName{ent}) {
		t.Errorf("before the first snapshot: changed %v, want [%v]", got, ent)
	}
}

// TestObserveReportsCompletion checks which change completes a plan's
// evaluation: the last account of a cold start and of a plan change to be
// scored, and the evaluation of a changed spec; not a band change, not an
// account still waiting, and nothing before the plan's first snapshot.
func TestObserveReportsCompletion(t *testing.T) {
	key := types.NamespacedName{Namespace: ns, Name: "smb"}
	b := NewBook()
	// A cold start: three accounts, not evaluated yet.
	accts := make([]*csv1alpha1.CustomerAccount, 3)
	for i := range accts {
		accts[i] = &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprint("a", i), Generation: 1}}
		if _, completed := b.Observe(accts[i]); completed {
			t.Fatalf("a new account completed the plan")
		}
	}
	evaluate := func(i int, planGeneration int64, band csv1alpha1.Band) bool {
		a := accts[i].DeepCopy()
		a.Status.Plan, a.Status.ObservedGeneration = key.Name, a.Generation
		a.Status.Health = &csv1alpha1.HealthStatus{Band: band, PlanGeneration: planGeneration}
		accts[i] = a
		_, completed := b.Observe(a)
		return completed
	}
	for i, tc := range []struct {
		name      string
		change    func() bool
		completed bool
	}{
		{"the first account of three is scored, and the plan counted", func() bool {
			completed := evaluate(0, 1, csv1alpha1.BandGreen)
			b.Snapshot(key, 1, t0, 24*time.Hour)
			return completed
		}, false},
		{"the second", func() bool { return evaluate(1, 1, csv1alpha1.BandGreen) }, false},
		{"the last", func() bool { return evaluate(2, 1, csv1alpha1.BandGreen) }, true},
		{"a band change of an evaluated plan", func() bool { return evaluate(2, 1, csv1alpha1.BandRed) }, false},
		{"a plan change: the first account scored again", func() bool { return evaluate(0, 2, csv1alpha1.BandGreen) }, false},
		{"the second", func() bool { return evaluate(1, 2, csv1alpha1.BandGreen) }, false},
		{"the last", func() bool { return evaluate(2, 2, csv1alpha1.BandGreen) }, true},
		{"a spec change", func() bool {
			a := accts[1].DeepCopy()
			a.Generation++
			accts[1] = a
			_, completed := b.Observe(a)
			return completed
		}, false},
		{"another account's band while a spec waits", func() bool { return evaluate(0, 2, csv1alpha1.BandYellow) }, false},
		{"the changed spec evaluated", func() bool { return evaluate(1, 2, csv1alpha1.BandYellow) }, true},
	} {
		if got := tc.change(); got != tc.completed {
			t.Errorf("step %d, %s: completed %v, want %v", i, tc.name, got, tc.completed)
		}
	}

	// Before the plan's first snapshot nothing is counted, so nothing
	// completes.
	b = NewBook()
	a := accts[0].DeepCopy()
	if _, completed := b.Observe(a); completed {
		t.Errorf("before the first snapshot: completed")
	}
}

// diff describes how two snapshots differ, "" when they agree.
func diff(got, want Snapshot) string {
	switch {
	case got.Accounts != want.Accounts:
		return fmt.Sprintf("accounts %d, want %d", got.Accounts, want.Accounts)
	case fmt.Sprint(got.Stages) != fmt.Sprint(want.Stages):
		return fmt.Sprintf("stages %v, want %v", got.Stages, want.Stages)
	case fmt.Sprint(got.Bands) != fmt.Sprint(want.Bands):
		return fmt.Sprintf("bands %v, want %v", got.Bands, want.Bands)
	case got.Pending != want.Pending:
		return fmt.Sprintf("pending %d, want %d", got.Pending, want.Pending)
	case got.MRR.Cmp(want.MRR) != 0:
		return fmt.Sprintf("MRR %s, want %s", got.MRR.FloatString(2), want.MRR.FloatString(2))
	case got.MRRAtRisk.Cmp(want.MRRAtRisk) != 0:
		return fmt.Sprintf("MRR at risk %s, want %s", got.MRRAtRisk.FloatString(2), want.MRRAtRisk.FloatString(2))
	case (got.KPIErr == nil) != (want.KPIErr == nil):
		return fmt.Sprintf("KPI error %v, want %v", got.KPIErr, want.KPIErr)
	case got.KPIErr != nil:
		return ""
	}
	g, w := kpi.Compute(got.Portfolio, nil).Status("x"), kpi.Compute(want.Portfolio, nil).Status("x")
	if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
		return fmt.Sprintf("KPIs %+v, want %+v", g, w)
	}
	if fmt.Sprint(got.Portfolio.NPS, got.Portfolio.CustomersAtStart, got.Portfolio.CustomersLost, got.Portfolio.CustomersAtEnd) !=
		fmt.Sprint(want.Portfolio.NPS, want.Portfolio.CustomersAtStart, want.Portfolio.CustomersLost, want.Portfolio.CustomersAtEnd) {
		return fmt.Sprintf("portfolio %+v, want %+v", got.Portfolio, want.Portfolio)
	}
	return ""
}
