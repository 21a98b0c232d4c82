package main

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

// The fixtures: the design's smb plan and its acme account, a healthy
// globex, and two more plans, with the status the operator would write.
// The golden files are rendered at fixtureNow, in namespace "customers";
// the kubectl tests write the same objects to the API server and expect
// the same output.

// fixtureNow is the moment the golden files are rendered at.
var fixtureNow = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// goldenNamespace is the namespace the golden files name.
const goldenNamespace = "customers"

// ts parses an RFC 3339 moment.
func ts(s string) *metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: t}
}

func dur(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}

func condition(typ string, status metav1.ConditionStatus, reason, message, at string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message,
		LastTransitionTime: *ts(at), ObservedGeneration: 1}
}

// smbPlan is the design's smb plan, with its status.
func smbPlan(ns string) *csv1alpha1.SuccessPlan {
	hook := &csv1alpha1.Webhook{URL: "https://hooks.example/cs"}
	p := &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Name: "smb", Namespace: ns},
		Spec: csv1alpha1.SuccessPlanSpec{
			AccountSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": "smb"}},
			Priority:        10,
			KPIPeriod:       metav1.Duration{Duration: 2160 * time.Hour},
			GrossMargin:     "0.80",
			Sources: []csv1alpha1.Source{
				{Name: "telemetry", Prometheus: &csv1alpha1.PrometheusSource{URL: "http://prometheus.monitoring:9090"}},
				{Name: "support", HTTP: &csv1alpha1.HTTPSource{URL: "https://support.example/api/accounts/{{ .ExternalIDs.support }}/stats"}},
				{Name: "csm", Static: &csv1alpha1.StaticSource{}},
			},
			Measures: []csv1alpha1.Measure{
				{Name: "activeSeats", Source: "telemetry", Query: "max by (account) (active_users_7d)",
					Normalize: "value / double(account.contract.seats)", Thresholds: csv1alpha1.Thresholds{Bad: 0.2, Good: 0.7}, Weight: 40},
				{Name: "openTickets", Source: "support", JSONPath: "{.open}", Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 20},
				{Name: "nps", Source: "csm", Key: "nps", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 25},
				{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 15},
			},
			Stages: []csv1alpha1.Stage{
				{Name: "Onboarding", MaxDuration: dur("720h"),
					Objectives: []csv1alpha1.Objective{{Name: "first-login", When: "measures.activeSeats.value >= 1.0", Within: dur("168h")}},
					Actions: []csv1alpha1.Action{
						{Name: "welcome", Webhook: hook},
						{Name: "training-invite", After: dur("168h"), Webhook: hook},
					}},
				{Name: "Adoption",
					Objectives: []csv1alpha1.Objective{
						{Name: "training-done", When: "account.signals.values.trained >= 1.0", Within: dur("240h")},
						{Name: "half-seats-active", When: "measures.activeSeats.value >= 0.5 * double(account.contract.seats)", Within: dur("720h")},
						{Name: "first-report", When: "account.signals.values.reports >= 1.0"},
					},
					Actions: []csv1alpha1.Action{
						{Name: "kickoff-call", Webhook: hook},
						{Name: "adoption-review", After: dur("336h"), Webhook: hook},
						{Name: "success-story", After: dur("720h")},
					}},
				{Name: "Nurturing"},
				{Name: "Renewal"},
			},
			Signals: csv1alpha1.PlanSignals{AtRisk: "health.score < 40 || measures.openTickets.value > 5"},
			Targets: []csv1alpha1.KPITarget{
				{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Value: "5"},
				{KPI: "nps", Operator: csv1alpha1.AtLeast, Value: "50"},
				{KPI: "csat", Operator: csv1alpha1.AtLeast, Value: "80"},
				{KPI: "netRevenueRetention", Operator: csv1alpha1.AtLeast, Value: "100"},
			},
		},
		Status: csv1alpha1.SuccessPlanStatus{
			ObservedGeneration: 1,
			Accounts:           9,
			Stages:             map[string]int32{"Onboarding": 2, "Adoption": 3, "Nurturing": 3, "Renewal": 0, "Churned": 1},
			Bands:              csv1alpha1.BandCounts{Green: 3, Yellow: 4, Red: 2},
			MRR:                "13200",
			MRRAtRisk:          "4200",
			KPIs: &csv1alpha1.KPIs{Period: "2160h", CustomerChurnRate: "11.1", RevenueChurnRate: "6.2",
				GrossRevenueRetention: "93.8", NetRevenueRetention: "97.5", QuickRatio: "1.4", NPS: "38.5",
				CSAT: "81", NetEasyScore: "22", CLV: "30720", PaybackMonths: "4.1"},
			Targets: []csv1alpha1.TargetStatus{
				{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Target: "5", Actual: "11.1", State: csv1alpha1.TargetMissed},
				{KPI: "nps", Operator: csv1alpha1.AtLeast, Target: "50", Actual: "38.5", State: csv1alpha1.TargetMissed},
				{KPI: "csat", Operator: csv1alpha1.AtLeast, Target: "80", Actual: "81", State: csv1alpha1.TargetMet},
				{KPI: "netRevenueRetention", Operator: csv1alpha1.AtLeast, Target: "100", Actual: "97.5", State: csv1alpha1.TargetMissed},
			},
			TargetsMet: "1/4",
			Conditions: []metav1.Condition{
				condition("Ready", metav1.ConditionTrue, "Reconciled", "The plan is valid and its accounts are evaluated", "2026-03-01T08:00:00Z"),
				condition("Valid", metav1.ConditionTrue, "Valid", "Every expression compiles", "2026-03-01T08:00:00Z"),
				condition("TargetsMet", metav1.ConditionFalse, "TargetsMissed", "customerChurnRate, nps, netRevenueRetention", "2026-03-27T14:30:00Z"),
			},
		},
	}
	p.Generation = 1
	return p
}

