package lifecycle

import (
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/fuzztest"
)

// fuzzConditions are the condition expressions of the package's tests and
// the README, the seeds of FuzzCompile and the pool FuzzEval and
// FuzzAdvance draw from.
var fuzzConditions = append([]string{
	// TestCompile and TestEvaluate.
	"measures.activeSeats.value >= 1.0",
	"measures.activeSeats.value >= 0.5 * double(account.contract.seats) && stage.days >= 7",
	"account.daysToRenewal <= 90",
	"health.score >",
	"plan.name == 'x'",
	"measures.seats.value > 1.0",
	"1 + 2",
	"measures.activeSeats.value >= 40",
	"health.score >= 70 && health.band == 'Yellow'",
	"measures.nps.value > 1.0",
	"nope",
	// testStages.
	"measures.seats.value >= 1.0",
	"measures.seats.value >= 25.0",
	"measures.seats.value >= 25.0 && stage.days >= 7",
	"health.score >= 70 && stage.days >= 30",
	"account.daysToRenewal <= 60",
	"account.daysToRenewal > 300",
	"true",
	"false",
	// TestCompilePlanTypeChecksEveryExpression.
	"account.contract.tier > 3",
	"measures.nps.value + stage.days > 10.0",
	"measures.nps.last > 1.0",
	"health.grade == 'A'",
	"account.daysToRenewal - 90",
	"health.band >= 70",
	"account.labels['tier'] > 2",
	"measures.nps.value >= 0.9 * account.contract.seats",
	"stage.name && true",
	"account.signals.values['sentiment'] == 'low'",
	// Comprehensions and macros the cost limit bounds.
	"[1, 2, 3].all(x, x > 0) && measures.all(m, measures[m].available)",
	"account.labels.exists(k, k.startsWith('tier')) || size(account.externalIDs) > 2",
	"[1,2,3,4,5,6,7,8].map(x, [1,2,3,4,5,6,7,8].map(y, [1,2,3,4,5,6,7,8].map(z, x * y * z))).size() > 0",
	"account.owner.matches('^[a-z]+@(example|acme)\\\\.com$')",
	"measures.seats.value / 0.0 > 1.0",
	"account.contract.seats / 0 > 1",
	"9223372036854775807 + account.contract.seats > 0",
}, wellTypedConditions...) // and TestTypedVariablesAcceptWellTypedExpressions

// fuzzNumbers are normalize expressions of the tests and the README.
var fuzzNumbers = []string{
	"value / double(account.contract.seats)",
	"1",
	"value > 1.0",
	"measures.nps.value",
	"value / account.contract.seats",
	"value / double(account.contract.users)",
	"account.contract.tier",
	"value * 100.0",
	"100.0 - value",
	"value / account.mrr",
	"account.signals.values['sentiment'] * value",
	"int(value)",
	"double(account.contract.seats) / 0.0",
}

// fuzzMeasureNames are the plan measures of the fuzzed plans.
var fuzzMeasureNames = map[string]bool{"seats": true, "nps": true, "activeSeats": true}

