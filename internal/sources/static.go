package sources

import (
	"strconv"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
)

// Survey keys a static source computes from spec.signals.surveys.
const (
	KeyNPS  = "nps"
	KeyCSAT = "csat"
	KeyCES  = "ces"
)

// Static reads a measure's key from an account's spec.signals: a key of
// values, or nps, csat or ces computed from the survey counts. A key of
// values wins over a survey of the same name.
func Static(signals *csv1alpha1.Signals, key string) Sample {
	if v, ok := signals.Values[key]; ok {
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return Sample{Err: "signal " + key + " is not a number"}
		}
		return finite(f)
	}
	var (
		v  float64
		ok bool
	)
	switch key {
	case KeyNPS:
		v, ok = kpi.NPS(signals.Surveys.NPS)
	case KeyCSAT:
		v, ok = kpi.CSAT(signals.Surveys.CSAT)
	case KeyCES:
		v, ok = kpi.NetEasy(signals.Surveys.CES)
	default:
		return Sample{Err: "no signal " + key}
	}
	if !ok {
		return Sample{Err: "no " + key + " survey answers"}
	}
	return finite(v)
}