// enterprisePlan names its accounts and meets no targets, having none.
func enterprisePlan(ns string) *csv1alpha1.SuccessPlan {
	p := &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Name: "enterprise", Namespace: ns},
		Spec: csv1alpha1.SuccessPlanSpec{
			Accounts: []string{"globex", "initech", "umbrella"},
			Priority: 20,
			Sources:  []csv1alpha1.Source{{Name: "csm", Static: &csv1alpha1.StaticSource{}}},
			Measures: []csv1alpha1.Measure{{Name: "nps", Source: "csm", Key: "nps", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 1}},
		},
		Status: csv1alpha1.SuccessPlanStatus{
			ObservedGeneration: 1,
			Accounts:           5,
			Bands:              csv1alpha1.BandCounts{Green: 2, Yellow: 1, Red: 2},
			MRR:                "122000",
			MRRAtRisk:          "52000",
			KPIs: &csv1alpha1.KPIs{Period: "720h", CustomerChurnRate: "0", RevenueChurnRate: "1.5",
				GrossRevenueRetention: "98.5", NetRevenueRetention: "104.2", NPS: "61", CSAT: "88.5", PaybackMonths: "7.5"},
			Conditions: []metav1.Condition{
				condition("Ready", metav1.ConditionTrue, "Reconciled", "The plan is valid and its accounts are evaluated", "2026-03-01T08:00:00Z"),
			},
		},
	}
	p.Generation = 1
	return p
}

// startupPlan is new: no status yet.
func startupPlan(ns string) *csv1alpha1.SuccessPlan {
	p := &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Name: "startup", Namespace: ns},
		Spec: csv1alpha1.SuccessPlanSpec{
			AccountSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": "startup"}},
			Sources:         []csv1alpha1.Source{{Name: "csm", Static: &csv1alpha1.StaticSource{}}},
			Measures:        []csv1alpha1.Measure{{Name: "nps", Source: "csm", Key: "nps", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 1}},
		},
	}
	p.Generation = 1
	return p
}

