package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/collect"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/portfolio"
	"customersuccess.dev/success-operator/internal/sources"
)

// The steps of both reconcilers, each over a scope built by hand and a
// reconciler struct without a manager. Steps that read the API read the
// suite's control plane, in a namespace of their own.

// stepModels returns an empty model cache.
func stepModels(t *testing.T) *PlanModels {
	t.Helper()
	models, err := NewPlanModels()
	if err != nil {
		t.Fatal(err)
	}
	return models
}

// validModel compiles plan and fails the test when it is not valid.
func validModel(t *testing.T, models *PlanModels, plan *csv1alpha1.SuccessPlan) *evaluate.Model {
	t.Helper()
	m := models.Get(plan)
	if !m.Valid() {
		t.Fatalf("plan %s is not valid: %v", plan.Name, m.Errors)
	}
	return m
}

// scopeEvents are the Events a reconcile's steps left to record once its
// status is stored, as a fake recorder prints them.
func scopeEvents(s *accountScope) []string {
	var out []string
	for _, ev := range s.events {
		out = append(out, ev.eventType+" "+ev.reason+" "+ev.note)
	}
	return out
}

// recordedEvents drains a fake recorder.
func recordedEvents(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// countingObserver counts evaluations and deliveries by outcome.
type countingObserver struct {
	evaluations, deliveries map[bool]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{evaluations: map[bool]int{}, deliveries: map[bool]int{}}
}

func (o *countingObserver) ObserveEvaluation(ok bool) { o.evaluations[ok]++ }
func (o *countingObserver) ObserveDelivery(ok bool)   { o.deliveries[ok]++ }

// countingSourceObserver records the plans whose series were forgotten.
type countingSourceObserver struct{ forgotten []types.NamespacedName }

func (o *countingSourceObserver) ObservePull(types.NamespacedName, string, string, time.Duration, int, int) {
	// Nothing is pulled: the collectors never start.
}

func (o *countingSourceObserver) ForgetPlan(key types.NamespacedName) {
	o.forgotten = append(o.forgotten, key)
}

// failingLists is the real client whose next List of one type fails.
func failingLists(list client.ObjectList) client.Client {
	calls := &callCounter{}
	calls.failNextLists(list, 1)
	return &countingClient{Client: k8sClient, calls: calls}
}

// TestReconcilePlan: the plan step stops, with the reason and whether only
// a spec change can help, when no plan can evaluate the account, and fills
// status.plan, the scope's plan and its model otherwise. Only reading the
// plans fails.
func TestReconcilePlan(t *testing.T) {
	ns := newNamespace(t)
	broken := newPlan(ns, "broken", "broken", 0)
	broken.Spec.Stages[1].ExitWhen = "health.score >="
	create(t, newPlan(ns, "smb", "smb", 0), newPlan(ns, "gold", "gold", 0), newPlan(ns, "gold-high", "gold", 5), broken)

	for _, tc := range []struct {
		name   string
		seg    string
		ref    string
		client client.Client
		result stepResult
		err    bool
		// plan is the resolved plan, "" when none.
		plan string
		// statusPlan is status.plan afterwards (it was "previous").
		statusPlan string
		reason     string
		message    string
		stalled    bool
	}{
		{name: "no plan selects the account: NoPlan, not stalled", seg: "nobody", result: stop,
			reason: csv1alpha1.NoPlanReason, message: "No SuccessPlan selects this account"},
		{name: "the named plan does not exist: PlanNotFound, not stalled", seg: "smb", ref: "gone", result: stop,
			reason: csv1alpha1.PlanNotFoundReason, message: `spec.successPlanRef.name: SuccessPlan "gone" not found`},
		{name: "an invalid plan: PlanInvalid, stalled, the plan is named", seg: "broken", result: stop,
			statusPlan: "broken", reason: csv1alpha1.PlanInvalidReason, stalled: true,
			message: `SuccessPlan "broken" is not valid: spec.stages[1].exitWhen`},
		{name: "a valid plan selecting the account proceeds", seg: "smb", result: proceed, plan: "smb", statusPlan: "smb"},
		{name: "the highest priority plan wins", seg: "gold", result: proceed, plan: "gold-high", statusPlan: "gold-high"},
		{name: "spec.successPlanRef beats the selectors", seg: "gold", ref: "smb", result: proceed, plan: "smb", statusPlan: "smb"},
		{name: "a failed read of the plans is returned, nothing recorded", seg: "smb",
			client: failingLists(&csv1alpha1.SuccessPlanList{}), result: stop, err: true, statusPlan: "previous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := newAccount(ns, "acme", tc.seg)
			if tc.ref != "" {
				a.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: tc.ref}
			}
			a.Status.Plan = "previous"
			c := tc.client
			if c == nil {
				c = k8sClient
			}
			r := &CustomerAccountReconciler{Client: c, Models: stepModels(t)}
			s := &accountScope{acct: a, now: epoch}

			res, err := r.reconcilePlan(context.Background(), s)

			g.Expect(err != nil).To(Equal(tc.err), "error: %v", err)
			g.Expect(res).To(Equal(tc.result))
			g.Expect(a.Status.Plan).To(Equal(tc.statusPlan))
			g.Expect(s.out.reason).To(Equal(tc.reason))
			g.Expect(s.out.stalled).To(Equal(tc.stalled))
			if tc.message == "" {
				g.Expect(s.out.message).To(BeEmpty())
			} else {
				g.Expect(s.out.message).To(HavePrefix(tc.message))
			}
			// Ready names the plan that manages the account, valid or not.
			outPlan := tc.statusPlan
			if tc.err {
				outPlan = ""
			}
			g.Expect(s.out.plan).To(Equal(outPlan))
			if tc.plan == "" {
				g.Expect(s.plan).To(BeNil())
				g.Expect(s.model).To(BeNil())
				return
			}
			g.Expect(s.plan).NotTo(BeNil())
			g.Expect(s.plan.Name).To(Equal(tc.plan))
			g.Expect(s.model).NotTo(BeNil())
			g.Expect(s.model.Valid()).To(BeTrue())
			g.Expect(s.model.UID).To(Equal(s.plan.UID))
			g.Expect(s.model.Generation).To(Equal(s.plan.Generation))
			g.Expect(s.model).To(BeIdenticalTo(r.Models.Get(s.plan)), "the model comes from the shared cache")
		})
	}
}

