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

	// Hourly scores over the whole window, after a baseline: the buckets of
	// the 168h window are 42h wide, aligned on the zero time; t0 is in
	// [11-23 00:00, 11-24 18:00), the window starts in [11-16 00:00,
	// 11-17 18:00). The newest of each bucket stays: 161h, 119h, 77h and
	// 35h ago, and the new score replaces the samples of t0's bucket.
	hourly := []csv1alpha1.ScoreSample{sample(8*day, 10)}
	for k := 167; k >= 1; k-- {
		hourly = append(hourly, sample(time.Duration(k)*time.Hour, int32(k%100)))
	}
	// Samples dated after now, 50h apart: a clock that went back.
	future := []csv1alpha1.ScoreSample{sample(8*day, 10)}
	for k := 1; k <= 8; k++ {
		future = append(future, sample(-time.Duration(k)*50*time.Hour, int32(k)))
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
			prev: []csv1alpha1.ScoreSample{sample(2*day, 50)}, score: 60, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: []csv1alpha1.ScoreSample{sample(2*day, 50), sample(0, 60)}, wantNext: t0.Add(5 * day),
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
			name: "a new score in the bucket of the newest sample replaces it", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(5*time.Hour, 60)}, score: 70, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(0, 70)}, wantNext: t0.Add(7 * day),
		},
		{
			name: "a new score in a later bucket keeps the newest sample of the earlier one", model: model,
			prev: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(2*day, 60)}, score: 70, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(2*day, 60), sample(0, 70)}, wantNext: t0.Add(5 * day),
		},
		{
			name: "a score back to the one kept before it adds no sample", model: model,
			prev:  []csv1alpha1.ScoreSample{sample(8*day, 50), sample(2*day, 60), sample(5*time.Hour, 70)},
			score: 60, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 50), sample(2*day, 60)}, wantNext: t0.Add(5 * day),
		},
		{
			name: "the baseline stays although a newer sample shares its bucket", model: model,
			prev:  []csv1alpha1.ScoreSample{sample(7*day+2*time.Hour, 40), sample(7*day-2*time.Hour, 45)},
			score: 60, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(7*day+2*time.Hour, 40), sample(7*day-2*time.Hour, 45), sample(0, 60)},
			wantNext:    t0.Add(2 * time.Hour),
		},
		{
			name: "hourly scores over the window keep the baseline and the newest sample of each bucket", model: model,
			prev: hourly, score: 99, wantTrend: csv1alpha1.TrendUp,
			wantSamples: []csv1alpha1.ScoreSample{sample(8*day, 10), sample(161*time.Hour, 61), sample(119*time.Hour, 19),
				sample(77*time.Hour, 77), sample(35*time.Hour, 35), sample(0, 99)},
			wantNext: t0.Add(7 * time.Hour),
		},
		{
			name: "samples dated after now are capped to the baseline and the newest", model: model,
			prev: future, score: 8, wantTrend: csv1alpha1.TrendFlat,
			wantSamples: append([]csv1alpha1.ScoreSample{sample(8*day, 10)}, future[len(future)-MaxSamples+1:]...),
			wantNext:    t0.Add(4*50*time.Hour + 7*day),
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

// scoreAt reads samples as a step function: the score of the newest
// sample at or before t, and whether there is one.
func scoreAt(samples []csv1alpha1.ScoreSample, t time.Time) (int32, bool) {
	var score int32
	ok := false
	for _, s := range samples {
		if s.At.After(t) {
			break
		}
		score, ok = s.Score, true
	}
	return score, ok
}

// TestTrendFollowsTheFullHistory evaluates, every hour for ten weeks, a
// score that changes at irregular moments, often several times a bucket
// and sometimes not for days, and checks each evaluation against the full
// history of the score: the samples stay within MaxSamples and end with
// the score; at every hour of the window they tell the score then, or the
// score just before that hour's bucket began; and the trend compares with
// one of these two scores at the window start.
func TestTrendFollowsTheFullHistory(t *testing.T) {
	bucket := bucketOf(model.TrendWindow)
	seed := uint32(7)
	random := func(n uint32) uint32 {
		seed = seed*1664525 + 1013904223
		return (seed >> 8) % n
	}
	trendAgainst := func(score, baseline int32, ok bool) csv1alpha1.Trend {
		switch d := score - baseline; {
		case !ok:
			return csv1alpha1.TrendFlat
		case d > model.Hysteresis:
			return csv1alpha1.TrendUp
		case d < -model.Hysteresis:
			return csv1alpha1.TrendDown
		}
		return csv1alpha1.TrendFlat
	}
	var full, samples []csv1alpha1.ScoreSample
	score := int32(50)
	for h := range 10 * 7 * 24 {
		now := t0.Add(time.Duration(h) * time.Hour)
		if int(random(100)) < 2+58*((h/100)%2) { // 100-hour stretches, calm and busy in turn
			score = int32(random(101))
		}
		if len(full) == 0 || full[len(full)-1].Score != score {
			full = append(full, csv1alpha1.ScoreSample{At: metav1.NewTime(now), Score: score})
		}
		var trend csv1alpha1.Trend
		samples, trend, _ = trendOf(now, samples, score, model)

		if n := len(samples); n == 0 || n > MaxSamples || samples[n-1].Score != score {
			t.Fatalf("hour %d: samples %v for the score %d", h, samples, score)
		}
		cut := now.Add(-model.TrendWindow)
		for at := cut; !at.After(now); at = at.Add(time.Hour) {
			got, ok := scoreAt(samples, at)
			then, thenOK := scoreAt(full, at)
			before, beforeOK := scoreAt(full, at.Truncate(bucket).Add(-time.Nanosecond))
			asThen := ok == thenOK && got == then
			asBefore := ok == beforeOK && got == before
			if !asThen && !asBefore {
				t.Fatalf("hour %d: at %v the samples say %d (%v), the history %d (%v) or %d (%v) before the bucket\nsamples %v",
					h, at, got, ok, then, thenOK, before, beforeOK, samples)
			}
		}
		then, thenOK := scoreAt(full, cut)
		before, beforeOK := scoreAt(full, cut.Truncate(bucket).Add(-time.Nanosecond))
		if trend != trendAgainst(score, then, thenOK) && trend != trendAgainst(score, before, beforeOK) {
			t.Fatalf("hour %d: trend %s of %d against %d (%v) or %d (%v)", h, trend, score, then, thenOK, before, beforeOK)
		}
	}
}
