package kpi

import (
	"fmt"
	"strings"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Names are the KPIs of a plan's status, in the order of status.kpis.
var Names = []csv1alpha1.KPIName{
	"customerChurnRate", "revenueChurnRate", "grossRevenueRetention", "netRevenueRetention", "quickRatio",
	"nps", "csat", "netEasyScore", "clv", "paybackMonths",
}

// Value returns the KPI called name of k as status shows it; "" when k is
// nil, the KPI has no value, or name is no KPI.
func Value(k *csv1alpha1.KPIs, name csv1alpha1.KPIName) csv1alpha1.Decimal {
	if k == nil {
		return ""
	}
	switch name {
	case "customerChurnRate":
		return k.CustomerChurnRate
	case "revenueChurnRate":
		return k.RevenueChurnRate
	case "grossRevenueRetention":
		return k.GrossRevenueRetention
	case "netRevenueRetention":
		return k.NetRevenueRetention
	case "quickRatio":
		return k.QuickRatio
	case "nps":
		return k.NPS
	case "csat":
		return k.CSAT
	case "netEasyScore":
		return k.NetEasyScore
	case "clv":
		return k.CLV
	case "paybackMonths":
		return k.PaybackMonths
	}
	return ""
}

// EvaluateTargets compares each target with its KPI in kpis and returns
// their states in spec order. The comparison is exact, on the KPI as status
// shows it (rounded for display), so that what a reader sees decides: NPS
// "50" meets AtLeast 50 even when the unrounded score is 49.96. A KPI equal
// to its target meets it, whichever the operator. A KPI without a value
// (kpis nil, or the KPI undefined in the period) leaves its target Unknown,
// and so does a value that does not parse, which admission prevents.
func EvaluateTargets(targets []csv1alpha1.KPITarget, kpis *csv1alpha1.KPIs) []csv1alpha1.TargetStatus {
	if len(targets) == 0 {
		return nil
	}
	out := make([]csv1alpha1.TargetStatus, 0, len(targets))
	for _, t := range targets {
		st := csv1alpha1.TargetStatus{KPI: t.KPI, Operator: t.Operator, Target: t.Value, State: csv1alpha1.TargetUnknown}
		st.Actual = Value(kpis, t.KPI)
		out = append(out, st)
		actual, errA := ParseDecimal(string(st.Actual))
		target, errT := ParseDecimal(string(t.Value))
		if errA != nil || errT != nil {
			continue
		}
		cmp := actual.Cmp(target)
		switch t.Operator {
		case csv1alpha1.AtLeast:
			out[len(out)-1].State = metIf(cmp >= 0)
		case csv1alpha1.AtMost:
			out[len(out)-1].State = metIf(cmp <= 0)
		}
	}
	return out
}

func metIf(ok bool) csv1alpha1.TargetState {
	if ok {
		return csv1alpha1.TargetMet
	}
	return csv1alpha1.TargetMissed
}

// TargetSummary is what the evaluated targets of a plan add up to: the
// status.targetsMet column and the TargetsMet condition.
type TargetSummary struct {
	// Total is the number of targets, Met of those met.
	Total, Met int
	// Misses describes each missed target in spec order, the actual value
	// first: "nps 42 < 50", "customerChurnRate 7.5 > 5".
	Misses []string
	// Unknown names the KPIs of the targets without a value, in spec order.
	Unknown []string
}

// SummarizeTargets counts the states of evaluated targets and describes
// the misses.
func SummarizeTargets(targets []csv1alpha1.TargetStatus) TargetSummary {
	s := TargetSummary{Total: len(targets)}
	for _, t := range targets {
		switch t.State {
		case csv1alpha1.TargetMet:
			s.Met++
		case csv1alpha1.TargetMissed:
			op := "<"
			if t.Operator == csv1alpha1.AtMost {
				op = ">"
			}
			s.Misses = append(s.Misses, fmt.Sprintf("%s %s %s %s", t.KPI, t.Actual, op, t.Target))
		default:
			s.Unknown = append(s.Unknown, string(t.KPI))
		}
	}
	return s
}

// MetOfTotal is the printed form of status.targetsMet, "3/4"; "" without
// targets.
func (s TargetSummary) MetOfTotal() string {
	if s.Total == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Met, s.Total)
}

// TargetsOutcome is the state of the TargetsMet condition.
type TargetsOutcome int

// Outcomes of a plan's targets: a miss beats a KPI without data, so that a
// plan missing one target and lacking data for another is reported as
// missing.
const (
	// NoTargets: the plan has none; the condition is absent.
	NoTargets TargetsOutcome = iota
	// AllMet: every target is met (True, AllTargetsMet).
	AllMet
	// SomeMissed: at least one target is missed (False, TargetsMissed).
	SomeMissed
	// NoData: none is missed but some KPI has no value (Unknown, NoKPIData).
	NoData
)

// Outcome says which state the TargetsMet condition is in.
func (s TargetSummary) Outcome() TargetsOutcome {
	switch {
	case s.Total == 0:
		return NoTargets
	case len(s.Misses) > 0:
		return SomeMissed
	case len(s.Unknown) > 0:
		return NoData
	default:
		return AllMet
	}
}

// Message is the TargetsMet condition's message: each miss, and the KPIs
// without data.
func (s TargetSummary) Message() string {
	var parts []string
	switch s.Outcome() {
	case NoTargets:
		return ""
	case AllMet:
		return fmt.Sprintf("All targets met (%d/%d)", s.Met, s.Total)
	case SomeMissed:
		parts = append(parts, fmt.Sprintf("%d of %d targets missed: %s", len(s.Misses), s.Total, strings.Join(s.Misses, ", ")))
	}
	if len(s.Unknown) > 0 {
		parts = append(parts, "no data for "+strings.Join(s.Unknown, ", "))
	}
	msg := strings.Join(parts, "; ")
	return strings.ToUpper(msg[:1]) + msg[1:]
}