// healthPlan has a remote measure (logins) and a static one (sentiment).
func healthPlan() *csv1alpha1.SuccessPlan {
	p := newPlan("customers", "smb", "smb", 0)
	p.UID, p.Generation = "plan-uid", 4
	p.Spec.Interval = metav1.Duration{Duration: 5 * time.Minute} // values are stale after 15m
	p.Spec.Sources = []csv1alpha1.Source{
		{Name: "telemetry", Prometheus: &csv1alpha1.PrometheusSource{URL: "http://prometheus.invalid"}},
		{Name: "csm", Static: &csv1alpha1.StaticSource{}},
	}
	p.Spec.Measures = []csv1alpha1.Measure{
		{Name: "logins", Source: "telemetry", Query: "sum by (account) (logins)",
			Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 100}, Weight: 10},
		{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 10},
	}
	return p
}

// TestReconcileHealth: the health step scores the account from the Store
// and spec.signals into status.health and the scope, says which remote
// measures it waits for, whether the band changed (with an Event), which
// normalize expressions failed, and when the result changes by itself.
func TestReconcileHealth(t *testing.T) {
	now := epoch
	planKey := types.NamespacedName{Namespace: "customers", Name: "smb"}
	for _, tc := range []struct {
		name string
		// logins is the Store's value, observed 5m ago; nil when none.
		logins *float64
		// pullErr fails the latest pull of logins, after that value.
		pullErr   string
		sentiment string
		normalize string
		prev      *csv1alpha1.HealthStatus

		waiting     string
		scored      bool
		score       int32
		band        csv1alpha1.Band
		bandChanged bool
		next        time.Time
		failed      []string
		events      []string
	}{
		{
			name: "a remote measure without a value is waited for; the static one scores", sentiment: "5",
			waiting: "Waiting for the first values of logins", scored: true, score: 100, band: csv1alpha1.BandGreen,
			bandChanged: true, // a static value never turns stale: no next change
			events:      nil,  // the first score is no Event
		},
		{
			name: "values from the Store and the spec score the account", logins: new(50.0), sentiment: "5",
			scored: true, score: 75, band: csv1alpha1.BandGreen, bandChanged: true,
			// logins is pulled every interval, and a failing pull wakes the
			// account: its staleness sets no timer.
			next:   time.Time{},
			events: nil, // the first score is no Event
		},
		{
			name: "a value whose latest pull failed is evaluated again when it turns stale", logins: new(50.0), pullErr: "HTTP 503",
			sentiment: "5", scored: true, score: 100, band: csv1alpha1.BandGreen, bandChanged: true,
			next: now.Add(10*time.Minute + time.Nanosecond), // logins turns stale
		},
		{
			name: "the same band is no change", logins: new(50.0), sentiment: "5",
			prev:   &csv1alpha1.HealthStatus{Score: 80, Band: csv1alpha1.BandGreen},
			scored: true, score: 75, band: csv1alpha1.BandGreen,
		},
		{
			name: "a lower band is a change, with a Warning", logins: new(0.0), sentiment: "1",
			prev:   &csv1alpha1.HealthStatus{Score: 80, Band: csv1alpha1.BandGreen},
			scored: true, score: 0, band: csv1alpha1.BandRed, bandChanged: true,
			events: []string{"Warning BandChanged Health band Green -> Red (score 0)"},
		},
		{
			name: "nothing to score keeps the last band, which is no change",
			prev: &csv1alpha1.HealthStatus{Score: 55, Band: csv1alpha1.BandYellow},
			// sentiment is absent from the spec, logins from the Store.
			waiting: "Waiting for the first values of logins", score: 55, band: csv1alpha1.BandYellow,
		},
		{
			name: "a normalize expression failing at run time is recorded under its field", logins: new(50.0), sentiment: "5",
			normalize: "value / account.signals.values.seats",
			// logins has no value: sentiment alone scores.
			scored: true, score: 100, band: csv1alpha1.BandGreen, bandChanged: true,
			failed: []string{"spec.measures[0].normalize"},
			events: nil, // the first score is no Event
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := healthPlan()
			p.Spec.Measures[0].Normalize = tc.normalize
			store := sources.NewStore()
			if tc.logins != nil {
				store.Put(planKey, "acme", "logins", sources.Sample{Value: *tc.logins}, now.Add(-5*time.Minute))
			}
			if tc.pullErr != "" {
				store.Put(planKey, "acme", "logins", sources.Sample{Err: tc.pullErr}, now)
			}
			// Another account's value is not this one's.
			store.Put(planKey, "other", "logins", sources.Sample{Value: 100}, now)
			a := newAccount("customers", "acme", "smb")
			if tc.sentiment != "" {
				a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": csv1alpha1.Decimal(tc.sentiment)}
			}
			a.Status.Health = tc.prev
			r := &CustomerAccountReconciler{Models: stepModels(t), Store: store,
				// Not started: waking a plan without a collector does nothing.
				Collectors: &collect.Collectors{Store: store}}
			s := &accountScope{acct: a, now: now, plan: p, model: validModel(t, r.Models, p)}

			res, err := r.reconcileHealth(context.Background(), s)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(proceed))
			g.Expect(s.out.waiting).To(Equal(tc.waiting))
			g.Expect(s.out.reason).To(BeEmpty(), "the health step never fails the account")
			g.Expect(s.health).NotTo(BeNil())
			g.Expect(s.health.Scored).To(Equal(tc.scored))
			g.Expect(a.Status.Health).NotTo(BeNil())
			g.Expect(*a.Status.Health).To(Equal(s.health.Status))
			g.Expect(a.Status.Health.Score).To(Equal(tc.score))
			g.Expect(a.Status.Health.Band).To(Equal(tc.band))
			g.Expect(a.Status.Health.PlanGeneration).To(Equal(int64(4)))
			g.Expect(a.Status.Health.Measures).To(HaveLen(2))
			g.Expect(s.bandChanged).To(Equal(tc.bandChanged))
			g.Expect(s.next).To(Equal(tc.next))
			var failed []string
			for _, e := range s.failed {
				failed = append(failed, e.Field)
			}
			g.Expect(failed).To(Equal(tc.failed))
			g.Expect(scopeEvents(s)).To(Equal(tc.events))
		})
	}
}

