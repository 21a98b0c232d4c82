package health

import (
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func FuzzEvaluate(f *testing.F) {
	f.Add(0.62, 3.0, int32(40), int32(20), 0.2, 0.7, int32(70), int32(40), int32(2), int64(60), uint8(0), int32(72), "2")
	f.Add(math.NaN(), math.Inf(1), int32(0), int32(0), 10.0, 0.0, int32(1), int32(0), int32(0), int64(-5), uint8(5), int32(-3), "x")
	f.Add(1e300, -1e300, int32(math.MaxInt32), int32(math.MaxInt32), -math.MaxFloat64, math.MaxFloat64, int32(100), int32(99), int32(20), int64(1e6), uint8(2), int32(101), "1e400")
	f.Add(5.0, 5.0, int32(-1), int32(1), 5.0, 5.0, int32(-10), int32(200), int32(-4), int64(0), uint8(1), int32(0), "NaN")
	f.Fuzz(func(t *testing.T, v1, v2 float64, w1, w2 int32, bad, good float64, green, yellow, hyst int32, ageSec int64, flags uint8, prevScore int32, ov string) {
		policies := []csv1alpha1.MissingPolicy{"", csv1alpha1.MissingZero, csv1alpha1.MissingHoldLast, "Bogus"}
		at := t0.Add(-time.Duration(ageSec) * time.Second)
		prevAt := metav1.NewTime(t0.Add(-time.Duration(ageSec/2) * time.Second))
		m1 := Measure{Name: "a", Weight: w1, Bad: bad, Good: good, StaleAfter: 15 * time.Minute,
			Missing: policies[flags%4], Obs: Observation{Value: v1, Has: flags&4 == 0, At: at}}
		m2 := Measure{Name: "b", Weight: w2, Bad: good, Good: bad, StaleAfter: time.Duration(ageSec) * time.Millisecond,
			Missing: policies[(flags>>4)%4], Obs: Observation{Value: v2, Has: true, At: at, Err: map[bool]string{true: "down"}[flags&8 != 0]},
			Normalize: func(v float64) (float64, error) { return v * v2, nil },
			Previous:  &csv1alpha1.MeasureStatus{Name: "b", Value: csv1alpha1.Decimal(ov), ObservedAt: &prevAt},
			Override:  &csv1alpha1.Override{Measure: "b", Value: csv1alpha1.Decimal(ov), Expires: metav1.NewTime(t0.Add(time.Duration(prevScore) * time.Second))}}
		prev := &csv1alpha1.HealthStatus{Score: prevScore, Band: csv1alpha1.Band([]string{"", "Green", "Yellow", "Red"}[flags>>6]),
			Samples: []csv1alpha1.ScoreSample{{At: prevAt, Score: prevScore}}}
		if flags&64 != 0 {
			prev = nil
		}
		mod := Model{Green: green, Yellow: yellow, Hysteresis: hyst, TrendWindow: time.Duration(ageSec) * time.Minute}
		r := Evaluate(t0, []Measure{m1, m2}, mod, prev)
		if r.Scored && (r.Status.Score < 0 || r.Status.Score > 100) {
			t.Fatalf("score %d out of 0..100", r.Status.Score)
		}
		if len(r.Status.Measures) != 2 || len(r.Status.Samples) > MaxSamples {
			t.Fatalf("status %+v", r.Status)
		}
		for _, m := range r.Status.Measures {
			if m.Score < 0 || m.Score > 100 || math.IsNaN(m.Contribution) || math.IsInf(m.Contribution, 0) {
				t.Fatalf("measure %+v", m)
			}
			if m.Value != "" && !decimalPattern.MatchString(string(m.Value)) {
				t.Fatalf("value %q does not match the Decimal pattern", m.Value)
			}
		}
		if !r.NextChange.IsZero() && !r.NextChange.After(t0) {
			t.Fatalf("NextChange %v is not after now", r.NextChange)
		}
		if s := Linear(v1, bad, good); !(s >= 0 && s <= 100) {
			t.Fatalf("Linear(%v, %v, %v) = %v", v1, bad, good, s)
		}
	})
}
