package evaluate

import (
	"math/big"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
)

var now = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// testPlan has a remote measure (logins, stale after 15m) and a static one
// (sentiment), two stages and an atRisk signal.
func testPlan() *csv1alpha1.SuccessPlan {
	return &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Namespace: "customers", Name: "smb", UID: "plan-uid", Generation: 3},
		Spec: csv1alpha1.SuccessPlanSpec{
			AccountSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": "smb"}},
			Sources: []csv1alpha1.Source{
				{Name: "telemetry", Prometheus: &csv1alpha1.PrometheusSource{URL: "http://prometheus.invalid"}},
				{Name: "csm", Static: &csv1alpha1.StaticSource{}},
			},
			Measures: []csv1alpha1.Measure{
				{Name: "logins", Source: "telemetry", Query: "sum by (account) (logins)",
					Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 100}, Weight: 10},
				{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 10},
			},
			Stages: []csv1alpha1.Stage{
				{Name: "Onboarding", ExitWhen: "measures.sentiment.value >= 4.0 && stage.days >= 7"},
				{Name: "Adoption", ExitWhen: "health.score >= 90"},
			},
			Signals: csv1alpha1.PlanSignals{AtRisk: "health.scored && health.score < 40"},
		},
	}
}

// testAccount has an MRR of 2700 since 2026-03-01.
func testAccount() *csv1alpha1.CustomerAccount {
	return &csv1alpha1.CustomerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: "customers", Name: "acme"},
		Spec: csv1alpha1.CustomerAccountSpec{
			DisplayName: "Acme",
			Contract: csv1alpha1.Contract{Seats: 50, Currency: "EUR", StartDate: "2026-03-01", RenewalDate: "2027-03-01",
				Revenue: []csv1alpha1.LedgerEntry{{Date: "2026-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"}}},
		},
	}
}

func account(a *csv1alpha1.CustomerAccount) Account {
	return Account{Object: a, MRR: big.NewRat(2700, 1), Now: now}
}

func compile(t *testing.T, plan *csv1alpha1.SuccessPlan) *Model {
	t.Helper()
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	m := Compile(c, plan)
	if !m.Valid() {
		t.Fatalf("plan %s is not valid: %v", plan.Name, m.Errors)
	}
	return m
}

// fieldsOf lists the fields of errs.
func fieldsOf(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestCompile(t *testing.T) {
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(p *csv1alpha1.SuccessPlan)
		errors []string
	}{
		{name: "a valid plan has no errors", change: func(*csv1alpha1.SuccessPlan) {}},
		{
			name: "the selector's errors come first, then the sources', then the expressions'",
			change: func(p *csv1alpha1.SuccessPlan) {
				p.Spec.Signals.AtRisk = "health.score <"
				p.Spec.Measures[1].Key = ""
				p.Spec.AccountSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
			},
			errors: []string{"spec.accountSelector.matchExpressions[0]", "spec.measures[1].key", "spec.signals.atRisk"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPlan()
			tc.change(p)
			m := Compile(c, p)
			if m.UID != p.UID || m.Generation != p.Generation {
				t.Errorf("model of %s/%d, want %s/%d", m.UID, m.Generation, p.UID, p.Generation)
			}
			if m.Expressions == nil {
				t.Fatal("no expressions")
			}
			got := fieldsOf(m.Errors)
			if !reflect.DeepEqual(got, tc.errors) {
				t.Errorf("errors %v, want %v", got, tc.errors)
			}
			if m.Valid() != (len(tc.errors) == 0) {
				t.Errorf("Valid() = %v with errors %v", m.Valid(), got)
			}
		})
	}
}