// stageHealth is a health result in which seats and sentiment have values.
func stageHealth(score int32, band csv1alpha1.Band, seats float64) *health.Result {
	return &health.Result{
		Status: csv1alpha1.HealthStatus{Score: score, Band: band,
			Measures: []csv1alpha1.MeasureStatus{{Name: "seats"}, {Name: "sentiment"}}},
		Values: []health.Value{{Available: true, Raw: seats}, {Available: true, Raw: 4}},
		Scored: true,
	}
}

// TestReconcileStage: the stage step runs the stage machine: a transition
// sets status.stage and stageEnteredAt and appends to the history with an
// Event; without one, a band change appends to the history; the step
// records an overdue stage, failed expressions and the next deadline.
func TestReconcileStage(t *testing.T) {
	now := epoch
	daysAgo := func(d int) *metav1.Time { return lifecycle.Stamp(now.AddDate(0, 0, -d)) }
	earlier := csv1alpha1.HistoryEntry{At: *daysAgo(10), Score: 50, Band: csv1alpha1.BandYellow, Stage: "Onboarding"}
	for _, tc := range []struct {
		name        string
		stage       string
		enteredAt   *metav1.Time
		objectives  []csv1alpha1.ObjectiveStatus
		churned     bool
		health      *health.Result
		bandChanged bool

		wantStage      string
		wantEnteredAt  *metav1.Time
		wantHistory    []csv1alpha1.HistoryEntry
		wantObjectives map[string]csv1alpha1.ObjectiveState
		transitions    []string
		overdue        bool
		failed         []string
		next           time.Time
		events         []string
	}{
		{
			name: "a new account enters the first stage", health: stageHealth(50, csv1alpha1.BandYellow, 0), bandChanged: true,
			wantStage: "Onboarding", wantEnteredAt: lifecycle.Stamp(now),
			wantHistory:    []csv1alpha1.HistoryEntry{{At: *lifecycle.Stamp(now), Score: 50, Band: csv1alpha1.BandYellow, Stage: "Onboarding"}},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{"first-login": csv1alpha1.ObjectivePending},
			transitions:    []string{"Entered stage Onboarding"},
			next:           now.Add(24 * time.Hour), // stage.days, which Onboarding's exitWhen reads, turns 1
			events:         nil,                     // the first placement is no Event
		},
		{
			name: "met exit criteria move to the next stage", stage: "Onboarding", enteredAt: daysAgo(8),
			health: stageHealth(50, csv1alpha1.BandYellow, 30),
			objectives: []csv1alpha1.ObjectiveStatus{{Name: "first-login", Stage: "Onboarding",
				State: csv1alpha1.ObjectivePending, At: daysAgo(8)}},
			wantStage: "Adoption", wantEnteredAt: lifecycle.Stamp(now),
			wantHistory: []csv1alpha1.HistoryEntry{earlier, {At: *lifecycle.Stamp(now), Score: 50, Band: csv1alpha1.BandYellow, Stage: "Adoption"}},
			// Onboarding's objectives leave with it; Adoption has none.
			wantObjectives: map[string]csv1alpha1.ObjectiveState{},
			transitions:    []string{"Stage Onboarding -> Adoption (StageExited)"},
			next:           now.Add(24 * time.Hour), // stage.days, which Adoption's exitWhen reads, turns 1
			events:         []string{"Normal StageExited Stage Onboarding -> Adoption (StageExited)"},
		},
		{
			name: "without a transition a band change is one history entry", stage: "Onboarding", enteredAt: daysAgo(2),
			health: stageHealth(80, csv1alpha1.BandGreen, 10), bandChanged: true,
			wantStage: "Onboarding", wantEnteredAt: daysAgo(2),
			wantHistory:    []csv1alpha1.HistoryEntry{earlier, {At: *lifecycle.Stamp(now), Score: 80, Band: csv1alpha1.BandGreen, Stage: "Onboarding"}},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{"first-login": csv1alpha1.ObjectiveAchieved},
			next:           now.Add(24 * time.Hour), // stage.days turns 3, before Onboarding's maxDuration
		},
		{
			name: "without a transition nor a band change the history stays", stage: "Onboarding", enteredAt: daysAgo(2),
			health:    stageHealth(80, csv1alpha1.BandGreen, 0),
			wantStage: "Onboarding", wantEnteredAt: daysAgo(2), wantHistory: []csv1alpha1.HistoryEntry{earlier},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{"first-login": csv1alpha1.ObjectivePending},
			next:           now.Add(24 * time.Hour), // stage.days turns 3, before Onboarding's maxDuration
		},
		{
			name: "a stage past its maxDuration is overdue, its pending objectives too", stage: "Onboarding", enteredAt: daysAgo(31),
			health:    stageHealth(50, csv1alpha1.BandYellow, 0),
			wantStage: "Onboarding", wantEnteredAt: daysAgo(31), wantHistory: []csv1alpha1.HistoryEntry{earlier},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{"first-login": csv1alpha1.ObjectiveOverdue},
			overdue:        true,
			next:           now.Add(24 * time.Hour), // stage.days turns 32
		},
		{
			name: "a churned ledger moves to Churned", stage: "Adoption", enteredAt: daysAgo(40), churned: true,
			health:    stageHealth(20, csv1alpha1.BandRed, 0),
			wantStage: csv1alpha1.StageChurned, wantEnteredAt: lifecycle.Stamp(now),
			wantHistory: []csv1alpha1.HistoryEntry{earlier, {At: *lifecycle.Stamp(now), Score: 20, Band: csv1alpha1.BandRed,
				Stage: csv1alpha1.StageChurned}},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{},
			transitions:    []string{"Stage Adoption -> Churned (Churned)"},
			events:         []string{"Warning Churned Stage Adoption -> Churned (Churned)"},
		},
		{
			name: "expressions failing at run time are recorded and change nothing", stage: "Onboarding", enteredAt: daysAgo(8),
			// No measures: measures.seats does not exist.
			health:    &health.Result{Status: csv1alpha1.HealthStatus{Score: 50, Band: csv1alpha1.BandYellow}, Scored: true},
			wantStage: "Onboarding", wantEnteredAt: daysAgo(8), wantHistory: []csv1alpha1.HistoryEntry{earlier},
			wantObjectives: map[string]csv1alpha1.ObjectiveState{"first-login": csv1alpha1.ObjectivePending},
			failed:         []string{"spec.stages[0].objectives[0].when", "spec.stages[0].exitWhen"},
			next:           now.Add(24 * time.Hour), // stage.days turns 9
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := lifecyclePlan("customers", "http://hooks.invalid/")
			a := newAccount("customers", "acme", "smb")
			a.Spec.Contract.RenewalDate = "2027-11-24" // a year away: Nurturing's exit does not hold
			if tc.churned {
				a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue,
					csv1alpha1.LedgerEntry{Date: "2026-11-01", Type: csv1alpha1.LedgerChurn, Amount: "3000"})
			}
			a.Status.Stage, a.Status.StageEnteredAt, a.Status.Objectives = tc.stage, tc.enteredAt, tc.objectives
			if tc.stage != "" {
				a.Status.History = []csv1alpha1.HistoryEntry{earlier}
			}
			a.Status.Health = &tc.health.Status
			r := &CustomerAccountReconciler{Models: stepModels(t)}
			s := &accountScope{acct: a, now: now, plan: p, model: validModel(t, r.Models, p),
				health: tc.health, bandChanged: tc.bandChanged}

			res, err := r.reconcileStage(context.Background(), s)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(proceed))
			g.Expect(a.Status.Stage).To(Equal(tc.wantStage))
			g.Expect(s.stage.Stage).To(Equal(tc.wantStage))
			g.Expect(a.Status.StageEnteredAt).To(Equal(tc.wantEnteredAt))
			g.Expect(a.Status.History).To(Equal(tc.wantHistory))
			objectives := map[string]csv1alpha1.ObjectiveState{}
			for _, o := range a.Status.Objectives {
				objectives[o.Name] = o.State
			}
			g.Expect(objectives).To(Equal(tc.wantObjectives))
			var transitions []string
			for _, tr := range s.stage.Transitions {
				transitions = append(transitions, tr.String())
			}
			g.Expect(transitions).To(Equal(tc.transitions))
			g.Expect(s.stage.Overdue).To(Equal(tc.overdue))
			var failed []string
			for _, e := range s.failed {
				failed = append(failed, e.Field)
			}
			g.Expect(failed).To(Equal(tc.failed))
			g.Expect(s.next).To(Equal(tc.next))
			g.Expect(scopeEvents(s)).To(Equal(tc.events))
		})
	}
}

