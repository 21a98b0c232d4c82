package health

import (
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// TestScoresTheRecordedValue: a measure is scored from the value its
// status records (six decimals), not from the value as pulled, so that the
// status reproduces its score, contribution and band.
func TestScoresTheRecordedValue(t *testing.T) {
	// Green from 73, no hysteresis: the band follows the score.
	edge73 := Model{Green: 73, Yellow: 40, TrendWindow: 168 * time.Hour, PlanGeneration: 2}
	for _, tc := range []struct {
		name      string
		measure   Measure
		model     Model
		wantValue csv1alpha1.Decimal
		wantRaw   float64
		wantScore int32
		wantBand  csv1alpha1.Band
		wantContr float64
	}{
		{
			// Scored as pulled, 0.72499951 made 72 (Yellow) while the
			// status showed 0.725, which scores 73 (Green).
			name:      "a value served with eight decimals scores as its six recorded ones: 0.72499951 is 0.725, 73, Green",
			measure:   measure("adoption", 40, obs(0.72499951, time.Minute), thresholds(0, 1)),
			model:     edge73,
			wantValue: "0.725", wantRaw: 0.725, wantScore: 73, wantBand: csv1alpha1.BandGreen, wantContr: 72.5,
		},
		{
			name:      "the same value below the edge stays below it once recorded: 0.72449951 is 0.7245, 72, Yellow",
			measure:   measure("adoption", 40, obs(0.72449951, time.Minute), thresholds(0, 1)),
			model:     edge73,
			wantValue: "0.7245", wantRaw: 0.7245, wantScore: 72, wantBand: csv1alpha1.BandYellow, wantContr: 72.5,
		},
		{
			name: "normalize maps the recorded raw value: 36.2499996 is 36.25, / 50 is 0.725, 73",
			measure: measure("activeSeats", 40, obs(36.2499996, time.Minute), thresholds(0, 1),
				normalizer(func(v float64) (float64, error) { return v / 50, nil })),
			model:     edge73,
			wantValue: "36.25", wantRaw: 36.25, wantScore: 73, wantBand: csv1alpha1.BandGreen, wantContr: 72.5,
		},
		{
			name:      "a value a hair under equal thresholds reaches them once recorded: 4.9999999 is 5, 100",
			measure:   measure("sentiment", 15, obs(4.9999999, time.Minute), thresholds(5, 5)),
			model:     model,
			wantValue: "5", wantRaw: 5, wantScore: 100, wantBand: csv1alpha1.BandGreen, wantContr: 100,
		},
		{
			name:      "a lower-is-better value at a threshold edge scores as recorded: 2.7500004 is 2.75, 72.5, 73",
			measure:   measure("openTickets", 20, obs(2.7500004, time.Minute), thresholds(10, 0)),
			model:     edge73,
			wantValue: "2.75", wantRaw: 2.75, wantScore: 73, wantBand: csv1alpha1.BandGreen, wantContr: 72.5,
		},
		{
			name: "an override with more decimals than a status decimal scores as recorded",
			measure: measure("adoption", 40, obs(0.1, time.Minute), thresholds(0, 1),
				override("0.72499951", t0.Add(time.Hour))),
			model:     edge73,
			wantValue: "0.725", wantRaw: 0.725, wantScore: 73, wantBand: csv1alpha1.BandGreen, wantContr: 72.5,
		},
		{
			name:      "a survey figure without a finite decimal form scores as recorded: 500/12 is 41.666667",
			measure:   Measure{Name: "nps", Source: "csm", Weight: 25, Bad: 0, Good: 50, Obs: Observation{Value: designNPS, Has: true}},
			model:     model,
			wantValue: "41.666667", wantRaw: 41.666667, wantScore: 83, wantBand: csv1alpha1.BandGreen, wantContr: 83.3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(t0, []Measure{tc.measure}, tc.model, nil)
			m := r.Status.Measures[0]
			if m.Value != tc.wantValue || r.Values[0].Raw != tc.wantRaw {
				t.Errorf("value %q (raw %v), want %q (%v)", m.Value, r.Values[0].Raw, tc.wantValue, tc.wantRaw)
			}
			if r.Status.Score != tc.wantScore || m.Score != tc.wantScore || m.Contribution != tc.wantContr || r.Status.Band != tc.wantBand {
				t.Errorf("score %d band %s, measure %+v; want %d %s", r.Status.Score, r.Status.Band, m, tc.wantScore, tc.wantBand)
			}
			// The status value, pulled again, gives the same status.
			again := tc.measure
			if v, err := strconv.ParseFloat(string(m.Value), 64); err != nil || again.Override != nil {
				again.Obs = Observation{}
			} else {
				again.Obs.Value = v
			}
			if r2 := Evaluate(t0, []Measure{again}, tc.model, nil); !reflect.DeepEqual(r2.Status, r.Status) {
				t.Errorf("the recorded value evaluates to\n%+v\nnot\n%+v", r2.Status, r.Status)
			}
		})
	}
}

