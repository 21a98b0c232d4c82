package expr

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/fuzztest"
	"customersuccess.dev/success-operator/internal/health"
)

// fuzzConditions are the condition expressions of the package's tests and
// the README, the seeds of FuzzCompile and the pool FuzzEval draws from.
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
	// The design's stages (lifecycle's testStages).
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
		Health: &health.Result{Scored: true, Values: []health.Value{{Available: true, Raw: 12}},
			Status: csv1alpha1.HealthStatus{Score: 35, Band: csv1alpha1.BandRed,
				Measures: []csv1alpha1.MeasureStatus{{Name: "nps", Value: "12", Score: 24}}}}}
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
		res := &health.Result{Status: csv1alpha1.HealthStatus{Score: int32(b.Next()),
			Band: []csv1alpha1.Band{"", "Green", "Yellow", "Red"}[b.Next()%4]}}
		res.Scored = res.Status.Band != "" && flags&32 == 0
		for _, name := range []string{"seats", "nps"} {
			res.Status.Measures = append(res.Status.Measures, csv1alpha1.MeasureStatus{Name: name, Score: int32(b.Next())})
			var v health.Value
			switch b.Next() % 4 {
			case 0:
				v = health.Value{Available: true, Raw: value}
			case 1:
				f, _ := strconv.ParseFloat(text, 64)
				v = health.Value{Available: true, Raw: f}
			case 2:
				v = health.Value{Raw: value} // not available: Raw is ignored
			}
			res.Values = append(res.Values, v)
		}
		if flags&64 != 0 {
			res.Values = res.Values[:1] // a result shorter than its measures
		}
		in.Health = res
	}
	return in
}

// FuzzEval evaluates the conditions and normalisations of the tests over
// the variables Vars builds from arbitrary accounts, health results and
// stages: no panic or hang, the four variables always present, and each
// measure available, with a value, exactly when the result says so.
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
		if in.Health != nil {
			for i, m := range in.Health.Status.Measures {
				want := i < len(in.Health.Values) && in.Health.Values[i].Available
				mv := vars[VarMeasures].(map[string]any)[m.Name].(map[string]any)
				if _, has := mv["value"]; mv["available"] != want || has != want {
					t.Fatalf("measures.%s = %v, want available %v", m.Name, mv, want)
				}
			}
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