func TestMeasures(t *testing.T) {
	observed := health.Observation{Value: 50, Has: true, At: now.Add(-5 * time.Minute)}
	expires := metav1.NewTime(now.Add(time.Hour))
	override := csv1alpha1.Override{Measure: "sentiment", Value: "5", Reason: "QBR", Expires: expires}
	prevLogins := csv1alpha1.MeasureStatus{Name: "logins", Value: "42", Score: 42, Weight: 10}
	for _, tc := range []struct {
		name      string
		signals   map[string]csv1alpha1.Decimal
		overrides []csv1alpha1.Override
		prev      *csv1alpha1.HealthStatus
		stored    map[string]health.Observation

		logins, sentiment health.Observation
		awaited           []string
		override          *csv1alpha1.Override
		previous          *csv1alpha1.MeasureStatus
	}{
		{
			name:    "a static measure reads spec.signals, without an observation time; a remote one without a value is awaited",
			signals: map[string]csv1alpha1.Decimal{"sentiment": "4"},
			// The lookup is asked only about remote measures: a stored
			// sentiment is not the static one.
			stored:    map[string]health.Observation{"sentiment": {Value: 1, Has: true}},
			sentiment: health.Observation{Value: 4, Has: true},
			awaited:   []string{"logins"},
		},
		{
			name:      "a static measure without its signal carries why",
			stored:    map[string]health.Observation{"logins": observed},
			logins:    observed,
			sentiment: health.Observation{Err: "no signal sentiment"},
		},
		{
			name:      "a remote measure takes the lookup's observation as it is",
			signals:   map[string]csv1alpha1.Decimal{"sentiment": "2"},
			stored:    map[string]health.Observation{"logins": observed},
			logins:    observed,
			sentiment: health.Observation{Value: 2, Has: true},
		},
		{
			name:      "a failed pull is an observation, not awaited",
			stored:    map[string]health.Observation{"logins": {Value: 50, Has: true, At: observed.At, Err: "timeout"}},
			logins:    health.Observation{Value: 50, Has: true, At: observed.At, Err: "timeout"},
			sentiment: health.Observation{Err: "no signal sentiment"},
		},
		{
			name:      "the account's override of the measure goes with it",
			signals:   map[string]csv1alpha1.Decimal{"sentiment": "2"},
			overrides: []csv1alpha1.Override{{Measure: "churn", Value: "1", Reason: "no such measure", Expires: expires}, override},
			sentiment: health.Observation{Value: 2, Has: true},
			awaited:   []string{"logins"},
			override:  &override,
		},
		{
			name:      "the previous status of the measure goes with it",
			prev:      &csv1alpha1.HealthStatus{Score: 42, Band: csv1alpha1.BandYellow, Measures: []csv1alpha1.MeasureStatus{prevLogins}},
			sentiment: health.Observation{Err: "no signal sentiment"},
			awaited:   []string{"logins"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			a := testAccount()
			a.Spec.Signals.Values = tc.signals
			a.Spec.Overrides = tc.overrides
			a.Status.Health = tc.prev
			var asked []string
			lookup := func(m string) (health.Observation, bool) {
				asked = append(asked, m)
				o, ok := tc.stored[m]
				return o, ok
			}

			in := Measures(account(a), plan, compile(t, plan), lookup)

			if !reflect.DeepEqual(asked, []string{"logins"}) {
				t.Errorf("looked up %v, want only the remote logins", asked)
			}
			if len(in.Measures) != 2 {
				t.Fatalf("%d measures, want 2", len(in.Measures))
			}
			logins, sentiment := in.Measures[0], in.Measures[1]
			if logins.Name != "logins" || logins.Source != "telemetry" || logins.Weight != 10 || logins.Bad != 0 || logins.Good != 100 {
				t.Errorf("logins from the plan: %+v", logins)
			}
			if logins.StaleAfter != 15*time.Minute {
				t.Errorf("logins stale after %s, want 3 x the default interval", logins.StaleAfter)
			}
			if logins.Obs != tc.logins {
				t.Errorf("logins observation %+v, want %+v", logins.Obs, tc.logins)
			}
			if sentiment.Obs != tc.sentiment {
				t.Errorf("sentiment observation %+v, want %+v", sentiment.Obs, tc.sentiment)
			}
			if !reflect.DeepEqual(in.Awaited, tc.awaited) {
				t.Errorf("awaited %v, want %v", in.Awaited, tc.awaited)
			}
			if logins.Override != nil {
				t.Errorf("logins got an override of another measure: %+v", logins.Override)
			}
			if !reflect.DeepEqual(sentiment.Override, tc.override) {
				t.Errorf("sentiment override %+v, want %+v", sentiment.Override, tc.override)
			}
			if tc.prev != nil && (logins.Previous == nil || *logins.Previous != prevLogins) {
				t.Errorf("logins previous %+v, want %+v", logins.Previous, prevLogins)
			}
			if tc.prev == nil && logins.Previous != nil {
				t.Errorf("logins previous %+v without a previous status", logins.Previous)
			}
			if sentiment.Previous != nil {
				t.Errorf("sentiment previous %+v, but it was not in the status", sentiment.Previous)
			}
			if logins.Normalize != nil || sentiment.Normalize != nil {
				t.Error("a measure without normalize got one")
			}
		})
	}
}

