package expr

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
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
	"account.contacts.exists(c, c.role == 'DecisionMaker' && c.persona != '' && c.name != '' && c.email.endsWith('.example'))",
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
		Health: &health.Result{Scored: true, Values: []health.Value{{Available: true, Raw: 12}},
			Status: csv1alpha1.HealthStatus{Score: 35, Band: csv1alpha1.BandRed,
				Measures: []csv1alpha1.MeasureStatus{{Name: "nps", Value: "12", Score: 24}}}}})
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

	// An account variable built once serves every Vars of the evaluation,
	// and is the one read.
	in := Input{Account: acct, MRR: big.NewRat(3000, 1), Now: now}
	in.AccountVar = AccountVar(in)
	mrr, err := c.Compile("account.mrr == 3000.0", Condition, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mrr.EvalBool(Vars(in)); err != nil || !got {
		t.Errorf("with the account variable built: %v, %v; want true", got, err)
	}
	in.AccountVar = AccountVar(Input{Account: acct, MRR: big.NewRat(1, 1), Now: now})
	if got, err := mrr.EvalBool(Vars(in)); err != nil || got {
		t.Errorf("with another account variable: %v, %v; want false", got, err)
	}
}

// TestAvailableIsWhatScoringCounts: measures.x.available and
// measures.x.value are what health.Evaluate scored x with, so that
// expressions and the health score agree on every missing-data policy; a
// failing pull under HoldLast whose last value still counts is available.
func TestAvailableIsWhatScoringCounts(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	prevAt := metav1.NewTime(now.Add(-5 * time.Minute))
	held := &csv1alpha1.MeasureStatus{Name: "x", Value: "20", ObservedAt: &prevAt}
	cases := []struct {
		name      string
		x         health.Measure
		available bool
		value     float64 // measures.x.value when available
	}{
		{"a current value", health.Measure{Obs: health.Observation{Value: 30, Has: true, At: now.Add(-time.Minute)}},
			true, 30},
		{"HoldLast: a failing pull keeps the last value, which still counts",
			health.Measure{Missing: csv1alpha1.MissingHoldLast, Obs: health.Observation{Value: 20, Has: true, At: now.Add(-10 * time.Minute), Err: "HTTP 503"}},
			true, 20},
		{"HoldLast: a failing pull after a restart keeps the previous status value",
			health.Measure{Missing: csv1alpha1.MissingHoldLast, Obs: health.Observation{Err: "HTTP 503"}, Previous: held},
			true, 20},
		{"HoldLast: a held value older than staleAfter is stale",
			health.Measure{Missing: csv1alpha1.MissingHoldLast, Obs: health.Observation{Value: 20, Has: true, At: now.Add(-20 * time.Minute), Err: "HTTP 503"}},
			false, 0},
		{"HoldLast: no value was ever pulled",
			health.Measure{Missing: csv1alpha1.MissingHoldLast, Obs: health.Observation{Err: "HTTP 503"}},
			false, 0},
		{"Redistribute: a failing pull drops the last value",
			health.Measure{Obs: health.Observation{Value: 20, Has: true, At: now.Add(-10 * time.Minute), Err: "HTTP 503"}},
			false, 0},
		{"Zero: a failing pull scores 0 without a value",
			health.Measure{Missing: csv1alpha1.MissingZero, Obs: health.Observation{Value: 20, Has: true, At: now.Add(-10 * time.Minute), Err: "HTTP 503"}},
			false, 0},
		{"a value older than staleAfter is stale",
			health.Measure{Obs: health.Observation{Value: 20, Has: true, At: now.Add(-20 * time.Minute)}},
			false, 0},
		{"an active override counts over a failing pull",
			health.Measure{Obs: health.Observation{Err: "HTTP 503"},
				Override: &csv1alpha1.Override{Measure: "x", Value: "45", Expires: metav1.NewTime(now.Add(time.Hour))}},
			true, 45},
		{"a value whose normalize fails does not count",
			health.Measure{Obs: health.Observation{Value: 20, Has: true, At: now.Add(-time.Minute)},
				Normalize: func(float64) (float64, error) { return 0, errors.New("no seats") }},
			false, 0},
	}
	available, err := c.Compile("measures.x.available", Condition, nil)
	if err != nil {
		t.Fatal(err)
	}
	value, err := c.Compile("has(measures.x.value) && measures.x.value == measures.y.value", Condition, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := tc.x
			x.Name, x.Weight, x.Bad, x.Good, x.StaleAfter = "x", 1, 0, 50, 15*time.Minute
			// y is an always-available measure holding the value x should
			// show, for the comparison.
			y := health.Measure{Name: "y", Obs: health.Observation{Value: tc.value, Has: true}}
			res := health.Evaluate(now, []health.Measure{x, y}, health.Model{Green: 70, Yellow: 40}, nil)
			vars := Vars(Input{Account: &csv1alpha1.CustomerAccount{}, Health: &res, Now: now})
			got, err := available.EvalBool(vars)
			if err != nil || got != tc.available {
				t.Fatalf("measures.x.available = %v, %v; want %v", got, err, tc.available)
			}
			// Scoring counts x exactly when it is available: it then makes
			// the whole score (y weighs 0), else nothing is scored (or x
			// scores 0 under Zero).
			if counted := res.Status.Measures[0].Contribution > 0 || res.Status.Measures[0].Score > 0; counted != tc.available {
				t.Errorf("x scored %d (contribution %v), available %v", res.Status.Measures[0].Score, res.Status.Measures[0].Contribution, tc.available)
			}
			same, err := value.EvalBool(vars)
			if err != nil || same != tc.available {
				t.Errorf("measures.x.value == %v: %v, %v; want %v", tc.value, same, err, tc.available)
			}
		})
	}
}

