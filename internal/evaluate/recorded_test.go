package evaluate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// edgePlan scores one remote measure, adoption, as is from 0 to 1, with
// Green from 73 and no hysteresis: 0.725 is on the band edge.
func edgePlan() *csv1alpha1.SuccessPlan {
	p := testPlan()
	p.Spec.Measures = []csv1alpha1.Measure{{Name: "adoption", Source: "telemetry", Query: "max by (account) (adoption)",
		Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 1}, Weight: 40}}
	p.Spec.Stages = []csv1alpha1.Stage{{Name: "Adoption"}}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	p.Spec.Health = csv1alpha1.HealthModel{Bands: csv1alpha1.Bands{Green: 73, Yellow: 40}, Hysteresis: new(int32(0))}
	return p
}

// rescore evaluates the account's health from its own status, as the
// kubectl plugin (preview, explain) and the operator after a restart read
// it: the remote values through Recorded, the previous health being the
// recorded one.
func rescore(t *testing.T, acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, model *Model, at time.Time) health.Result {
	t.Helper()
	a := Account{Object: acct, MRR: account(acct).MRR, Now: at}
	in := Measures(a, plan, model, Recorded(acct, at))
	if len(in.Awaited) > 0 {
		t.Fatalf("the status records no value of %v", in.Awaited)
	}
	return Health(at, plan, in.Measures, acct.Status.Health)
}

// stored is acct as the API server returns it once its status is written:
// through JSON.
func stored(t *testing.T, acct *csv1alpha1.CustomerAccount) *csv1alpha1.CustomerAccount {
	t.Helper()
	b, err := json.Marshal(acct)
	if err != nil {
		t.Fatal(err)
	}
	out := &csv1alpha1.CustomerAccount{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordedScoreOnBandEdge: a source serves 0.72499951 with a band
// edge at 73. The status records the value 0.725 and the score 73
// (Green) that 0.725 gives, and scoring the status again gives the same.
// Scoring the value as pulled gave 72 (Yellow) beside a recorded 0.725.
func TestRecordedScoreOnBandEdge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pulled float64
		prev   *csv1alpha1.HealthStatus

		value        csv1alpha1.Decimal
		score        int32
		contribution float64
		band         csv1alpha1.Band
	}{
		{name: "0.72499951 is recorded as 0.725 and scores 73, Green", pulled: 0.72499951,
			value: "0.725", score: 73, contribution: 72.5, band: csv1alpha1.BandGreen},
		{name: "0.72499951 after a Yellow status scores 73 and turns Green", pulled: 0.72499951,
			prev:  &csv1alpha1.HealthStatus{Score: 72, Band: csv1alpha1.BandYellow},
			value: "0.725", score: 73, contribution: 72.5, band: csv1alpha1.BandGreen},
		{name: "0.7250004 is recorded as 0.725 and scores 73, Green", pulled: 0.7250004,
			value: "0.725", score: 73, contribution: 72.5, band: csv1alpha1.BandGreen},
		{name: "0.7244996 is recorded as 0.7245 and scores 72, Yellow", pulled: 0.7244996,
			value: "0.7245", score: 72, contribution: 72.5, band: csv1alpha1.BandYellow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := edgePlan()
			model := compile(t, plan)
			acct := testAccount()
			acct.Status.Health = tc.prev
			in := Measures(account(acct), plan, model, func(string) (health.Observation, bool) {
				return health.Observation{Value: tc.pulled, Has: true, At: now.Add(-time.Minute)}, true
			})
			res := Health(now, plan, in.Measures, acct.Status.Health)

			m := res.Status.Measures[0]
			if m.Value != tc.value || m.Score != tc.score || m.Contribution != tc.contribution {
				t.Errorf("measure %+v, want value %s, score %d, contribution %v", m, tc.value, tc.score, tc.contribution)
			}
			if res.Status.Score != tc.score || res.Status.Band != tc.band {
				t.Errorf("health %d %s, want %d %s", res.Status.Score, res.Status.Band, tc.score, tc.band)
			}
			if v, _ := strconv.ParseFloat(string(tc.value), 64); res.Values[0].Raw != v {
				t.Errorf("expressions read %v, the status shows %s", res.Values[0].Raw, tc.value)
			}

			acct.Status.Health = &res.Status
			again := rescore(t, stored(t, acct), plan, model, now.Add(time.Hour))
			if again.Status.Score != res.Status.Score || again.Status.Band != res.Status.Band ||
				!reflect.DeepEqual(scoring(again.Status.Measures), scoring(res.Status.Measures)) ||
				!again.Status.Measures[0].ObservedAt.Equal(res.Status.Measures[0].ObservedAt) {
				t.Errorf("the recorded status scores %d %s %+v, it records %d %s %+v", again.Status.Score, again.Status.Band,
					again.Status.Measures, res.Status.Score, res.Status.Band, res.Status.Measures)
			}
		})
	}
}