// TestReconcileSignals: the signals step sets AtRisk (the plan's
// expression, else an overdue stage, else a Red band) and ExpansionReady,
// and makes every expression failed at run time, its own or an earlier
// step's, Ready=False EvaluationFailed naming the field.
func TestReconcileSignals(t *testing.T) {
	green := &csv1alpha1.HealthStatus{Score: 80, Band: csv1alpha1.BandGreen}
	red := &csv1alpha1.HealthStatus{Score: 30, Band: csv1alpha1.BandRed}
	earlier := field.Invalid(field.NewPath("spec", "measures").Index(0).Child("normalize"), "value / 0", "division by zero")
	const atRisk, expansion = "account.signals.values.risk >= 1.0", "account.signals.values.wanted > 10.0"
	type cond struct{ status, reason, message string }
	for _, tc := range []struct {
		name      string
		atRisk    string
		expansion string
		values    map[string]csv1alpha1.Decimal
		health    *csv1alpha1.HealthStatus
		overdue   bool
		earlier   bool

		risk, exp cond
		failed    []string
		reason    string
		message   string
	}{
		{
			name: "nothing holds", atRisk: atRisk, expansion: expansion, health: green,
			values: map[string]csv1alpha1.Decimal{"risk": "0", "wanted": "1"},
			risk:   cond{"False", csv1alpha1.NoRiskReason, "No risk signal holds"},
			exp:    cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
		},
		{
			name: "the expressions hold", atRisk: atRisk, expansion: expansion, health: green,
			values: map[string]csv1alpha1.Decimal{"risk": "1", "wanted": "20"},
			risk:   cond{"True", csv1alpha1.AtRiskSignalReason, "spec.signals.atRisk holds: " + atRisk},
			exp:    cond{"True", csv1alpha1.ExpansionSignalReason, "spec.signals.expansion holds: " + expansion},
		},
		{
			name: "an overdue stage is a risk", atRisk: atRisk, health: green, overdue: true,
			values: map[string]csv1alpha1.Decimal{"risk": "0"},
			risk:   cond{"True", csv1alpha1.StageOverdueReason, "Stage Onboarding outlived its maxDuration"},
			exp:    cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
		},
		{
			name: "a Red band is a risk, without any expression", health: red,
			risk: cond{"True", csv1alpha1.RedBandReason, "Health score 30 is Red"},
			exp:  cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
		},
		{
			name: "an overdue stage comes before a Red band", health: red, overdue: true,
			risk: cond{"True", csv1alpha1.StageOverdueReason, "Stage Onboarding outlived its maxDuration"},
			exp:  cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
		},
		{
			name: "the expression comes before the rest", atRisk: atRisk, health: red, overdue: true,
			values: map[string]csv1alpha1.Decimal{"risk": "2"},
			risk:   cond{"True", csv1alpha1.AtRiskSignalReason, "spec.signals.atRisk holds: " + atRisk},
			exp:    cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
		},
		{
			name: "a failing expression is Unknown and fails the evaluation, naming the field", atRisk: atRisk, expansion: expansion,
			health: green, values: map[string]csv1alpha1.Decimal{"wanted": "20"},
			risk:   cond{"Unknown", csv1alpha1.EvaluationFailedReason, "spec.signals.atRisk: no such key: risk"},
			exp:    cond{"True", csv1alpha1.ExpansionSignalReason, "spec.signals.expansion holds: " + expansion},
			failed: []string{"spec.signals.atRisk"}, reason: csv1alpha1.EvaluationFailedReason,
			message: `spec.signals.atRisk: Invalid value: "` + atRisk + `": no such key: risk`,
		},
		{
			name: "a failing expression of an earlier step fails the evaluation", atRisk: atRisk, health: red, earlier: true,
			values: map[string]csv1alpha1.Decimal{"risk": "0"},
			risk:   cond{"True", csv1alpha1.RedBandReason, "Health score 30 is Red"},
			exp:    cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"},
			failed: []string{"spec.measures[0].normalize"}, reason: csv1alpha1.EvaluationFailedReason,
			message: `spec.measures[0].normalize: Invalid value: "value / 0": division by zero`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := newPlan("customers", "smb", "smb", 0)
			p.Spec.Signals = csv1alpha1.PlanSignals{AtRisk: tc.atRisk, Expansion: tc.expansion}
			a := newAccount("customers", "acme", "smb")
			a.Spec.Signals.Values = tc.values
			a.Status.Health = tc.health
			obs := newCountingObserver()
			r := &CustomerAccountReconciler{Models: stepModels(t), Metrics: obs}
			s := &accountScope{acct: a, now: epoch, plan: p, model: validModel(t, r.Models, p),
				health: &health.Result{Status: *tc.health, Scored: true},
				stage:  lifecycle.Step{State: lifecycle.State{Stage: "Onboarding"}, Overdue: tc.overdue}}
			if tc.earlier {
				s.failed = field.ErrorList{earlier}
			}

			res, err := r.reconcileSignals(context.Background(), s)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(proceed))
			g.Expect(s.signals).To(HaveLen(2))
			byType := map[string]cond{}
			for _, c := range s.signals {
				byType[c.Type] = cond{string(c.Status), c.Reason, c.Message}
			}
			g.Expect(byType[csv1alpha1.AtRiskCondition]).To(Equal(tc.risk))
			g.Expect(byType[csv1alpha1.ExpansionReadyCondition]).To(Equal(tc.exp))
			var failed []string
			for _, e := range s.failed {
				failed = append(failed, e.Field)
			}
			g.Expect(failed).To(Equal(tc.failed))
			g.Expect(s.out.reason).To(Equal(tc.reason))
			g.Expect(s.out.message).To(Equal(tc.message))
			g.Expect(s.out.stalled).To(BeFalse(), "a run-time failure can pass by itself")
			g.Expect(obs.evaluations).To(Equal(map[bool]int{tc.reason == "": 1}))
		})
	}
}

