package lifecycle

import (
	"math/big"
	"strings"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func TestCompile(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	measures := map[string]bool{"activeSeats": true, "nps": true}
	cases := []struct {
		name, src string
		kind      Kind
		wantErr   string
	}{
		{"a comparison of a measure value", "measures.activeSeats.value >= 1.0", Condition, ""},
		{"the design's exit criterion", "measures.activeSeats.value >= 0.5 * double(account.contract.seats) && stage.days >= 7", Condition, ""},
		{"a renewal window", "account.daysToRenewal <= 90", Condition, ""},
		{"a normalisation", "value / double(account.contract.seats)", Number, ""},
		{"an integer normalisation", "1", Number, ""},
		{"a syntax error", "health.score >", Condition, "Syntax error"},
		{"an unknown variable", "plan.name == 'x'", Condition, "undeclared reference to 'plan'"},
		{"an unknown measure", "measures.seats.value > 1.0", Condition, `unknown measure "seats"`},
		{"a condition that is a number", "1 + 2", Condition, "must produce bool"},
		{"a normalisation that is a bool", "value > 1.0", Number, "must produce double"},
		{"measures in a normalisation", "measures.nps.value", Number, "undeclared reference to 'measures'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Compile(tc.src, tc.kind, measures)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{
		VarAccount:  map[string]any{"contract": map[string]any{"seats": int64(50)}, "daysToRenewal": int64(80)},
		VarMeasures: map[string]any{"activeSeats": map[string]any{"value": 31.0, "available": true}},
		VarHealth:   map[string]any{"score": int64(72), "band": "Yellow"},
		VarStage:    map[string]any{"name": "Onboarding", "days": int64(9)},
	}
	cases := []struct {
		src  string
		want bool
	}{
		{"measures.activeSeats.value >= 0.5 * double(account.contract.seats) && stage.days >= 7", true},
		{"measures.activeSeats.value >= 40", false},
		{"health.score >= 70 && health.band == 'Yellow'", true},
		{"account.daysToRenewal <= 90", true},
	}
	for _, tc := range cases {
		p, err := c.Compile(tc.src, Condition, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		got, err := p.EvalBool(vars)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.src, got, err, tc.want)
		}
	}
	n, err := c.Compile("value / double(account.contract.seats)", Number, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := n.EvalNumber(map[string]any{VarValue: 31.0, VarAccount: vars[VarAccount]}); err != nil || got != 0.62 {
		t.Errorf("normalize = %v, %v; want 0.62", got, err)
	}
	// A missing key is an evaluation error, never a panic.
	p, _ := c.Compile("measures.nps.value > 1.0", Condition, nil)
	if _, err := p.EvalBool(vars); err == nil {
		t.Error("want an error for a missing measure")
	}
}

func TestCompilePlanNamesTheField(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	spec := &csv1alpha1.SuccessPlanSpec{
		Measures: []csv1alpha1.Measure{{Name: "nps"}},
		Stages: []csv1alpha1.Stage{
			{Name: "Onboarding", Objectives: []csv1alpha1.Objective{{Name: "ok", When: "measures.nps.value > 0.0"}, {Name: "bad", When: "nope"}}},
			{Name: "Adoption", ExitWhen: "health.score >= 70", EnterWhen: "1"},
		},
		Signals: csv1alpha1.PlanSignals{AtRisk: "health.score < 40"},
	}
	x, errs := c.CompilePlan(spec)
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2", errs)
	}
	if got := errs[0].Field; got != "spec.stages[0].objectives[1].when" {
		t.Errorf("first error field = %s", got)
	}
	if got := errs[1].Field; got != "spec.stages[1].enterWhen" {
		t.Errorf("second error field = %s", got)
	}
	if x.ObjectiveWhen["Onboarding"]["ok"] == nil || x.ExitWhen["Adoption"] == nil || x.AtRisk == nil || x.Expansion != nil {
		t.Errorf("compiled expressions missing: %+v", x)
	}
}

// TestCompilePlanTypeChecksEveryExpression: every plan expression is
// checked against the declared variable types, and the error names the
// field it was written in.
func TestCompilePlanTypeChecksEveryExpression(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		spec    func(*csv1alpha1.SuccessPlanSpec, string)
		src     string
		field   string
		wantErr string
	}{
		{"a double divided by an int seat count", setNormalize, "value / account.contract.seats",
			"spec.measures[0].normalize", "no matching overload for '_/_'"},
		{"an unknown field of the contract", setNormalize, "value / double(account.contract.users)",
			"spec.measures[0].normalize", "undefined field 'users'"},
		{"a normalisation that produces a string", setNormalize, "account.contract.tier",
			"spec.measures[0].normalize", "must produce double"},
		{"a string compared with a number", setExitWhen, "account.contract.tier > 3",
			"spec.stages[0].exitWhen", "no matching overload"},
		{"arithmetic between a measure value and stage days", setExitWhen, "measures.nps.value + stage.days > 10.0",
			"spec.stages[0].exitWhen", "no matching overload for '_+_'"},
		{"an unknown field of a measure", setExitWhen, "measures.nps.last > 1.0",
			"spec.stages[0].exitWhen", "undefined field 'last'"},
		{"an unknown field of the health", setEnterWhen, "health.grade == 'A'",
			"spec.stages[0].enterWhen", "undefined field 'grade'"},
		{"a condition that produces a number", setEnterWhen, "account.daysToRenewal - 90",
			"spec.stages[0].enterWhen", "must produce bool"},
		{"a band compared with a number", setObjective, "health.band >= 70",
			"spec.stages[0].objectives[0].when", "no matching overload"},
		{"a label read as a number", setAtRisk, "account.labels['tier'] > 2",
			"spec.signals.atRisk", "no matching overload"},
		{"a seat count added to a double", setExpansion, "measures.nps.value >= 0.9 * account.contract.seats",
			"spec.signals.expansion", "no matching overload for '_*_'"},
		{"a stage name used as a bool", setExpansion, "stage.name && true",
			"spec.signals.expansion", "expected type 'bool' but found 'string'"},
		{"a signal value read as a string", setAtRisk, "account.signals.values['sentiment'] == 'low'",
			"spec.signals.atRisk", "no matching overload for '_==_'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &csv1alpha1.SuccessPlanSpec{
				Measures: []csv1alpha1.Measure{{Name: "nps"}},
				Stages:   []csv1alpha1.Stage{{Name: "Onboarding"}},
			}
			tc.spec(spec, tc.src)
			_, errs := c.CompilePlan(spec)
			if len(errs) != 1 {
				t.Fatalf("errors = %v, want exactly one", errs)
			}
			if errs[0].Field != tc.field {
				t.Errorf("field = %s, want %s", errs[0].Field, tc.field)
			}
			if !strings.Contains(errs[0].Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", errs[0].Error(), tc.wantErr)
			}
		})
	}
}