// edgeDraw draws a plan, an account and what its sources serve, with values
// near the edges where a score or a band changes.
type edgeDraw struct {
	rng *rand.Rand
}

// thresholdChoices are the plan thresholds drawn: higher and lower is
// better, fractions, equal thresholds, negative ones.
var thresholdChoices = []csv1alpha1.Thresholds{
	{Bad: 0, Good: 1}, {Bad: 0.2, Good: 0.7}, {Bad: 10, Good: 0}, {Bad: 0, Good: 50}, {Bad: 1, Good: 5},
	{Bad: 5, Good: 5}, {Bad: -3.5, Good: 2.25}, {Bad: 0, Good: 3}, {Bad: 100, Good: 7},
}

// normalizeChoices are normalize expressions with the factor that maps a
// normalised value back to the raw one (value = normalised * factor).
var normalizeChoices = []struct {
	expr   string
	factor float64
}{
	{"", 1}, {"value / double(account.contract.seats)", 50}, {"value * 3.0", 1.0 / 3}, {"value / 7.0", 7},
}

// scoreAt is the normalised value at which the thresholds score s.
func scoreAt(th csv1alpha1.Thresholds, s float64) float64 {
	return th.Bad + (th.Good-th.Bad)*s/100
}

// near moves x by less than a unit of the sixth decimal, sometimes by
// exactly half of one, sometimes not at all.
func (d edgeDraw) near(x float64) float64 {
	switch d.rng.IntN(8) {
	case 0:
		return x
	case 1:
		return x + 5e-7
	case 2:
		return x - 5e-7
	case 3:
		return x - 4.9e-7
	default:
		return x + (d.rng.Float64()*2-1)*1e-6
	}
}

// edge is a normalised value near an edge of the measure's thresholds: bad,
// good, a half point of its score (where its rounding flips), or the
// score of a band edge.
func (d edgeDraw) edge(th csv1alpha1.Thresholds, bandEdges []int32) float64 {
	switch d.rng.IntN(4) {
	case 0:
		return th.Bad
	case 1:
		return th.Good
	case 2:
		return scoreAt(th, float64(d.rng.IntN(100))+0.5)
	default:
		return scoreAt(th, float64(bandEdges[d.rng.IntN(len(bandEdges))])-0.5)
	}
}

// decimal writes x with at most six decimals, as admission lets a
// spec.signals value or an override through.
func (d edgeDraw) decimal(x float64) csv1alpha1.Decimal {
	s := strconv.FormatFloat(x, 'f', d.rng.IntN(7), 64)
	if s == "-0" {
		s = "0"
	}
	return csv1alpha1.Decimal(s)
}