// FuzzCompile compiles arbitrary text as a condition or a normalisation:
// no panic or hang, a program or a one-line error, and a program that
// evaluates over the variables of an account without panicking.
func FuzzCompile(f *testing.F) {
	c, err := NewCompiler()
	if err != nil {
		f.Fatal(err)
	}
	for _, src := range fuzzConditions {
		f.Add(src, false, true)
		f.Add(src, false, false)
	}
	for _, src := range fuzzNumbers {
		f.Add(src, true, true)
	}
	vars := Vars(fuzzDesignInput())
	f.Fuzz(func(t *testing.T, src string, number, known bool) {
		kind := Condition
		if number {
			kind = Number
		}
		measures := fuzzMeasureNames
		if !known {
			measures = nil
		}
		var p *Program
		var err error
		fuzztest.Within(t, "Compile", func() { p, err = c.Compile(src, kind, measures) })
		if (p == nil) == (err == nil) {
			t.Fatalf("Compile(%q) = %v, %v", src, p, err)
		}
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("Compile(%q) error %q is not one line", src, msg)
			}
			return
		}
		if p.Source() != src {
			t.Fatalf("Source() = %q, want %q", p.Source(), src)
		}
		fuzztest.Within(t, "Eval", func() {
			if kind == Number {
				_, _ = p.EvalNumber(map[string]any{VarValue: 31.0, VarAccount: vars[VarAccount]})
			} else {
				_, _ = p.EvalBool(vars)
			}
		})
		if known {
			// The measure check only narrows what compiles.
			if _, err := c.Compile(src, kind, nil); err != nil {
				t.Fatalf("Compile(%q) works with the plan's measures but not without: %v", src, err)
			}
		}
	})
}

// fuzzNow is the clock of the fuzzed evaluations.
var fuzzNow = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// fuzzDesignInput is the account of TestVarsMatchTheDeclaredTypes.
func fuzzDesignInput() Input {
	acct := &csv1alpha1.CustomerAccount{}
	acct.Name, acct.Labels = "acme", map[string]string{"tier": "gold"}
	acct.Spec.ExternalIDs = map[string]string{"support": "48213"}
	acct.Spec.Contract = csv1alpha1.Contract{Seats: 50, RenewalDate: "2027-01-24", AcquisitionCost: "1000"}
	acct.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "1.5"}
	return Input{Account: acct, MRR: big.NewRat(3000, 1), Now: fuzzNow, Stage: "Onboarding", StageEnteredAt: fuzzNow.Add(-72 * time.Hour),
		Health: &csv1alpha1.HealthStatus{Score: 35, Band: csv1alpha1.BandRed,
			Measures: []csv1alpha1.MeasureStatus{{Name: "nps", Value: "12", Score: 24}}}}
}

// fuzzInput builds an account, its health and its stage from data; value
// is the seats measure's value and text goes where the API takes strings
// (dates, decimals, labels).
func fuzzInput(data []byte, value float64, text string) Input {
	b := fuzztest.Bytes(data)
	flags := b.Next()
	now := fuzzNow.Add(time.Duration(int8(b.Next())) * 24 * time.Hour)
	day := func(c byte) string {
		if c == 255 {
			return text
		}
		return now.AddDate(0, 0, int(int8(c))*4).Format(time.DateOnly)
	}
	acct := &csv1alpha1.CustomerAccount{}
	acct.Name, acct.Namespace = "acme", "team-a"
	acct.Labels = map[string]string{"tier": text}
	acct.Spec.Owner = text
	acct.Spec.ExternalIDs = map[string]string{"support": text}
	acct.Spec.Contract = csv1alpha1.Contract{Tier: "growth", Seats: int32(b.Next()) - 10, Currency: "EUR"}
	if flags&1 != 0 {
		acct.Spec.Contract.StartDate = csv1alpha1.Date(day(b.Next()))
	}
	if flags&2 != 0 {
		acct.Spec.Contract.RenewalDate = csv1alpha1.Date(day(b.Next()))
	}
	if flags&4 != 0 {
		acct.Spec.Contract.AcquisitionCost = csv1alpha1.Decimal(text)
	}
	acct.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": csv1alpha1.Decimal(text), "one": "1"}
	in := Input{Account: acct, Now: now, Stage: "Onboarding"}
	if !math.IsNaN(value) && !math.IsInf(value, 0) {
		in.MRR = new(big.Rat).SetFloat64(value)
	}
	if flags&8 != 0 {
		in.StageEnteredAt = now.Add(-time.Duration(b.Next()) * 24 * time.Hour)
	}
	if flags&16 != 0 {
		h := &csv1alpha1.HealthStatus{Score: int32(b.Next()), Band: []csv1alpha1.Band{"", "Green", "Yellow", "Red"}[b.Next()%4]}
		for _, name := range []string{"seats", "nps"} {
			m := csv1alpha1.MeasureStatus{Name: name, Score: int32(b.Next()), Stale: flags&32 != 0, Overridden: flags&64 != 0}
			switch b.Next() % 4 {
			case 0:
				m.Value = csv1alpha1.Decimal(strconv.FormatFloat(value, 'f', -1, 64))
			case 1:
				m.Value = csv1alpha1.Decimal(text)
			case 2:
				m.Error = "HTTP 503"
			}
			h.Measures = append(h.Measures, m)
		}
		in.Health = h
	}
	return in
}

