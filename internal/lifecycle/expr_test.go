package lifecycle

import (
	"strings"
	"testing"

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
