package kpi

import (
	"reflect"
	"strings"
	"testing"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func target(name csv1alpha1.KPIName, op csv1alpha1.TargetOperator, value string) csv1alpha1.KPITarget {
	return csv1alpha1.KPITarget{KPI: name, Operator: op, Value: csv1alpha1.Decimal(value)}
}

// TestTargetStatesAtTheBoundaries: equal meets a target of either
// operator; the smallest step past it (one decimal place of the status, or
// far finer) misses; no value is Unknown.
func TestTargetStatesAtTheBoundaries(t *testing.T) {
	const (
		met     = csv1alpha1.TargetMet
		missed  = csv1alpha1.TargetMissed
		unknown = csv1alpha1.TargetUnknown
		atLeast = csv1alpha1.AtLeast
		atMost  = csv1alpha1.AtMost
	)
	for _, tc := range []struct {
		name   string
		target csv1alpha1.KPITarget
		kpis   *csv1alpha1.KPIs
		want   csv1alpha1.TargetState
	}{
		{"an NPS equal to an AtLeast target meets it", target("nps", atLeast, "50"), &csv1alpha1.KPIs{NPS: "50"}, met},
		{"an NPS a tenth under an AtLeast target misses it", target("nps", atLeast, "50"), &csv1alpha1.KPIs{NPS: "49.9"}, missed},
		{"an NPS a tenth over an AtLeast target meets it", target("nps", atLeast, "50"), &csv1alpha1.KPIs{NPS: "50.1"}, met},
		{"equality is exact whatever the trailing zeros", target("csat", atLeast, "80.000"), &csv1alpha1.KPIs{CSAT: "80"}, met},
		{"a millionth under an AtLeast target misses it", target("csat", atLeast, "80.000001"), &csv1alpha1.KPIs{CSAT: "80"}, missed},
		{"a churn rate equal to an AtMost target meets it", target("customerChurnRate", atMost, "5"), &csv1alpha1.KPIs{CustomerChurnRate: "5.0"}, met},
		{"a churn rate a tenth over an AtMost target misses it", target("customerChurnRate", atMost, "5"), &csv1alpha1.KPIs{CustomerChurnRate: "5.1"}, missed},
		{"a churn rate a tenth under an AtMost target meets it", target("customerChurnRate", atMost, "5"), &csv1alpha1.KPIs{CustomerChurnRate: "4.9"}, met},
		{"a zero churn rate meets an AtMost 0 target", target("revenueChurnRate", atMost, "0"), &csv1alpha1.KPIs{RevenueChurnRate: "0"}, met},
		{"negative scores compare as numbers, not strings", target("netEasyScore", atLeast, "-10"), &csv1alpha1.KPIs{NetEasyScore: "-9.5"}, met},
		{"a negative score under a negative target misses it", target("netEasyScore", atLeast, "-10"), &csv1alpha1.KPIs{NetEasyScore: "-10.1"}, missed},
		{"a CLV with more digits than the target is larger, not smaller", target("clv", atLeast, "9000"), &csv1alpha1.KPIs{CLV: "10000"}, met},
		{"NRR exactly 100 meets AtLeast 100", target("netRevenueRetention", atLeast, "100"), &csv1alpha1.KPIs{NetRevenueRetention: "100"}, met},
		{"NRR 99.9 misses AtLeast 100", target("netRevenueRetention", atLeast, "100"), &csv1alpha1.KPIs{NetRevenueRetention: "99.9"}, missed},
		{"payback equal to AtMost 12 meets it", target("paybackMonths", atMost, "12"), &csv1alpha1.KPIs{PaybackMonths: "12"}, met},
		{"quick ratio under AtLeast 4 misses it", target("quickRatio", atLeast, "4"), &csv1alpha1.KPIs{QuickRatio: "3.99"}, missed},
		{"GRR over AtLeast 90 meets it", target("grossRevenueRetention", atLeast, "90"), &csv1alpha1.KPIs{GrossRevenueRetention: "96.9"}, met},
		{"a KPI without a value is Unknown", target("nps", atLeast, "50"), &csv1alpha1.KPIs{CSAT: "90"}, unknown},
		{"a KPI undefined in the period is Unknown for AtMost too", target("clv", atMost, "1"), &csv1alpha1.KPIs{NPS: "10"}, unknown},
		{"no KPIs at all is Unknown", target("nps", atLeast, "50"), nil, unknown},
		{"an unparsable KPI is Unknown, never Met", target("nps", atLeast, "50"), &csv1alpha1.KPIs{NPS: "1e9"}, unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluateTargets([]csv1alpha1.KPITarget{tc.target}, tc.kpis)
			want := csv1alpha1.TargetStatus{KPI: tc.target.KPI, Operator: tc.target.Operator, Target: tc.target.Value,
				Actual: Value(tc.kpis, tc.target.KPI), State: tc.want}
			if len(got) != 1 || got[0] != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestEvaluateTargetsKeepsSpecOrder: every KPI is read from its own field,
// and the statuses follow the spec.
func TestEvaluateTargetsKeepsSpecOrder(t *testing.T) {
	kpis := &csv1alpha1.KPIs{
		CustomerChurnRate: "1", RevenueChurnRate: "2", GrossRevenueRetention: "3", NetRevenueRetention: "4",
		QuickRatio: "5", NPS: "6", CSAT: "7", NetEasyScore: "8", CLV: "9", PaybackMonths: "10",
	}
	targets := make([]csv1alpha1.KPITarget, 0, len(Names))
	for i := len(Names) - 1; i >= 0; i-- { // reversed: the order is the spec's
		targets = append(targets, target(Names[i], csv1alpha1.AtLeast, "5"))
	}
	got := EvaluateTargets(targets, kpis)
	var gotNames []csv1alpha1.KPIName
	var actuals []csv1alpha1.Decimal
	var met int
	for _, s := range got {
		gotNames, actuals = append(gotNames, s.KPI), append(actuals, s.Actual)
		if s.State == csv1alpha1.TargetMet {
			met++
		}
	}
	wantNames := make([]csv1alpha1.KPIName, 0, len(targets))
	for _, tg := range targets {
		wantNames = append(wantNames, tg.KPI)
	}
	if !reflect.DeepEqual(gotNames, wantNames) {
		t.Errorf("order: got %v, want %v", gotNames, wantNames)
	}
	if want := []csv1alpha1.Decimal{"10", "9", "8", "7", "6", "5", "4", "3", "2", "1"}; !reflect.DeepEqual(actuals, want) {
		t.Errorf("actuals: got %v, want %v", actuals, want)
	}
	if met != 6 {
		t.Errorf("%d met, want 6 (5 to 10 are at least 5)", met)
	}
	if EvaluateTargets(nil, kpis) != nil {
		t.Error("no targets: want nil statuses")
	}
}

// TestSummarizeTargets: the column counts met of all, and the condition
// reports misses before missing data.
func TestSummarizeTargets(t *testing.T) {
	nps := csv1alpha1.TargetStatus{KPI: "nps", Operator: csv1alpha1.AtLeast, Target: "50", Actual: "42", State: csv1alpha1.TargetMissed}
	churn := csv1alpha1.TargetStatus{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Target: "5", Actual: "7.5", State: csv1alpha1.TargetMissed}
	csat := csv1alpha1.TargetStatus{KPI: "csat", Operator: csv1alpha1.AtLeast, Target: "80", Actual: "85", State: csv1alpha1.TargetMet}
	clv := csv1alpha1.TargetStatus{KPI: "clv", Operator: csv1alpha1.AtLeast, Target: "1000", State: csv1alpha1.TargetUnknown}
	for _, tc := range []struct {
		name    string
		targets []csv1alpha1.TargetStatus
		column  string
		outcome TargetsOutcome
		message string
	}{
		{"no targets print nothing and set no condition", nil, "", NoTargets, ""},
		{"all met", []csv1alpha1.TargetStatus{csat}, "1/1", AllMet, "All targets met (1/1)"},
		{"each miss is listed with its comparison, in spec order", []csv1alpha1.TargetStatus{churn, csat, nps}, "1/3", SomeMissed,
			"2 of 3 targets missed: customerChurnRate 7.5 > 5, nps 42 < 50"},
		{"a miss beats missing data, which is named too", []csv1alpha1.TargetStatus{clv, nps, csat}, "1/3", SomeMissed,
			"1 of 3 targets missed: nps 42 < 50; no data for clv"},
		{"missing data without a miss is Unknown", []csv1alpha1.TargetStatus{csat, clv}, "1/2", NoData, "No data for clv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := SummarizeTargets(tc.targets)
			if got := s.MetOfTotal(); got != tc.column {
				t.Errorf("column: got %q, want %q", got, tc.column)
			}
			if got := s.Outcome(); got != tc.outcome {
				t.Errorf("outcome: got %v, want %v", got, tc.outcome)
			}
			if got := s.Message(); got != tc.message {
				t.Errorf("message: got %q, want %q", got, tc.message)
			}
		})
	}
}

// TestValueNamesEveryKPI: Names are the JSON names of status.kpis, and
// each reads its own field.
func TestValueNamesEveryKPI(t *testing.T) {
	var fields []csv1alpha1.KPIName
	typ := reflect.TypeFor[csv1alpha1.KPIs]()
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "period" {
			fields = append(fields, csv1alpha1.KPIName(name))
		}
	}
	if !reflect.DeepEqual(fields, Names) {
		t.Errorf("Names %v, want the fields of status.kpis %v", Names, fields)
	}
	kpis := &csv1alpha1.KPIs{
		CustomerChurnRate: "1", RevenueChurnRate: "2", GrossRevenueRetention: "3", NetRevenueRetention: "4",
		QuickRatio: "5", NPS: "6", CSAT: "7", NetEasyScore: "8", CLV: "9", PaybackMonths: "10",
	}
	seen := map[csv1alpha1.Decimal]bool{}
	for _, n := range Names {
		v := Value(kpis, n)
		if v == "" || seen[v] {
			t.Errorf("%s reads %q", n, v)
		}
		seen[v] = true
	}
	if Value(kpis, "bogus") != "" {
		t.Error("an unknown name must read nothing")
	}
}