// FuzzEval evaluates the conditions and normalisations of the tests over
// the variables Vars builds from arbitrary accounts, health and stages: no
// panic or hang, and the four variables always present.
func FuzzEval(f *testing.F) {
	c, err := NewCompiler()
	if err != nil {
		f.Fatal(err)
	}
	var conditions, numbers []*Program
	for _, src := range fuzzConditions {
		if p, err := c.Compile(src, Condition, fuzzMeasureNames); err == nil {
			conditions = append(conditions, p)
		}
	}
	for _, src := range fuzzNumbers {
		if p, err := c.Compile(src, Number, fuzzMeasureNames); err == nil {
			numbers = append(numbers, p)
		}
	}
	f.Add([]byte{0xff, 0, 50, 0, 80, 0, 35, 3, 24, 0, 12, 0}, 31.0, "1.5")
	f.Add([]byte{0x1f, 10, 20, 200, 255, 3, 90, 1, 100, 1, 0, 2}, 3000.0, "2027-01-24")
	f.Add([]byte{0x7f, 128, 0, 255, 255, 255, 255, 2, 255, 3, 255, 3}, math.NaN(), "NaN")
	f.Add([]byte{0x53, 127, 255, 127, 1, 0, 0, 0}, math.Inf(-1), "")
	f.Add([]byte{0x30, 1, 1, 1, 1, 1, 1}, 1e308, "-0.0000001")
	f.Fuzz(func(t *testing.T, data []byte, value float64, text string) {
		in := fuzzInput(data, value, text)
		var vars map[string]any
		fuzztest.Within(t, "Vars", func() { vars = Vars(in) })
		for _, name := range []string{VarAccount, VarMeasures, VarHealth, VarStage} {
			if _, ok := vars[name].(map[string]any); !ok {
				t.Fatalf("variable %s is %T", name, vars[name])
			}
		}
		if got := vars[VarStage].(map[string]any)["name"]; got != in.Stage {
			t.Fatalf("stage.name = %v, want %s", got, in.Stage)
		}
		fuzztest.Within(t, "Eval", func() {
			for _, p := range conditions {
				_, _ = p.EvalBool(vars)
			}
			num := map[string]any{VarValue: value, VarAccount: AccountVar(in)}
			for _, p := range numbers {
				_, _ = p.EvalNumber(num)
			}
		})
	})
}

// fuzzStageNames are the stages of the fuzzed plans, in order.
var fuzzStageNames = []string{"Onboarding", "Adoption", "Nurturing", "Renewal", "Expansion"}

// fuzzObjectiveNames are the objectives a fuzzed stage may have.
var fuzzObjectiveNames = []string{"first-login", "half-active"}

// fuzzStates are the objective states.
var fuzzStates = []csv1alpha1.ObjectiveState{csv1alpha1.ObjectivePending, csv1alpha1.ObjectiveAchieved, csv1alpha1.ObjectiveOverdue}

