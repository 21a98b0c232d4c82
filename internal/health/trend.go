package health

import (
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// trendOf appends score to the previous samples when it changed, prunes them
// to the trend window (keeping the newest sample at or before its start as
// the baseline, and at most MaxSamples), and compares score with the
// baseline. next is when the oldest in-window sample becomes the baseline,
// or zero when that changes nothing (a single sample).
func trendOf(now time.Time, prev []csv1alpha1.ScoreSample, score int32, m Model) (samples []csv1alpha1.ScoreSample, trend csv1alpha1.Trend, next time.Time) {
	all := append(make([]csv1alpha1.ScoreSample, 0, len(prev)+1), prev...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(&all[j].At) })
	if len(all) == 0 || all[len(all)-1].Score != score {
		all = append(all, csv1alpha1.ScoreSample{At: metav1.NewTime(now.Truncate(time.Second)), Score: score})
	}

	cut := now.Add(-m.TrendWindow)
	var baseline *csv1alpha1.ScoreSample
	var inWindow []csv1alpha1.ScoreSample
	for i := range all {
		if all[i].At.After(cut) {
			inWindow = append(inWindow, all[i])
		} else {
			baseline = &all[i]
		}
	}

	limit := MaxSamples
	if baseline != nil {
		limit--
		samples = append(samples, *baseline)
	}
	if len(inWindow) > limit {
		inWindow = inWindow[len(inWindow)-limit:]
	}
	samples = append(samples, inWindow...)

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
