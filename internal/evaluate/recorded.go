package evaluate

import (
	"slices"
	"strconv"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// Recorded is the lookup of the remote measures' values from the
// account's status.health.measures: the value, its error, and when it was
// observed. A value the status records as current (not stale) is taken as
// observed at now, since the collectors keep pulling it; a stale one keeps
// its time. An overridden measure records the override, not the source's
// value: it has none. A measure the status does not record has no value.
// A recorded value is the very number the operator scored (health scores
// every value as rounded to the status's six decimals), so evaluating with
// it gives the recorded scores and band again.
// The kubectl plugin evaluates with it; the operator falls back to it for
// the measures its collectors have not pulled since it started, so that a
// restart re-evaluates an account to the status it already has.
func Recorded(acct *csv1alpha1.CustomerAccount, now time.Time) Lookup {
	return func(name string) (health.Observation, bool) {
		h := acct.Status.Health
		if h == nil {
			return health.Observation{}, false
		}
		i := slices.IndexFunc(h.Measures, func(m csv1alpha1.MeasureStatus) bool { return m.Name == name })
		if i < 0 {
			return health.Observation{}, false
		}
		m := h.Measures[i]
		obs := health.Observation{Err: m.Error}
		if m.Overridden {
			return obs, true
		}
		if m.Value != "" {
			if v, err := strconv.ParseFloat(string(m.Value), 64); err == nil {
				obs.Value, obs.Has = v, true
			}
		}
		switch {
		case !m.Stale:
			obs.At = now
		case m.ObservedAt != nil:
			obs.At = m.ObservedAt.Time
		}
		return obs, true
	}
}