// TestReconcileModel: the model step compiles the plan once per
// generation, in the shared cache, and lists what admission cannot
// check: measures naming a missing source or lacking a query, selectors
// that do not parse, expressions that do not compile.
func TestReconcileModel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*csv1alpha1.SuccessPlan)
		errors []string
	}{
		{name: "a valid plan", mutate: func(*csv1alpha1.SuccessPlan) {}},
		{name: "an expression that does not compile",
			mutate: func(p *csv1alpha1.SuccessPlan) { p.Spec.Stages[1].ExitWhen = "health.score >=" },
			errors: []string{"spec.stages[1].exitWhen"}},
		{name: "an expression of the wrong type",
			mutate: func(p *csv1alpha1.SuccessPlan) { p.Spec.Signals.AtRisk = "health.score" },
			errors: []string{"spec.signals.atRisk"}},
		{name: "a measure naming a missing source",
			mutate: func(p *csv1alpha1.SuccessPlan) { p.Spec.Measures[0].Source = "crm" },
			errors: []string{"spec.measures[0].source"}},
		{name: "a prometheus measure without a query",
			mutate: func(p *csv1alpha1.SuccessPlan) {
				p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "telemetry",
					Prometheus: &csv1alpha1.PrometheusSource{URL: "http://prometheus.invalid"}})
				p.Spec.Measures[0].Source = "telemetry"
			},
			errors: []string{"spec.measures[0].query"}},
		{name: "a selector that does not parse",
			mutate: func(p *csv1alpha1.SuccessPlan) {
				p.Spec.AccountSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "customersuccess.dev/segment", Operator: "Near", Values: []string{"smb"}}}}
			},
			errors: []string{"spec.accountSelector"}},
		{name: "every error at once",
			mutate: func(p *csv1alpha1.SuccessPlan) {
				p.Spec.Measures[0].Source = "crm"
				p.Spec.Stages[0].ExitWhen = "stage.days >"
			},
			errors: []string{"spec.measures[0].source", "spec.stages[0].exitWhen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := newPlan("customers", "smb", "smb", 0)
			p.UID, p.Generation = "plan-uid", 3
			tc.mutate(p)
			r := &SuccessPlanReconciler{Models: stepModels(t)}
			s := &planScope{plan: p, now: epoch}

			g.Expect(r.reconcileModel(context.Background(), s)).To(Succeed())

			g.Expect(s.model).NotTo(BeNil())
			g.Expect(s.model.UID).To(Equal(p.UID))
			g.Expect(s.model.Generation).To(Equal(int64(3)))
			g.Expect(s.model.Valid()).To(Equal(len(tc.errors) == 0))
			fields := map[string]bool{}
			for _, e := range s.model.Errors {
				fields[e.Field] = true
			}
			g.Expect(fields).To(HaveLen(len(tc.errors)), "errors: %v", s.model.Errors)
			for _, f := range tc.errors {
				g.Expect(fields).To(HaveKey(HavePrefix(f)), "errors: %v", s.model.Errors)
			}
			if tc.errors == nil {
				g.Expect(s.model.Expressions.ExitWhen).To(HaveKey("Onboarding"))
				g.Expect(s.model.Expressions.AtRisk).NotTo(BeNil())
			}

			// The same generation is compiled once; a new one again.
			again := &planScope{plan: p}
			g.Expect(r.reconcileModel(context.Background(), again)).To(Succeed())
			g.Expect(again.model).To(BeIdenticalTo(s.model))
			next := p.DeepCopy()
			next.Generation = 4
			newer := &planScope{plan: next}
			g.Expect(r.reconcileModel(context.Background(), newer)).To(Succeed())
			g.Expect(newer.model).NotTo(BeIdenticalTo(s.model))
			g.Expect(newer.model.Generation).To(Equal(int64(4)))
		})
	}
}