// plan draws the bands, hysteresis, measures (remote and static, some
// normalised, some with a missing policy) and an atRisk signal reading
// the first measure's value at its edge.
func (d edgeDraw) plan() (*csv1alpha1.SuccessPlan, []int32) {
	p := testPlan()
	green := int32(41 + d.rng.IntN(55))
	yellow := int32(5 + d.rng.IntN(int(green)-5))
	hyst := int32(d.rng.IntN(4))
	p.Spec.Health = csv1alpha1.HealthModel{Bands: csv1alpha1.Bands{Green: green, Yellow: yellow}, Hysteresis: &hyst}
	bandEdges := []int32{green, yellow, green + hyst, green - hyst, yellow + hyst, yellow - hyst}
	p.Spec.Measures = nil
	policies := []csv1alpha1.MissingPolicy{"", csv1alpha1.MissingRedistribute, csv1alpha1.MissingZero, csv1alpha1.MissingHoldLast}
	for i := range 1 + d.rng.IntN(4) {
		m := csv1alpha1.Measure{Name: fmt.Sprintf("m%d", i), Thresholds: thresholdChoices[d.rng.IntN(len(thresholdChoices))],
			Weight: int32(d.rng.IntN(60)), Missing: policies[d.rng.IntN(len(policies))]}
		if m.Weight == 0 && i == 0 {
			m.Weight = 40
		}
		switch d.rng.IntN(5) {
		case 0:
			m.Source, m.Key = "csm", m.Name
		case 1:
			m.Source, m.Key = "csm", "nps"
		default:
			m.Source, m.Query = "telemetry", "max by (account) ("+m.Name+")"
			m.Normalize = normalizeChoices[d.rng.IntN(len(normalizeChoices))].expr
		}
		p.Spec.Measures = append(p.Spec.Measures, m)
	}
	p.Spec.Stages = []csv1alpha1.Stage{{Name: "Adoption"}}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	return p, bandEdges
}

// factor is the raw-to-normalised factor of the measure's normalize.
func factor(m *csv1alpha1.Measure) float64 {
	for _, n := range normalizeChoices {
		if n.expr == m.Normalize {
			return n.factor
		}
	}
	panic("unknown normalize " + m.Normalize)
}

// account draws the account's signals, overrides and previous health, and
// what the sources serve now.
func (d edgeDraw) account(plan *csv1alpha1.SuccessPlan, bandEdges []int32) (*csv1alpha1.CustomerAccount, map[string]health.Observation) {
	acct := testAccount()
	pulled := map[string]health.Observation{}
	acct.Spec.Signals.Values = map[string]csv1alpha1.Decimal{}
	nps := make([]int32, 11)
	for i := range nps {
		nps[i] = int32(d.rng.IntN(7))
	}
	acct.Spec.Signals.Surveys.NPS = nps
	for i := range plan.Spec.Measures {
		m := &plan.Spec.Measures[i]
		th := m.Thresholds
		switch {
		case m.Key == "nps":
			// From the survey counts: a figure such as 500/12.
		case m.Source == "csm":
			acct.Spec.Signals.Values[m.Key] = d.decimal(d.near(d.edge(th, bandEdges)))
		default:
			raw := d.near(d.edge(th, bandEdges) * factor(m))
			switch d.rng.IntN(10) {
			case 0: // not pulled yet: missing
			case 1:
				pulled[m.Name] = health.Observation{Value: raw, Has: true, At: now.Add(-time.Minute), Err: "support: HTTP 503"}
			default:
				pulled[m.Name] = health.Observation{Value: raw, Has: true, At: now.Add(-time.Duration(d.rng.IntN(600)) * time.Second)}
			}
		}
		if d.rng.IntN(6) == 0 {
			v := d.edge(th, bandEdges) * factor(m)
			ov := d.decimal(d.near(v))
			if d.rng.IntN(4) == 0 {
				// More decimals than admission lets through: scored as
				// the status records it all the same.
				ov = csv1alpha1.Decimal(strconv.FormatFloat(d.near(v), 'f', 8, 64))
			}
			acct.Spec.Overrides = append(acct.Spec.Overrides, csv1alpha1.Override{Measure: m.Name, Value: ov,
				Reason: "QBR", Author: "giulia", Expires: metav1.NewTime(now.Add(30 * 24 * time.Hour))})
		}
	}
	if d.rng.IntN(2) == 0 {
		bands := []csv1alpha1.Band{csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed}
		acct.Status.Health = &csv1alpha1.HealthStatus{Score: int32(d.rng.IntN(101)), Band: bands[d.rng.IntN(3)],
			Samples: []csv1alpha1.ScoreSample{{At: metav1.NewTime(now.Add(-24 * time.Hour)), Score: int32(d.rng.IntN(101))}}}
	}
	return acct, pulled
}