// TestUnrecordableValue: a value no status decimal holds (more than 15
// integer digits) is not scored: a score the status cannot reproduce would
// be a score without its value. It is reported like a value that is not
// finite.
func TestUnrecordableValue(t *testing.T) {
	for _, v := range []float64{1e15, -1e15, 1e300, math.MaxFloat64} {
		r := Evaluate(t0, []Measure{measure("a", 1, obs(50, time.Minute)), measure("b", 1, obs(v, time.Minute))}, model, nil)
		b := named(t, r, "b")
		want := "value does not fit a status decimal (more than 15 integer digits)"
		if b.Value != "" || b.Score != 0 || b.Error != want || r.Values[1].Available {
			t.Errorf("%v: b = %+v, available %v; want no value and error %q", v, b, r.Values[1].Available, want)
		}
		if r.Status.Score != 50 || !reflect.DeepEqual(r.Failing, []string{"b: " + want}) {
			t.Errorf("%v: score %d, failing %q; want 50 from a alone", v, r.Status.Score, r.Failing)
		}
	}
	// The largest value that fits is scored, as recorded.
	r := Evaluate(t0, []Measure{measure("a", 1, obs(999999999999999, time.Minute), thresholds(0, 2e15))}, model, nil)
	if a := named(t, r, "a"); a.Value != "999999999999999" || a.Error != "" || r.Status.Score != 50 {
		t.Errorf("a = %+v, score %d", a, r.Status.Score)
	}
}

// TestRecordedValueIsAFixedPoint: rounding a value to the status's
// precision once more changes nothing, at every magnitude, so that the
// status scores what it shows whichever times it is read back.
func TestRecordedValueIsAFixedPoint(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1e-7, -1e-7, 5e-7, 0.72499951, 0.7245, 1.0000005, -2.5000005, 123456.1234565,
		8589934591.9999995, 8589934592.000001, 123456789012345.123456, -999999999999999.4, 999999999999999.4}
	for e := -8; e <= 14; e++ {
		for _, m := range []float64{1, 1.2345678912345, 3.1415926535, 7.4999999, 9.9999995} {
			vals = append(vals, m*math.Pow(10, float64(e)), -m*math.Pow(10, float64(e)))
		}
	}
	for _, v := range vals {
		r, d, err := recordedValue(v)
		if err != "" {
			t.Errorf("recordedValue(%v): %s", v, err)
			continue
		}
		if want, _ := formatValue(v); d != want {
			t.Errorf("recordedValue(%v) records %q, formatValue %q", v, d, want)
		}
		r2, d2, err := recordedValue(r)
		if err != "" || r2 != r || d2 != d {
			t.Errorf("recordedValue(%v) = %v %q, then %v %q %s", v, r, d, r2, d2, err)
		}
		if p, _ := strconv.ParseFloat(string(d), 64); p != r {
			t.Errorf("recordedValue(%v) = %v, but its decimal %q reads %v", v, r, d, p)
		}
	}
}