// fuzzPlan builds up to five stages, their compiled expressions and a
// current state from data. Expressions come from pool; the byte 255 takes
// extra (nil when it did not compile).
func fuzzPlan(data []byte, pool []*Program, extra *Program) ([]csv1alpha1.Stage, *Expressions, State, time.Time) {
	b := fuzztest.Bytes(data)
	pick := func() *Program {
		switch c := b.Next(); c {
		case 0:
			return nil
		case 255:
			return extra
		default:
			return pool[int(c-1)%len(pool)]
		}
	}
	hours := func() *metav1.Duration {
		if c := b.Next(); c != 0 {
			return &metav1.Duration{Duration: time.Duration(c) * 12 * time.Hour}
		}
		return nil
	}
	x := &Expressions{Normalize: map[string]*Program{}, ObjectiveWhen: map[string]map[string]*Program{},
		ExitWhen: map[string]*Program{}, EnterWhen: map[string]*Program{}}
	stages := make([]csv1alpha1.Stage, int(b.Next())%(len(fuzzStageNames)+1))
	for i := range stages {
		s := csv1alpha1.Stage{Name: fuzzStageNames[i], MaxDuration: hours()}
		if p := pick(); p != nil {
			s.EnterWhen, x.EnterWhen[s.Name] = p.Source(), p
		}
		if p := pick(); p != nil {
			s.ExitWhen, x.ExitWhen[s.Name] = p.Source(), p
		}
		for _, name := range fuzzObjectiveNames[:int(b.Next())%(len(fuzzObjectiveNames)+1)] {
			o := csv1alpha1.Objective{Name: name, Within: hours()}
			if p := pick(); p != nil {
				o.When = p.Source()
				if x.ObjectiveWhen[s.Name] == nil {
					x.ObjectiveWhen[s.Name] = map[string]*Program{}
				}
				x.ObjectiveWhen[s.Name][name] = p
			}
			s.Objectives = append(s.Objectives, o)
		}
		stages[i] = s
	}
	now := fuzzNow.Add(time.Duration(b.Next()) * 24 * time.Hour)
	cur := State{EnteredAt: now.Add(-time.Duration(b.Next()) * 12 * time.Hour)}
	switch c := b.Next(); c {
	case 0:
		cur = State{}
	case 1:
		cur.Stage = csv1alpha1.StageChurned
	case 2:
		cur.Stage = "Removed"
	default:
		cur.Stage = fuzzStageNames[int(c)%len(fuzzStageNames)]
	}
	seen := map[string]bool{}
	for range int(b.Next() % 6) {
		stage := "Removed" // a stage the plan no longer has
		if c := int(b.Next()); c < 4*len(fuzzStageNames) {
			stage = fuzzStageNames[c%len(fuzzStageNames)]
		}
		name := fuzzObjectiveNames[int(b.Next())%len(fuzzObjectiveNames)]
		if seen[stage+"/"+name] {
			continue
		}
		seen[stage+"/"+name] = true
		o := csv1alpha1.ObjectiveStatus{Name: name, Stage: stage, State: fuzzStates[int(b.Next())%len(fuzzStates)]}
		if c := b.Next(); c != 0 {
			o.At = Stamp(now.Add(-time.Duration(c) * time.Hour))
		}
		cur.Objectives = append(cur.Objectives, o)
	}
	return stages, x, cur, now
}