// acme is the design's account, in Adoption for twelve days, Yellow since
// its tickets source fails, with an override and an overdue objective.
func acme(ns string) *csv1alpha1.CustomerAccount {
	return &csv1alpha1.CustomerAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: ns, Labels: map[string]string{"customersuccess.dev/segment": "smb"}},
		Spec: csv1alpha1.CustomerAccountSpec{
			DisplayName:    "ACME S.p.A.",
			Owner:          "giulia@vendor.example",
			ExternalIDs:    map[string]string{"telemetry": "acme-prod", "support": "48213"},
			SuccessPlanRef: &csv1alpha1.LocalObjectReference{Name: "smb"},
			Contract: csv1alpha1.Contract{Tier: "growth", Seats: 50, Currency: "EUR", StartDate: "2026-03-01", RenewalDate: "2027-03-01",
				Revenue: []csv1alpha1.LedgerEntry{
					{Date: "2026-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"},
					{Date: "2026-03-25", Type: csv1alpha1.LedgerExpansion, Amount: "300"},
				}},
			Overrides: []csv1alpha1.Override{{Measure: "sentiment", Value: "2", Reason: "exec sponsor left", Author: "giulia",
				Expires: *ts("2026-12-31T00:00:00Z")}},
			Signals: csv1alpha1.Signals{Values: map[string]csv1alpha1.Decimal{"sentiment": "4"}},
		},
	}
}

// acmeStatus is acme's status; the action keys depend on its UID.
func acmeStatus(uid types.UID) csv1alpha1.CustomerAccountStatus {
	onboarding, adoption := ts("2026-03-02T09:00:00Z"), ts("2026-03-20T09:00:00Z")
	key := func(stage string, entered *metav1.Time, action string) string {
		return actions.Key(string(uid), stage, entered.Time, action)
	}
	return csv1alpha1.CustomerAccountStatus{
		ObservedGeneration: 1,
		Plan:               "smb",
		Stage:              "Adoption",
		StageEnteredAt:     adoption,
		MRR:                "3000",
		Health: &csv1alpha1.HealthStatus{
			Score: 57, Band: csv1alpha1.BandYellow, PlanGeneration: 1, Trend: csv1alpha1.TrendDown,
			Measures: []csv1alpha1.MeasureStatus{
				{Name: "activeSeats", Value: "30", Score: 70, Weight: 40, Contribution: 35, Source: "telemetry", ObservedAt: ts("2026-04-01T11:55:00Z")},
				{Name: "openTickets", Score: 0, Weight: 20, Source: "support", ObservedAt: ts("2026-03-29T10:00:00Z"),
					Error: "support: HTTP 503", Stale: true},
				{Name: "nps", Value: "28", Score: 56, Weight: 25, Contribution: 17.5, Source: "csm", ObservedAt: ts("2026-04-01T11:55:00Z")},
				{Name: "sentiment", Value: "2", Score: 25, Weight: 15, Contribution: 4.7, Source: "csm", ObservedAt: ts("2026-04-01T11:55:00Z"), Overridden: true},
			},
			Samples: []csv1alpha1.ScoreSample{{At: *ts("2026-03-20T09:00:00Z"), Score: 74}, {At: *ts("2026-03-27T14:30:00Z"), Score: 57}},
		},
		History: []csv1alpha1.HistoryEntry{
			{At: *onboarding, Score: 81, Band: csv1alpha1.BandGreen, Stage: "Onboarding"},
			{At: *adoption, Score: 74, Band: csv1alpha1.BandGreen, Stage: "Adoption"},
			{At: *ts("2026-03-27T14:30:00Z"), Score: 57, Band: csv1alpha1.BandYellow, Stage: "Adoption"},
		},
		Objectives: []csv1alpha1.ObjectiveStatus{
			{Name: "training-done", Stage: "Adoption", State: csv1alpha1.ObjectiveOverdue, At: ts("2026-03-30T09:00:00Z")},
			{Name: "half-seats-active", Stage: "Adoption", State: csv1alpha1.ObjectivePending, At: adoption},
		},
		Actions: []csv1alpha1.ActionStatus{
			{Name: "training-invite", Stage: "Onboarding", Key: key("Onboarding", onboarding, "training-invite"), State: csv1alpha1.ActionDelivered, At: ts("2026-03-09T09:00:04Z"), Attempts: 1},
			{Name: "kickoff-call", Stage: "Adoption", Key: key("Adoption", adoption, "kickoff-call"), State: csv1alpha1.ActionDelivered, At: ts("2026-03-20T09:00:03Z"), Attempts: 2},
		},
		Conditions: []metav1.Condition{
			condition("Ready", metav1.ConditionTrue, "Reconciled", "The account is evaluated by plan smb", "2026-03-02T09:00:00Z"),
			condition("MetricsAvailable", metav1.ConditionFalse, "MeasuresUnavailable", "openTickets: support: HTTP 503", "2026-03-29T10:05:00Z"),
			condition("Healthy", metav1.ConditionFalse, "Yellow", "Score 57 is Yellow", "2026-03-27T14:30:00Z"),
			condition("AtRisk", metav1.ConditionTrue, "AtRiskSignal", "signals.atRisk holds", "2026-03-27T14:30:00Z"),
			condition("ExpansionReady", metav1.ConditionFalse, "NoExpansionSignal", "signals.expansion is not set", "2026-03-02T09:00:00Z"),
		},
	}
}