// TestVarsWithoutHealth: without a health result there are no measures and
// the account is not scored.
func TestVarsWithoutHealth(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Compile("!health.scored && !has(health.score) && size(measures) == 0", Condition, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.EvalBool(Vars(Input{Account: &csv1alpha1.CustomerAccount{}})); err != nil || !got {
		t.Errorf("%s = %v, %v; want true", p.Source(), got, err)
	}
}

// TestContacts: account.contacts lists spec.contacts with their role and
// persona, so a plan can test who the account has; type errors in a
// comprehension over them are found at compile time.
func TestContacts(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	withContacts := func(contacts ...csv1alpha1.Contact) map[string]any {
		acct := &csv1alpha1.CustomerAccount{}
		acct.Spec.Contacts = contacts
		return Vars(Input{Account: acct, Now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)})
	}
	ada := csv1alpha1.Contact{Name: "Ada", Email: "ada@acme.example", Role: csv1alpha1.RoleDecisionMaker}
	bob := csv1alpha1.Contact{Name: "Bob", Email: "bob@acme.example", Role: csv1alpha1.RoleUser, Persona: "data-engineer"}
	noDecisionMaker := "!account.contacts.exists(c, c.role == 'DecisionMaker')"
	cases := []struct {
		name string
		src  string
		vars map[string]any
		want bool
	}{
		{"an account without a decision maker is a risk", noDecisionMaker, withContacts(bob), true},
		{"an account without contacts is a risk", noDecisionMaker, withContacts(), true},
		{"an account with a decision maker is not", noDecisionMaker, withContacts(bob, ada), false},
		{"contacts can be counted by role", "account.contacts.filter(c, c.role == 'User').size() == 1", withContacts(ada, bob), true},
		{"a persona is readable", "account.contacts.exists(c, c.persona == 'data-engineer')", withContacts(ada, bob), true},
		{"an unset persona is empty, not absent", "account.contacts.all(c, c.role != 'DecisionMaker' || c.persona == '')", withContacts(ada), true},
		{"names and emails are readable", "account.contacts.exists(c, c.name == 'Ada' && c.email == 'ada@acme.example')", withContacts(ada), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Compile(tc.src, Condition, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := p.EvalBool(tc.vars); err != nil || got != tc.want {
				t.Errorf("%s = %v, %v; want %v", tc.src, got, err, tc.want)
			}
		})
	}

	compileErrors := []struct {
		name, src, wantErr string
	}{
		{"a role compared with a number", "account.contacts.exists(c, c.role == 1)", "no matching overload"},
		{"an unknown contact field", "account.contacts.exists(c, c.phone == '1')", "undefined field 'phone'"},
		{"the contacts used as a bool", "account.contacts", "must produce bool"},
		{"a size compared with a string", "account.contacts.size() > 'x'", "no matching overload"},
	}
	for _, tc := range compileErrors {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Compile(tc.src, Condition, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}

	t.Run("a nested comprehension over the most contacts stays within the cost limit", func(t *testing.T) {
		many := make([]csv1alpha1.Contact, maxContacts)
		for i := range many {
			many[i] = csv1alpha1.Contact{Name: "n", Email: "e@x.example", Role: csv1alpha1.RoleUser}
		}
		p, err := c.Compile("account.contacts.all(a, account.contacts.all(b, a.role == b.role && a.name.size() < 300))", Condition, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := p.EvalBool(withContacts(many...)); err != nil || !got {
			t.Errorf("= %v, %v; want true", got, err)
		}
	})
}

// TestEvaluationErrorsNameNoContact: an error that would quote a contact's
// name or email (which end up in conditions, Events and logs) has them
// redacted.
func TestEvaluationErrorsNameNoContact(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	acct := &csv1alpha1.CustomerAccount{}
	acct.Spec.Contacts = []csv1alpha1.Contact{{Name: "Ada Lovelace", Email: "ada@acme.example", Role: csv1alpha1.RoleDecisionMaker}}
	vars := Vars(Input{Account: acct, Now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)})
	cases := []struct {
		name   string
		src    string
		kind   Kind
		quotes bool // CEL's error would quote the value
	}{
		{"a missing key quoting a name", "account.labels[account.contacts[0].name] == 'x'", Condition, true},
		{"a missing key quoting an email", "account.externalIDs[account.contacts[0].email] == 'x'", Condition, true},
		{"a timestamp conversion", "account.contacts.exists(c, timestamp(c.email) > timestamp('2026-01-01T00:00:00Z'))", Condition, false},
		{"an int conversion", "account.contacts.exists(c, int(c.email) > 0)", Condition, false},
		{"a double conversion", "double(account.contacts[0].email)", Number, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Compile(tc.src, tc.kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == Number {
				_, err = p.EvalNumber(vars)
			} else {
				_, err = p.EvalBool(vars)
			}
			if err == nil {
				t.Fatal("want an evaluation error")
			}
			for _, pii := range []string{"ada@acme.example", "Ada Lovelace", "acme.example"} {
				if strings.Contains(err.Error(), pii) {
					t.Errorf("error %q contains %q", err, pii)
				}
			}
			if tc.quotes && !strings.Contains(err.Error(), redacted) {
				t.Errorf("error %q does not say what it redacted", err)
			}
		})
	}
}

// TestCostLimit: an expression whose worst case is fixed and small runs
// without counting its cost; one over the account's lists, maps or
// strings counts it, and the limit stops a pathological one.
func TestCostLimit(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		src     string
		kind    Kind
		tracked bool
	}{
		{"comparisons of fields", "measures.usage.available && measures.usage.value >= 0.5 * double(account.contract.seats) && stage.days >= 7", Condition, false},
		{"a score and a band", "health.scored && (health.score < 40 || health.band == 'Red')", Condition, false},
		{"a normalize expression", "value / double(account.contract.seats)", Number, false},
		{"a comprehension over the contacts", "account.contacts.exists(c, c.role == 'DecisionMaker')", Condition, true},
		{"a comprehension over a map", "account.labels.all(k, k != '')", Condition, true},
		{"a string function", "account.displayName.contains('x')", Condition, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Compile(tc.src, tc.kind, map[string]bool{"usage": true})
			if err != nil {
				t.Fatal(err)
			}
			if p.tracked != tc.tracked {
				t.Errorf("cost tracked = %v, want %v", p.tracked, tc.tracked)
			}
		})
	}

	t.Run("the limit stops a pathological comprehension", func(t *testing.T) {
		acct := &csv1alpha1.CustomerAccount{}
		acct.Spec.ExternalIDs = map[string]string{}
		for i := range 100 {
			acct.Spec.ExternalIDs[strings.Repeat("k", i+1)] = "v"
		}
		vars := Vars(Input{Account: acct, Now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)})
		p, err := c.Compile("account.externalIDs.all(a, account.externalIDs.all(b, account.externalIDs.all(c, a + b + c != '')))", Condition, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.EvalBool(vars); err == nil || !strings.Contains(err.Error(), "cost limit") {
			t.Errorf("error = %v, want the cost limit exceeded", err)
		}
	})
}