// TestReconcileCollector: the collector step ensures a collector for a
// valid plan and stops (forgetting the plan's values and series) the
// collector of an invalid one; without Collectors it does nothing. The
// Collectors are never started: an ensured plan waits for Start, so it is
// not Running.
func TestReconcileCollector(t *testing.T) {
	valid := &evaluate.Model{}
	invalid := &evaluate.Model{Errors: field.ErrorList{field.Invalid(field.NewPath("spec", "stages").Index(1).Child("exitWhen"), "x", "bad")}}
	key := types.NamespacedName{Namespace: "customers", Name: "smb"}
	other := types.NamespacedName{Namespace: "customers", Name: "enterprise"}
	for _, tc := range []struct {
		name       string
		collectors bool
		model      *evaluate.Model
		// kept: the plan's values are still in the Store.
		kept      bool
		forgotten []types.NamespacedName
	}{
		{name: "without collectors a valid plan runs none", model: valid, kept: true},
		{name: "without collectors an invalid plan stops none", model: invalid, kept: true},
		{name: "a valid plan is ensured, its values kept", collectors: true, model: valid, kept: true},
		{name: "an invalid plan's collector is stopped, its values and series forgotten", collectors: true, model: invalid,
			forgotten: []types.NamespacedName{key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := newPlan(key.Namespace, key.Name, "smb", 0)
			p.Generation = 2
			store := sources.NewStore()
			store.Put(key, "acme", "logins", sources.Sample{Value: 7}, epoch)
			store.Put(other, "acme", "logins", sources.Sample{Value: 9}, epoch)
			metrics := &countingSourceObserver{}
			r := &SuccessPlanReconciler{}
			var cs *collect.Collectors
			if tc.collectors {
				cs = &collect.Collectors{Store: store, Metrics: metrics, Clock: testingclock.NewFakeClock(epoch)}
				r.Collectors = cs
			}
			s := &planScope{plan: p, now: epoch, model: tc.model}

			g.Expect(r.reconcileCollector(context.Background(), s)).To(Succeed())

			_, kept := store.Get(key, "acme", "logins")
			g.Expect(kept).To(Equal(tc.kept))
			_, otherKept := store.Get(other, "acme", "logins")
			g.Expect(otherKept).To(BeTrue(), "another plan's values are untouched")
			g.Expect(metrics.forgotten).To(Equal(tc.forgotten))
			if cs != nil {
				_, running := cs.Running(key)
				g.Expect(running).To(BeFalse(), "nothing runs before Start")
			}
		})
	}
}