// TestTypedVariablesAcceptWellTypedExpressions: the declared types cover
// every variable the README documents.
func TestTypedVariablesAcceptWellTypedExpressions(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range wellTypedConditions {
		if _, err := c.Compile(src, Condition, map[string]bool{"nps": true}); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// wellTypedConditions read every variable and field the README documents.
var wellTypedConditions = []string{
	"account.name == 'acme' && account.namespace != '' && account.owner.endsWith('.example')",
	"account.labels['customersuccess.dev/segment'] == 'smb' && account.externalIDs['support'] == '48213'",
	"account.contract.tier == 'growth' && account.contract.currency == 'EUR' && account.contract.seats > 10",
	"account.contract.startDate < account.contract.renewalDate && account.contract.acquisitionCost > 0.0",
	"account.mrr >= 1000.0 && account.daysSinceStart > 30 && account.daysToRenewal <= 90",
	"has(account.daysToRenewal) && account.daysToRenewal < 60",
	"account.signals.values['sentiment'] < 2.0",
	"measures.nps.available && measures.nps.value >= 50.0 && measures.nps.score > 40",
	"health.scored && health.score < 40 && health.band == 'Red'",
	"stage.name == 'Onboarding' && stage.days >= 7.5",
}

func setNormalize(s *csv1alpha1.SuccessPlanSpec, src string) { s.Measures[0].Normalize = src }
func setExitWhen(s *csv1alpha1.SuccessPlanSpec, src string)  { s.Stages[0].ExitWhen = src }
func setEnterWhen(s *csv1alpha1.SuccessPlanSpec, src string) { s.Stages[0].EnterWhen = src }
func setObjective(s *csv1alpha1.SuccessPlanSpec, src string) {
	s.Stages[0].Objectives = []csv1alpha1.Objective{{Name: "o", When: src}}
}
func setAtRisk(s *csv1alpha1.SuccessPlanSpec, src string)    { s.Signals.AtRisk = src }
func setExpansion(s *csv1alpha1.SuccessPlanSpec, src string) { s.Signals.Expansion = src }

// TestVarsMatchTheDeclaredTypes: the maps Vars builds evaluate under the
// declared types, signals and labels included.
func TestVarsMatchTheDeclaredTypes(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	acct := &csv1alpha1.CustomerAccount{}
	acct.Name, acct.Labels = "acme", map[string]string{"tier": "gold"}
	acct.Spec.Contract = csv1alpha1.Contract{Seats: 50, RenewalDate: "2027-01-24", AcquisitionCost: "1000"}
	acct.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "1.5"}
	vars := Vars(Input{Account: acct, MRR: big.NewRat(3000, 1), Now: now, Stage: "Onboarding", StageEnteredAt: now.Add(-72 * time.Hour),
		Health: &csv1alpha1.HealthStatus{Score: 35, Band: csv1alpha1.BandRed,
			Measures: []csv1alpha1.MeasureStatus{{Name: "nps", Value: "12", Score: 24}}}})
	src := "account.signals.values['sentiment'] < 2.0 && account.labels['tier'] == 'gold' && account.mrr == 3000.0 && " +
		"account.daysToRenewal == 60 && !has(account.daysSinceStart) && account.contract.acquisitionCost == 1000.0 && " +
		"measures.nps.value == 12.0 && measures.nps.available && health.band == 'Red' && stage.days == 3"
	p, err := c.Compile(src, Condition, map[string]bool{"nps": true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.EvalBool(vars); err != nil || !got {
		t.Errorf("%s = %v, %v; want true", src, got, err)
	}
}