// FuzzAdvance runs the stage machine on arbitrary plans (stages, exit and
// enter conditions, objectives, deadlines), states and accounts, with the
// variables Vars builds, and checks the step: a chain of transitions from
// the current stage to the new one, a stage of the plan, the new stage's
// objectives all present, valid and unique, no Pending objective in an
// overdue stage, a next change after now, the input state left alone and
// the same step twice.
func FuzzAdvance(f *testing.F) {
	c, err := NewCompiler()
	if err != nil {
		f.Fatal(err)
	}
	var pool []*Program
	for _, src := range fuzzConditions {
		if p, err := c.Compile(src, Condition, nil); err == nil {
			pool = append(pool, p)
		}
	}
	if len(pool) == 0 {
		f.Fatal("no condition of the tests compiles")
	}
	// design runs the design's success map of TestAdvance (testStages)
	// instead of the stages fuzzPlan builds.
	designX, errs := c.CompilePlan(&csv1alpha1.SuccessPlanSpec{Measures: []csv1alpha1.Measure{{Name: "seats"}}, Stages: testStages})
	if len(errs) > 0 {
		designX = nil
	}
	// The steps of TestAdvance and TestDeadlines on the design's stages:
	// a new account, day 7 of Onboarding with enough seats, a good score
	// in Adoption, a reactivation near renewal, churn, an overdue stage.
	f.Add([]byte{0, 0, 0, 0, 0}, []byte{0x12, 0, 50, 91, 0, 1, 0, 0}, false, 0.0, "true", true)
	f.Add([]byte{0, 7, 14, 5, 0}, []byte{0x12, 0, 50, 89, 90, 1, 60, 0}, false, 30.0, "true", true)
	f.Add([]byte{0, 40, 80, 6, 0}, []byte{0x12, 0, 50, 79, 90, 1, 90, 0}, false, 90.0, "true", true)
	f.Add([]byte{0, 0, 0, 1, 0}, []byte{0x12, 0, 50, 13, 90, 1, 0, 0}, false, 0.0, "true", true)
	f.Add([]byte{0, 0, 0, 9, 0}, []byte{0x12, 0, 50, 88, 90, 1, 0, 0}, true, 0.0, "true", true)
	f.Add([]byte{0, 0, 62, 5, 2, 0, 0, 0, 0, 0, 1, 0, 0}, []byte{0x12, 0, 50, 75, 20, 3, 10, 0}, false, 3.0, "false", true)
	// Byte layouts of fuzzPlan, then of fuzzInput.
	f.Add([]byte{5, 60, 0, 14, 2, 12, 0, 13, 20, 0, 15, 0, 16, 0, 17, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0}, []byte{0x1b, 0, 30, 1, 100}, false, 30.0, "health.score >= 70", false)
	f.Add([]byte{5, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 3, 2, 0, 0, 0, 1, 1, 2, 1, 9}, []byte{0x12, 0, 10, 200}, false, 3.0, "true", false)
	f.Add([]byte{2, 0, 255, 255, 1, 255, 1, 0, 0, 0, 0, 0, 1, 1}, []byte{0x12, 1, 1, 70}, true, 0.0, "stage.days >= 0", false)
	f.Add([]byte{3, 1, 0, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 5, 4, 0, 1, 0, 1, 1, 0}, []byte{}, false, math.NaN(), "health.score >", false)
	f.Add([]byte{4, 2, 18, 19, 2, 18, 3, 19, 0, 0, 18, 19, 0, 0, 18, 19, 0, 0, 18, 19, 0, 200, 100, 3, 5, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, []byte{0xff, 3, 40, 1, 2, 3}, false, 25.0, "[1,2].exists(x, x == 2)", false)
	f.Add([]byte{0, 0, 0, 9}, []byte{}, true, 1.0, "", false)
	f.Fuzz(func(t *testing.T, plan, account []byte, churned bool, value float64, src string, design bool) {
		extra, _ := c.Compile(src, Condition, nil)
		stages, x, cur, now := fuzzPlan(plan, pool, extra)
		if design && designX != nil {
			stages, x = testStages, designX
		}
		in := fuzzInput(account, value, src)
		vars := func(stage string, enteredAt time.Time) map[string]any {
			in := in
			in.Stage, in.StageEnteredAt, in.Now = stage, enteredAt, now
			return Vars(in)
		}
		before := append([]csv1alpha1.ObjectiveStatus(nil), cur.Objectives...)
		for i := range before {
			before[i] = *cur.Objectives[i].DeepCopy()
		}
		var st, again Step
		fuzztest.Within(t, "Advance", func() {
			st = Advance(stages, x, cur, churned, vars, now)
			again = Advance(stages, x, cur, churned, vars, now)
		})
		if !reflect.DeepEqual(cur.Objectives, before) {
			t.Fatalf("Advance changed the current objectives: %+v, were %+v", cur.Objectives, before)
		}
		if !reflect.DeepEqual(st, again) {
			t.Fatalf("Advance is not deterministic:\n%+v\n%+v", st, again)
		}
		checkStep(t, stages, cur, churned, now, st)
	})
}

// checkStep checks the invariants of one step of the stage machine.
func checkStep(t *testing.T, stages []csv1alpha1.Stage, cur State, churned bool, now time.Time, st Step) {
	t.Helper()
	at := now.Truncate(time.Second)
	from := cur.Stage
	for _, tr := range st.Transitions {
		if tr.From != from || !tr.At.Equal(at) || tr.To == tr.From {
			t.Fatalf("transition %+v after stage %q at %v", tr, from, at)
		}
		switch tr.Reason {
		case csv1alpha1.StageEnteredReason, csv1alpha1.StageExitedReason, csv1alpha1.StageJumpedReason, csv1alpha1.ChurnedReason, csv1alpha1.ReactivatedReason, csv1alpha1.StageRemovedReason:
		default:
			t.Fatalf("transition %+v: unknown reason", tr)
		}
		from = tr.To
	}
	if from != st.Stage {
		t.Fatalf("transitions %+v end at %q, stage is %q", st.Transitions, from, st.Stage)
	}
	if len(st.Transitions) > len(stages)+1 {
		t.Fatalf("%d transitions through %d stages", len(st.Transitions), len(stages))
	}
	if len(st.Transitions) == 0 && !st.EnteredAt.Equal(cur.EnteredAt) || len(st.Transitions) > 0 && !st.EnteredAt.Equal(at) {
		t.Fatalf("entered at %v after %d transitions", st.EnteredAt, len(st.Transitions))
	}
	if !st.NextChange.IsZero() && !st.NextChange.After(now) {
		t.Fatalf("next change %v is not after now %v", st.NextChange, now)
	}
	for _, e := range st.Errors {
		if !strings.HasPrefix(e.Field, "spec.stages[") {
			t.Fatalf("error %v names no stage field", e)
		}
	}
	seen := map[string]bool{}
	for _, o := range st.Objectives {
		if seen[o.Stage+"/"+o.Name] {
			t.Fatalf("objective %s/%s twice: %+v", o.Stage, o.Name, st.Objectives)
		}
		seen[o.Stage+"/"+o.Name] = true
		if o.State != csv1alpha1.ObjectivePending && o.State != csv1alpha1.ObjectiveAchieved && o.State != csv1alpha1.ObjectiveOverdue {
			t.Fatalf("objective %+v", o)
		}
		if st.Overdue && o.Stage == st.Stage && o.State == csv1alpha1.ObjectivePending {
			t.Fatalf("objective %s is Pending in the overdue stage %s", o.Name, st.Stage)
		}
	}
	switch {
	case churned:
		if st.Stage != csv1alpha1.StageChurned {
			t.Fatalf("a churned account is in %q", st.Stage)
		}
	case len(stages) == 0:
		if st.Stage != cur.Stage {
			t.Fatalf("without stages the stage moved from %q to %q", cur.Stage, st.Stage)
		}
	default:
		i := indexOf(stages, st.Stage)
		if i < 0 {
			t.Fatalf("stage %q is not in the plan", st.Stage)
		}
		for _, o := range stages[i].Objectives {
			if !seen[st.Stage+"/"+o.Name] {
				t.Fatalf("objective %s of the current stage %s is missing: %+v", o.Name, st.Stage, st.Objectives)
			}
		}
		if st.Overdue && (stages[i].MaxDuration == nil || !now.After(st.EnteredAt.Add(stages[i].MaxDuration.Duration))) {
			t.Fatalf("stage %s is overdue %v after it was entered", st.Stage, now.Sub(st.EnteredAt))
		}
	}
}
