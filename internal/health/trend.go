package health

import (
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// TrendResolution is how finely the samples resolve the trend window: it
// is cut into TrendResolution buckets (42h each of the default 168h), and
// a bucket keeps only its newest sample.
const TrendResolution = 4

// trendOf appends score to the previous samples when it changed, prunes
// them to what the trend needs (compactSamples), and compares score with
// the baseline: the newest sample at or before the window start. next is
// when the oldest in-window sample becomes the baseline, or zero when that
// changes nothing (a single sample).
func trendOf(now time.Time, prev []csv1alpha1.ScoreSample, score int32, m Model) (samples []csv1alpha1.ScoreSample, trend csv1alpha1.Trend, next time.Time) {
	all := append(make([]csv1alpha1.ScoreSample, 0, len(prev)+1), prev...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(&all[j].At) })
	if len(all) == 0 || all[len(all)-1].Score != score {
		all = append(all, csv1alpha1.ScoreSample{At: metav1.NewTime(now.Truncate(time.Second)), Score: score})
	}

	cut := now.Add(-m.TrendWindow)
	samples = compactSamples(all, cut, bucketOf(m.TrendWindow))
	var baseline *csv1alpha1.ScoreSample
	inWindow := samples
	if !samples[0].At.After(cut) {
		baseline, inWindow = &samples[0], samples[1:]
	}

	trend = csv1alpha1.TrendFlat
	if baseline != nil {
		threshold := max(int64(m.Hysteresis), 1)
		switch delta := int64(score) - int64(baseline.Score); {
		case delta > threshold:
			trend = csv1alpha1.TrendUp
		case delta < -threshold:
			trend = csv1alpha1.TrendDown
		}
	}
	if len(inWindow) > 0 && len(samples) > 1 {
		next = inWindow[0].At.Add(m.TrendWindow)
	}
	return samples, trend, next
}

// bucketOf is the width of the buckets of a trend window: a
// TrendResolution-th of it, rounded up, so that TrendResolution buckets
// cover the window.
func bucketOf(window time.Duration) time.Duration {
	return (window + TrendResolution - 1) / TrendResolution
}

// compactSamples keeps of the sorted samples all, whose newest is the
// current score, what the trend needs from now on:
//   - the baseline, the newest sample at or before cut (the window start);
//     older ones can never be the baseline again;
//   - of the samples after cut, the newest of each bucket: buckets are
//     bucket wide and aligned on the zero time, so that once a bucket is
//     over its newest sample stays, whatever comes after, until the window
//     leaves it behind;
//   - no sample with the score of the one kept before it: it says nothing
//     new.
//
// The last sample kept has the current score, and at most MaxSamples are
// kept. Read as a step function, the kept samples give, for any moment t,
// the score as it was at t or, when it changed later within t's bucket,
// just before that bucket: never more than a bucket earlier.
func compactSamples(all []csv1alpha1.ScoreSample, cut time.Time, bucket time.Duration) []csv1alpha1.ScoreSample {
	first := 0 // the baseline, or the first in-window sample
	for i := range all {
		if !all[i].At.After(cut) {
			first = i
		}
	}
	out := make([]csv1alpha1.ScoreSample, 0, min(len(all)-first, MaxSamples))
	for i := first; i < len(all); i++ {
		s := all[i]
		if i+1 < len(all) && s.At.After(cut) && s.At.Truncate(bucket).Equal(all[i+1].At.Truncate(bucket)) {
			continue // a newer sample of its bucket replaces it
		}
		if n := len(out); n > 0 && out[n-1].Score == s.Score {
			continue
		}
		out = append(out, s)
	}
	if len(out) <= MaxSamples {
		return out
	}
	// Only samples dated after now (a clock that went back) get here: the
	// baseline stays, with the newest samples.
	if out[0].At.After(cut) {
		return out[len(out)-MaxSamples:]
	}
	return append(out[:1], out[len(out)-MaxSamples+1:]...)
}