func TestMeasuresNormalize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		normalize string
		score     int32
		errors    []string
	}{
		{
			name: "normalize reads the value and the account", normalize: "value * 100.0 / double(account.contract.seats)",
			score: 63, // (50 + 75) / 2
		},
		{
			name: "a normalize failing at run time is reported once Health ran it, naming its field",
			// sentiment alone scores.
			normalize: "value / account.signals.values.seats", score: 75,
			errors: []string{"spec.measures[0].normalize"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			plan.Spec.Measures[0].Normalize = tc.normalize
			a := testAccount()
			a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
			in := Measures(account(a), plan, compile(t, plan), func(string) (health.Observation, bool) {
				return health.Observation{Value: 25, Has: true, At: now}, true
			})
			if in.Measures[0].Normalize == nil {
				t.Fatal("logins has no normalize")
			}
			if errs := in.NormalizeErrors(); len(errs) > 0 {
				t.Fatalf("errors %v before Health ran normalize", errs)
			}

			res := Health(now, plan, in.Measures, nil)

			if res.Status.Score != tc.score {
				t.Errorf("score %d, want %d", res.Status.Score, tc.score)
			}
			if got := fieldsOf(in.NormalizeErrors()); !reflect.DeepEqual(got, tc.errors) {
				t.Errorf("normalize errors %v, want %v", got, tc.errors)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	measure := func(v float64) []health.Measure {
		return []health.Measure{{Name: "x", Weight: 1, Bad: 0, Good: 100, Obs: health.Observation{Value: v, Has: true}}}
	}
	twoDaysAgo := &csv1alpha1.HealthStatus{Score: 50, Band: csv1alpha1.BandYellow,
		Samples: []csv1alpha1.ScoreSample{{At: metav1.NewTime(now.Add(-48 * time.Hour)), Score: 50}}}
	for _, tc := range []struct {
		name  string
		model csv1alpha1.HealthModel
		value float64
		prev  *csv1alpha1.HealthStatus
		band  csv1alpha1.Band
		trend csv1alpha1.Trend
	}{
		{name: "the default bands make 75 Green", value: 75, band: csv1alpha1.BandGreen, trend: csv1alpha1.TrendFlat},
		{name: "the default bands make 50 Yellow", value: 50, band: csv1alpha1.BandYellow, trend: csv1alpha1.TrendFlat},
		{
			name: "the plan's bands make 75 Yellow", model: csv1alpha1.HealthModel{Bands: csv1alpha1.Bands{Green: 90, Yellow: 60}},
			value: 75, band: csv1alpha1.BandYellow, trend: csv1alpha1.TrendFlat,
		},
		{
			name: "the default hysteresis keeps Green at 69", value: 69, band: csv1alpha1.BandGreen, trend: csv1alpha1.TrendFlat,
			prev: &csv1alpha1.HealthStatus{Score: 72, Band: csv1alpha1.BandGreen},
		},
		{
			name: "the plan's hysteresis of 0 moves 69 to Yellow", model: csv1alpha1.HealthModel{Hysteresis: new(int32(0))},
			value: 69, band: csv1alpha1.BandYellow, trend: csv1alpha1.TrendFlat,
			prev: &csv1alpha1.HealthStatus{Score: 72, Band: csv1alpha1.BandGreen},
		},
		{
			name: "the default trend window holds a sample of two days ago: no baseline, flat", value: 75, prev: twoDaysAgo,
			band: csv1alpha1.BandGreen, trend: csv1alpha1.TrendFlat,
		},
		{
			name: "the plan's trend window of a day makes that sample the baseline", value: 75, prev: twoDaysAgo,
			model: csv1alpha1.HealthModel{TrendWindow: metav1.Duration{Duration: 24 * time.Hour}},
			band:  csv1alpha1.BandGreen, trend: csv1alpha1.TrendUp,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			plan.Spec.Health = tc.model

			res := Health(now, plan, measure(tc.value), tc.prev)

			if !res.Scored || res.Status.Score != int32(tc.value) {
				t.Errorf("scored %v, score %d, want %v", res.Scored, res.Status.Score, tc.value)
			}
			if res.Status.Band != tc.band {
				t.Errorf("band %s, want %s", res.Status.Band, tc.band)
			}
			if res.Status.Trend != tc.trend {
				t.Errorf("trend %s, want %s", res.Status.Trend, tc.trend)
			}
			if res.Status.PlanGeneration != plan.Generation {
				t.Errorf("plan generation %d, want %d", res.Status.PlanGeneration, plan.Generation)
			}
		})
	}
}

// scored runs Measures and Health for the account, with logins at 50
// observed now.
func scored(t *testing.T, a *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, model *Model) *health.Result {
	t.Helper()
	in := Measures(account(a), plan, model, func(string) (health.Observation, bool) {
		return health.Observation{Value: 50, Has: true, At: now}, true
	})
	res := Health(now, plan, in.Measures, a.Status.Health)
	return &res
}

func TestStage(t *testing.T) {
	daysAgo := func(d int) *metav1.Time { return lifecycle.Stamp(now.AddDate(0, 0, -d)) }
	for _, tc := range []struct {
		name      string
		stage     string
		enteredAt *metav1.Time
		sentiment csv1alpha1.Decimal
		churn     bool
		noHealth  bool

		want        string
		transitions []string
		errors      []string
	}{
		{name: "a new account enters the first stage", sentiment: "2", want: "Onboarding", transitions: []string{" -> Onboarding"}},
		{
			name: "an exit expression reads the health result and the days since stageEnteredAt", stage: "Onboarding",
			enteredAt: daysAgo(10), sentiment: "4", want: "Adoption", transitions: []string{"Onboarding -> Adoption"},
		},
		{
			name: "too few days in the stage stay in it", stage: "Onboarding", enteredAt: daysAgo(3), sentiment: "4",
			want: "Onboarding",
		},
		{
			name: "a churned ledger goes to Churned", stage: "Adoption", enteredAt: daysAgo(3), sentiment: "4", churn: true,
			want: csv1alpha1.StageChurned, transitions: []string{"Adoption -> Churned"},
		},
		{
			name: "without a health result an expression reading a measure fails, naming its field", stage: "Onboarding",
			enteredAt: daysAgo(10), sentiment: "4", noHealth: true, want: "Onboarding",
			errors: []string{"spec.stages[0].exitWhen"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			model := compile(t, plan)
			a := testAccount()
			a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": tc.sentiment}
			a.Status.Stage, a.Status.StageEnteredAt = tc.stage, tc.enteredAt
			if tc.churn {
				a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue,
					csv1alpha1.LedgerEntry{Date: "2026-11-01", Type: csv1alpha1.LedgerChurn, Amount: "2700"})
			}
			res := scored(t, a, plan, model)
			if tc.noHealth {
				res = nil
			}

			step := Stage(account(a), plan, model, res)

			if step.Stage != tc.want {
				t.Errorf("stage %q, want %q", step.Stage, tc.want)
			}
			var transitions []string
			for _, tr := range step.Transitions {
				transitions = append(transitions, tr.From+" -> "+tr.To)
				if !tr.At.Equal(now) {
					t.Errorf("transition at %s, want now", tr.At)
				}
			}
			if !reflect.DeepEqual(transitions, tc.transitions) {
				t.Errorf("transitions %v, want %v", transitions, tc.transitions)
			}
			if got := fieldsOf(step.Errors); !reflect.DeepEqual(got, tc.errors) {
				t.Errorf("errors %v, want %v", got, tc.errors)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	type cond struct{ status, reason, message string }
	noRisk := cond{"False", csv1alpha1.NoRiskReason, "No risk signal holds"}
	noExpansion := cond{"False", csv1alpha1.NoExpansionSignalReason, "No expansion signal holds"}
	const atRisk = "health.scored && health.score < 40"
	onboarding := lifecycle.Step{State: lifecycle.State{Stage: "Onboarding", EnteredAt: now.AddDate(0, 0, -3)}}
	for _, tc := range []struct {
		name      string
		atRisk    string
		expansion string
		// sentiment is the static value; "" leaves no health result.
		sentiment csv1alpha1.Decimal
		step      lifecycle.Step

		risk, exp cond
		failed    []string
	}{
		{name: "nothing holds", atRisk: atRisk, sentiment: "4", step: onboarding, risk: noRisk, exp: noExpansion},
		{
			name: "the atRisk expression holds over the health result", atRisk: atRisk, sentiment: "1", step: onboarding,
			// logins 50 and sentiment 0 score 25.
			risk: cond{"True", csv1alpha1.AtRiskSignalReason, "spec.signals.atRisk holds: " + atRisk}, exp: noExpansion,
		},
		{
			name: "a Red band is a risk without any expression", sentiment: "1", step: onboarding,
			risk: cond{"True", csv1alpha1.RedBandReason, "Health score 25 is Red"}, exp: noExpansion,
		},
		{
			name: "an overdue stage comes before a Red band", sentiment: "1",
			step: lifecycle.Step{State: onboarding.State, Overdue: true},
			risk: cond{"True", csv1alpha1.StageOverdueReason, "Stage Onboarding outlived its maxDuration"}, exp: noExpansion,
		},
		{
			name: "without a health result nothing is scored, nor Red", atRisk: atRisk, step: onboarding,
			risk: noRisk, exp: noExpansion,
		},
		{
			name: "the stage variables are the step's", expansion: "stage.name == 'Onboarding' && stage.days == 3", sentiment: "4",
			step: onboarding, risk: noRisk,
			exp: cond{"True", csv1alpha1.ExpansionSignalReason, "spec.signals.expansion holds: stage.name == 'Onboarding' && stage.days == 3"},
		},
		{
			name: "without a stage, stage.days is 0", expansion: "stage.days == 0", sentiment: "4",
			step: lifecycle.Step{State: lifecycle.State{EnteredAt: now.AddDate(0, 0, -3)}}, risk: noRisk,
			exp: cond{"True", csv1alpha1.ExpansionSignalReason, "spec.signals.expansion holds: stage.days == 0"},
		},
		{
			name: "a failing expression is Unknown, naming its field", expansion: "account.signals.values.wanted > 10.0",
			sentiment: "4", step: onboarding, risk: noRisk,
			exp:    cond{"Unknown", csv1alpha1.EvaluationFailedReason, "spec.signals.expansion: no such key: wanted"},
			failed: []string{"spec.signals.expansion"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			plan.Spec.Signals = csv1alpha1.PlanSignals{AtRisk: tc.atRisk, Expansion: tc.expansion}
			model := compile(t, plan)
			a := testAccount()
			var res *health.Result
			if tc.sentiment != "" {
				a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": tc.sentiment}
				res = scored(t, a, plan, model)
			}

			conds, failed := Signals(account(a), model, res, tc.step)

			if len(conds) != 2 || conds[0].Type != csv1alpha1.AtRiskCondition || conds[1].Type != csv1alpha1.ExpansionReadyCondition {
				t.Fatalf("conditions %+v, want AtRisk and ExpansionReady", conds)
			}
			if got := (cond{string(conds[0].Status), conds[0].Reason, conds[0].Message}); got != tc.risk {
				t.Errorf("AtRisk %+v, want %+v", got, tc.risk)
			}
			if got := (cond{string(conds[1].Status), conds[1].Reason, conds[1].Message}); got != tc.exp {
				t.Errorf("ExpansionReady %+v, want %+v", got, tc.exp)
			}
			if got := fieldsOf(failed); !reflect.DeepEqual(got, tc.failed) {
				t.Errorf("failed %v, want %v", got, tc.failed)
			}
		})
	}
}

// TestMessage joins the errors, each naming its field, as the plan's
// Valid condition carries them.
func TestMessage(t *testing.T) {
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	p := testPlan()
	p.Spec.Signals.AtRisk = "health.score < 'x'"
	p.Spec.Measures[1].Source = "survey"
	m := Compile(c, p)
	got := m.Message()
	if len(m.Errors) != 2 || got != m.Errors[0].Error()+"; "+m.Errors[1].Error() {
		t.Errorf("message %q of %v", got, m.Errors)
	}
	if (&Model{}).Message() != "" {
		t.Error("a valid model has a message")
	}
}