// setStatus writes an account's status after creating it.
func setStatus(t *testing.T, a *csv1alpha1.CustomerAccount, st csv1alpha1.CustomerAccountStatus) {
	t.Helper()
	create(t, a)
	a.Status = st
	if err := k8sClient.Status().Update(context.Background(), a); err != nil {
		t.Fatalf("status of %s: %v", a.Name, err)
	}
}

// TestReconcilePortfolio: the portfolio step counts the accounts a plan
// manages (those whose status.plan names it) by stage (every stage of the
// plan and Churned, zeros included) and band, sums their MRR and the MRR
// at risk, counts those not yet evaluated with the plan's generation, and
// computes the KPIs, all from the book the account events feed; a failure
// to compute the KPIs keeps the last ones.
func TestReconcilePortfolio(t *testing.T) {
	ns := newNamespace(t)
	smb := newPlan(ns, "smb", "smb", 0)
	vip := newPlan(ns, "vip", "vip", 0)
	idle := newPlan(ns, "idle", "nobody", 0)
	idle.Spec.Stages = append(idle.Spec.Stages, csv1alpha1.Stage{Name: "Renewal"})
	create(t, smb, vip, idle)
	gen := smb.Generation
	cond := func(typ string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "Test", Message: "test",
			LastTransitionTime: metav1.NewTime(epoch)}
	}
	hs := func(score int32, band csv1alpha1.Band, generation int64) *csv1alpha1.HealthStatus {
		return &csv1alpha1.HealthStatus{Score: score, Band: band, PlanGeneration: generation}
	}
	// Evaluated with the current generation, Green.
	setStatus(t, ledgerAccount(ns, "green", "5", 100, csv1alpha1.LedgerNew, "1000"),
		csv1alpha1.CustomerAccountStatus{Plan: "smb", Stage: "Onboarding", Health: hs(90, csv1alpha1.BandGreen, gen)})
	// Red, evaluated with an older generation: at risk, and pending.
	setStatus(t, ledgerAccount(ns, "red", "1", 100, csv1alpha1.LedgerNew, "500"),
		csv1alpha1.CustomerAccountStatus{Plan: "smb", Stage: "Adoption", Health: hs(20, csv1alpha1.BandRed, gen-1)})
	// AtRisk while Yellow: at risk.
	setStatus(t, ledgerAccount(ns, "risky", "3", 100, csv1alpha1.LedgerNew, "200"),
		csv1alpha1.CustomerAccountStatus{Plan: "smb", Stage: "Onboarding", Health: hs(50, csv1alpha1.BandYellow, gen),
			Conditions: []metav1.Condition{cond(csv1alpha1.AtRiskCondition)}})
	// Churned: counted in Churned, no MRR.
	setStatus(t, ledgerAccount(ns, "leaver", "3", 100, csv1alpha1.LedgerNew, "300", 10, csv1alpha1.LedgerChurn, "300"),
		csv1alpha1.CustomerAccountStatus{Plan: "smb", Stage: csv1alpha1.StageChurned, Health: hs(30, csv1alpha1.BandRed, gen)})
	// Resolved, never evaluated: pending, no stage, no band.
	setStatus(t, ledgerAccount(ns, "newcomer", "3", 2, csv1alpha1.LedgerNew, "10"), csv1alpha1.CustomerAccountStatus{Plan: "smb"})
	// Suspended and Stalled accounts wait for a spec change, not for the
	// operator: not pending.
	suspended := ledgerAccount(ns, "suspended", "3", 100, csv1alpha1.LedgerNew, "20")
	suspended.Spec.Suspend = true
	setStatus(t, suspended, csv1alpha1.CustomerAccountStatus{Plan: "smb"})
	// A ledger below zero: counted, left out of the sums.
	setStatus(t, ledgerAccount(ns, "stalled", "3", 100, csv1alpha1.LedgerNew, "40", 50, csv1alpha1.LedgerContraction, "80"),
		csv1alpha1.CustomerAccountStatus{Plan: "smb", Conditions: []metav1.Condition{cond(csv1alpha1.StalledCondition)}})
	// Not smb's: another segment, and an explicit reference to vip.
	setStatus(t, newAccount(ns, "elsewhere", "enterprise"), csv1alpha1.CustomerAccountStatus{Plan: "enterprise"})
	referred := ledgerAccount(ns, "referred", "3", 100, csv1alpha1.LedgerNew, "70")
	referred.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: "vip"}
	setStatus(t, referred, csv1alpha1.CustomerAccountStatus{Plan: "vip"})
	// The book, fed as the account events feed it.
	book := portfolio.NewBook()
	accts := &csv1alpha1.CustomerAccountList{}
	if err := k8sClient.List(context.Background(), accts, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range accts.Items {
		book.Observe(&accts.Items[i])
	}

	lastKPIs := &csv1alpha1.KPIs{Period: "last"}
	for _, tc := range []struct {
		name   string
		plan   *csv1alpha1.SuccessPlan
		margin csv1alpha1.Decimal

		accounts  int32
		stages    map[string]int32
		bands     csv1alpha1.BandCounts
		mrr, risk csv1alpha1.Decimal
		pending   int32
		// kpis is the KPIs' period; "last" when the last ones are kept.
		kpis string
	}{
		{
			name: "the managed accounts are counted and summed", plan: smb,
			accounts: 7, stages: map[string]int32{"Onboarding": 2, "Adoption": 1, csv1alpha1.StageChurned: 1},
			bands: csv1alpha1.BandCounts{Green: 1, Yellow: 1, Red: 2}, mrr: "1730", risk: "700", pending: 2, kpis: "720h",
		},
		{
			name: "an account referring to a plan is that plan's", plan: vip,
			accounts: 1, stages: map[string]int32{"Onboarding": 0, "Adoption": 0, csv1alpha1.StageChurned: 0},
			mrr: "70", risk: "0", pending: 1, kpis: "720h",
		},
		{
			name: "a plan without accounts counts explicit zeros", plan: idle,
			stages: map[string]int32{"Onboarding": 0, "Adoption": 0, "Renewal": 0, csv1alpha1.StageChurned: 0},
			mrr:    "0", risk: "0", kpis: "720h",
		},
		{
			name: "a gross margin that does not parse keeps the last KPIs, not the counts", plan: smb, margin: "lots",
			accounts: 7, stages: map[string]int32{"Onboarding": 2, "Adoption": 1, csv1alpha1.StageChurned: 1},
			bands: csv1alpha1.BandCounts{Green: 1, Yellow: 1, Red: 2}, mrr: "1730", risk: "700", pending: 2, kpis: "last",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := tc.plan.DeepCopy()
			p.Spec.GrossMargin = tc.margin
			// What an earlier count left.
			p.Status.Accounts, p.Status.Stages, p.Status.MRR, p.Status.MRRAtRisk = 99, map[string]int32{"Gone": 3}, "1", "1"
			p.Status.KPIs = lastKPIs.DeepCopy()
			r := &SuccessPlanReconciler{Models: stepModels(t), Book: book}
			s := &planScope{plan: p, now: epoch, model: validModel(t, r.Models, p), pending: 5}

			g.Expect(r.reconcilePortfolio(context.Background(), s)).To(Succeed())

			st := p.Status
			g.Expect(st.Accounts).To(Equal(tc.accounts))
			g.Expect(st.Stages).To(Equal(tc.stages))
			g.Expect(st.Bands).To(Equal(tc.bands))
			g.Expect(st.MRR).To(Equal(tc.mrr))
			g.Expect(st.MRRAtRisk).To(Equal(tc.risk))
			g.Expect(s.pending).To(Equal(tc.pending))
			g.Expect(st.KPIs).NotTo(BeNil())
			g.Expect(st.KPIs.Period).To(Equal(tc.kpis))
		})
	}
}