// globex is a healthy enterprise account.
func globex(ns string) *csv1alpha1.CustomerAccount {
	return &csv1alpha1.CustomerAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "globex", Namespace: ns},
		Spec: csv1alpha1.CustomerAccountSpec{
			DisplayName: "Globex Corporation",
			Contract: csv1alpha1.Contract{Currency: "USD", RenewalDate: "2026-11-30",
				Revenue: []csv1alpha1.LedgerEntry{{Date: "2025-12-01", Type: csv1alpha1.LedgerNew, Amount: "40000"}}},
		},
	}
}

// globexStatus is globex's status: Green, nothing to see.
func globexStatus(types.UID) csv1alpha1.CustomerAccountStatus {
	return csv1alpha1.CustomerAccountStatus{
		ObservedGeneration: 1,
		Plan:               "enterprise",
		MRR:                "40000",
		Health: &csv1alpha1.HealthStatus{Score: 91, Band: csv1alpha1.BandGreen, PlanGeneration: 1, Trend: csv1alpha1.TrendFlat,
			Measures: []csv1alpha1.MeasureStatus{{Name: "nps", Value: "62", Score: 100, Weight: 1, Contribution: 100, Source: "csm", ObservedAt: ts("2026-04-01T11:58:00Z")}}},
		Conditions: []metav1.Condition{
			condition("Ready", metav1.ConditionTrue, "Reconciled", "The account is evaluated by plan enterprise", "2026-03-01T08:00:00Z"),
			condition("Healthy", metav1.ConditionTrue, "Green", "Score 91 is Green", "2026-03-01T08:00:00Z"),
			condition("AtRisk", metav1.ConditionFalse, "NoRisk", "No risk signal holds", "2026-03-01T08:00:00Z"),
		},
	}
}

// fixtureUID is the UID of in-memory fixtures.
const fixtureUID types.UID = "5e0c8a1e-4a4f-4c1b-9f39-0d8f6a1c2b3d"

// withStatus returns acct with its status, as read from the cluster.
func withStatus(acct *csv1alpha1.CustomerAccount, status func(types.UID) csv1alpha1.CustomerAccountStatus) *csv1alpha1.CustomerAccount {
	acct.UID = fixtureUID
	acct.Generation = 1
	acct.Status = status(acct.UID)
	return acct
}

// keyOf is the idempotency key of an action of a stage visit.
func keyOf(uid, stage string, entered *metav1.Time, action string) string {
	return actions.Key(uid, stage, entered.Time, action)
}