// TestRecordedStatusReproducesItsScore draws values near threshold edges
// (bad, good, the half points where a measure's score rounds the other
// way) and band edges (with and without hysteresis), within a unit of the
// sixth decimal, remote (some normalised) and static, some overridden;
// evaluates as the operator does; then scores the recorded status again
// as kubectl success preview reads it (Recorded), an hour later, and gets
// the same score, band and measures, and the same atRisk signal, which
// reads the first measure's value at its edge.
func TestRecordedStatusReproducesItsScore(t *testing.T) {
	d := edgeDraw{rng: rand.New(rand.NewPCG(20261124, 73))}
	const draws = 4000
	for n := range draws {
		plan, bandEdges := d.plan()
		acct, pulled := d.account(plan, bandEdges)
		m0 := &plan.Spec.Measures[0]
		edge := strconv.FormatFloat(d.edge(m0.Thresholds, bandEdges)*factor(m0), 'f', -1, 64)
		plan.Spec.Signals.AtRisk = "measures.m0.available && measures.m0.value >= " + withPoint(edge)
		model := compile(t, plan)
		in := Measures(account(acct), plan, model, func(name string) (health.Observation, bool) {
			o, ok := pulled[name]
			return o, ok
		})
		res := Health(now, plan, in.Measures, acct.Status.Health)
		step := Stage(account(acct), plan, model, &res)
		conds, failed := Signals(account(acct), model, &res, step)
		if len(failed) > 0 || len(in.NormalizeErrors()) > 0 {
			t.Fatalf("draw %d: evaluation failed: %v %v", n, failed, in.NormalizeErrors())
		}
		for i, ms := range res.Status.Measures {
			if ms.Value == "" {
				continue
			}
			if v, err := strconv.ParseFloat(string(ms.Value), 64); err != nil || v != res.Values[i].Raw {
				t.Fatalf("draw %d: %s shows %s, expressions read %v", n, ms.Name, ms.Value, res.Values[i].Raw)
			}
		}

		recorded := acct.DeepCopy()
		recorded.Status.Health = &res.Status
		enteredAt := metav1.NewTime(step.EnteredAt)
		recorded.Status.Stage, recorded.Status.StageEnteredAt = step.Stage, &enteredAt
		recorded.Status.Conditions = conds
		recorded = stored(t, recorded)
		later := now.Add(time.Hour)
		again := rescore(t, recorded, plan, model, later)
		a := Account{Object: recorded, MRR: account(recorded).MRR, Now: later}
		conds2, _ := Signals(a, model, &again, Stage(a, plan, model, &again))

		if again.Scored != res.Scored || again.Status.Score != res.Status.Score || again.Status.Band != res.Status.Band {
			t.Fatalf("draw %d: the status records %d %s (scored %v), scores %d %s (scored %v) again\nplan %+v\naccount spec %+v\npulled %+v\nstatus %+v",
				n, res.Status.Score, res.Status.Band, res.Scored, again.Status.Score, again.Status.Band, again.Scored,
				plan.Spec, acct.Spec, pulled, res.Status)
		}
		if got, want := scoring(again.Status.Measures), scoring(res.Status.Measures); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(again.Values, res.Values) {
			t.Fatalf("draw %d: the status records measures\n%+v (%+v)\nscores them again as\n%+v (%+v)", n,
				want, res.Values, got, again.Values)
		}
		if AtRisk(conds2, &again.Status) != AtRisk(conds, &res.Status) {
			t.Fatalf("draw %d: atRisk %q was %v, is %v from the status (values %+v)", n, plan.Spec.Signals.AtRisk,
				AtRisk(conds, &res.Status), AtRisk(conds2, &again.Status), res.Status.Measures)
		}
	}
}

// scoring is what measures show of their scoring: all but observedAt (a
// failed pull that is not held records when its value was observed, but
// not the value, so its time is not read back).
func scoring(ms []csv1alpha1.MeasureStatus) []csv1alpha1.MeasureStatus {
	out := make([]csv1alpha1.MeasureStatus, len(ms))
	for i, m := range ms {
		m.ObservedAt = nil
		out[i] = m
	}
	return out
}

// withPoint makes a number literal a CEL double.
func withPoint(s string) string {
	for _, c := range s {
		if c == '.' || c == 'e' {
			return s
		}
	}
	return s + ".0"
}