func TestPlacementIsTheFirstStageAndTheJumpsRightAfterIt(t *testing.T) {
	entered := lifecycle.Transition{To: "Onboarding", Reason: csv1alpha1.StageEnteredReason}
	jumped := lifecycle.Transition{From: "Onboarding", To: "Renewal", Reason: csv1alpha1.StageJumpedReason}
	exited := lifecycle.Transition{From: "Onboarding", To: "Adoption", Reason: csv1alpha1.StageExitedReason}
	for _, tc := range []struct {
		name   string
		passed []lifecycle.Transition
		want   int
	}{
		{"no move", nil, 0},
		{"an account with a stage moves", []lifecycle.Transition{exited}, 0},
		{"a new account enters its first stage", []lifecycle.Transition{entered}, 1},
		{"and jumps by enterWhen", []lifecycle.Transition{entered, jumped}, 2},
		{"and walks on by exitWhen", []lifecycle.Transition{entered, exited}, 1},
		{"jumps, then walks", []lifecycle.Transition{entered, jumped, {From: "Renewal", To: "Expansion", Reason: csv1alpha1.StageExitedReason}}, 2},
	} {
		if got := placement(tc.passed); got != tc.want {
			t.Errorf("%s: placement = %d, want %d", tc.name, got, tc.want)
		}
	}
}
