package health

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

const day = 24 * time.Hour

// sample is a score sample ago before t0.
func sample(ago time.Duration, score int32) csv1alpha1.ScoreSample {
	return csv1alpha1.ScoreSample{At: metav1.NewTime(t0.Add(-ago)), Score: score}
}

func TestTrend(t *testing.T) {
	noHysteresis := model
	noHysteresis.Hysteresis = 0
	longStale := 1000 * time.Hour
	staleMoment := t0.Add(longStale + time.Nanosecond)

	var full, fullWithBaseline []csv1alpha1.ScoreSample
	fullWithBaseline = append(fullWithBaseline, sample(8*day, 0))
	for i := range 40 {
		s := sample(time.Duration(40-i)*time.Hour, int32(i+1))
		full = append(full, s)
		fullWithBaseline = append(fullWithBaseline, s)
	}

	cases := []struct {
		name        string
		model       Model
		prev        []csv1alpha1.ScoreSample
		score       int32
		wantTrend   csv1alpha1.Trend
		wantSamples []csv1alpha1.ScoreSample
		wantNext    time.Time
	}{
		{
			name: "the first score is one sample, Flat, and schedules no trend change", model: model,
			score: 60, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(0, 60)}, wantNext: staleMoment,
		},
		{
			name: "without a sample before the window the trend is Flat", model: model,
			prev: []csv1alpha1.ScoreSample{sample(day, 50)}, score: 60, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(day, 50), sample(0, 60)}, wantNext: t0.Add(6 * day),
		},
		{
			name: "a score more than hysteresis above the baseline is Up", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50)}, score: 53, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 53)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "a score more than hysteresis below the baseline is Down", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50)}, score: 47, wantTrend: csv1alpha1.TrendDown,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 47)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "a score within hysteresis of the baseline is Flat", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50)}, score: 52, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 52)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "with hysteresis 0 a change of one point is still Flat", model: noHysteresis,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50)}, score: 49, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 49)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "with hysteresis 0 a change of two points is a trend", model: noHysteresis,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50)}, score: 48, wantTrend: csv1alpha1.TrendDown,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 48)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "the baseline is the newest sample at or before the window start and older ones are pruned", model: model,
			prev:  []csv1alpha1.ScoreSample{sample(10*day, 20), sample(7*day, 50), sample(day, 90)},
			score: 90, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(7*day, 50), sample(day, 90)}, wantNext: t0.Add(6 * day),
		},
		{
			name: "an unchanged score appends no sample", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(day, 60)}, score: 60, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(day, 60)}, wantNext: t0.Add(6 * day),
		},
		{
			name: "a lone sample older than the window is the baseline and stays", model: model,
			prev: []csv1alpha1.ScoreSample{sample(30*day, 70)}, score: 70, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(30*day, 70)}, wantNext: staleMoment,
		},
		{
			name: "samples out of order are sorted before pruning", model: model,
			prev:  []csv1alpha1.ScoreSample{sample(day, 60), sample(9*day, 40), sample(8*day, 45)},
			score: 60, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 45), sample(day, 60)}, wantNext: t0.Add(6 * day),
		},
		{
			name: "the cap keeps the baseline and the 31 newest in-window samples", model: model,
			prev: fullWithBaseline, score: 99, wantTrend: csv1alpha1.TrendUp,
			wantSamples: append(append([]csv1alpha1.ScoreSample{sample(8*day, 0)}, full[10:]...), sample(0, 99)),
			wantNext:    t0.Add(7*day - 30*time.Hour),
		},
		{
			name: "without a baseline the cap keeps the 32 newest samples", model: model,
			prev: full, score: 99, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: append(append([]csv1alpha1.ScoreSample(nil), full[9:]...), sample(0, 99)),
			wantNext:    t0.Add(7*day - 31*time.Hour),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prev := &csv1alpha1.HealthStatus{Score: -1, Band: yellow, Samples: tc.prev}
			before := append([]csv1alpha1.ScoreSample(nil), tc.prev...)
			m := measure("a", 1, obs(float64(tc.score), 0), staleAfter(longStale))
			r := Evaluate(t0, []Measure{m}, tc.model, prev)
			if r.Status.Trend != tc.wantTrend {
				t.Errorf("trend %q, want %q", r.Status.Trend, tc.wantTrend)
			}
			if len(r.Status.Samples) > MaxSamples {
				t.Errorf("%d samples, more than %d", len(r.Status.Samples), MaxSamples)
			}
			if !reflect.DeepEqual(r.Status.Samples, tc.wantSamples) {
				t.Errorf("samples\n got %v\nwant %v", r.Status.Samples, tc.wantSamples)
			}
			if !r.NextChange.Equal(tc.wantNext) {
				t.Errorf("NextChange = %v, want %v", r.NextChange, tc.wantNext)
			}
			if !reflect.DeepEqual(tc.prev, before) {
				t.Errorf("the previous samples were modified")
			}
		})
	}
}
