package main

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

const (
	// planName is the benchmark's one SuccessPlan.
	planName = "bench"
	// segmentLabel and segment select the benchmark's accounts.
	segmentLabel = "customersuccess.dev/segment"
	segment      = "bench"
	// metricName is the gauge the exporter serves, one series per account.
	metricName = "bench_active_users"
	// accountLabel is the exporter's label that names the account.
	accountLabel = "account"
	// usageMeasure is the plan's Prometheus measure.
	usageMeasure = "activeSeats"
	// promMeasures is how many measures of the plan read Prometheus: the
	// collector should send that many queries per interval.
	promMeasures = 1
)

// planSummary describes the plan in the printed header.
const planSummary = "1 plan: 1 Prometheus measure, 2 static measures, 4 stages (Renewal entered at 90 days to renewal), no actions"

const (
	// renewalStage is the plan's last stage, which an account enters when
	// renewalWindow days or fewer are left to its renewal date.
	renewalStage = "Renewal"
	// renewalWindow is the days to renewal that open the renewal stage.
	renewalWindow = 90
	// renewalSpread is the number of consecutive days the accounts'
	// renewal dates cover.
	renewalSpread = 365
)

// benchPlan is the plan that manages every account of the benchmark: one
// Prometheus measure (a vector query for all accounts), two static ones
// (spec.signals), three stages whose exits need days to pass, a renewal
// stage that an account enters at renewalWindow days to renewal (its
// enterWhen reads account.daysToRenewal: every account before it is
// evaluated again when the day changes), and the design's signals. No
// actions: delivery is benchmarked elsewhere.
func benchPlan(ns, prometheusURL string, interval time.Duration) *csv1alpha1.SuccessPlan {
	hysteresis := int32(2)
	return &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Name: planName, Namespace: ns},
		Spec: csv1alpha1.SuccessPlanSpec{
			AccountSelector: &metav1.LabelSelector{MatchLabels: map[string]string{segmentLabel: segment}},
			Priority:        10,
			Interval:        metav1.Duration{Duration: interval},
			KPIPeriod:       metav1.Duration{Duration: 2160 * time.Hour},
			GrossMargin:     "0.80",
			Sources: []csv1alpha1.Source{
				{Name: "telemetry", Prometheus: &csv1alpha1.PrometheusSource{URL: prometheusURL, AccountLabel: accountLabel}},
				{Name: "csm", Static: &csv1alpha1.StaticSource{}},
			},
			Measures: []csv1alpha1.Measure{
				{
					Name: usageMeasure, Source: "telemetry",
					Query:      "max by (" + accountLabel + ") (" + metricName + ")",
					Normalize:  "value / double(account.contract.seats)",
					Thresholds: csv1alpha1.Thresholds{Bad: 0.2, Good: 0.7}, Weight: 40,
				},
				{Name: "nps", Source: "csm", Key: "nps", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 30},
				{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 30},
			},
			Health: csv1alpha1.HealthModel{Bands: csv1alpha1.Bands{Green: 70, Yellow: 40}, Hysteresis: &hysteresis},
			Stages: []csv1alpha1.Stage{
				{
					Name:        "Onboarding",
					MaxDuration: &metav1.Duration{Duration: 720 * time.Hour},
					Objectives: []csv1alpha1.Objective{
						{Name: "first-login", When: "measures.activeSeats.available && measures.activeSeats.value >= 1.0"},
					},
					ExitWhen: "measures.activeSeats.available && measures.activeSeats.value >= 0.5 * double(account.contract.seats) && stage.days >= 7",
				},
				{Name: "Adoption", ExitWhen: "health.scored && health.score >= 70 && stage.days >= 30"},
				{Name: "Nurturing"},
				{Name: renewalStage, EnterWhen: fmt.Sprintf("account.daysToRenewal <= %d", renewalWindow)},
			},
			Signals: csv1alpha1.PlanSignals{
				AtRisk:    "health.scored && health.score < 40",
				Expansion: "measures.activeSeats.available && measures.activeSeats.value >= 0.9 * double(account.contract.seats)",
			},
		},
	}
}

// profile is one kind of account. Its three measures score alike, so an
// account scored before its first Prometheus value (static measures only)
// lands in the same band as afterwards: at cold start a band changes only
// if the operator makes it.
type profile struct {
	// usage is active seats over seats, the Prometheus measure.
	usage float64
	// sentiment is spec.signals.values.sentiment.
	sentiment csv1alpha1.Decimal
	// nps are the NPS answer counts, scores 0..10.
	nps []int32
}

// profiles: Green (every measure scores 100), Yellow (50) and Red (0).
var profiles = []profile{
	{usage: 0.8, sentiment: "5", nps: []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 8}},  // NPS 100
	{usage: 0.45, sentiment: "3", nps: []int32{0, 0, 0, 0, 1, 0, 1, 1, 1, 2, 2}}, // NPS 25
	{usage: 0.1, sentiment: "1", nps: []int32{1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0}},  // NPS -50
}

// accountName is the name of account i, also its Prometheus label value.
func accountName(i int) string { return fmt.Sprintf("acct-%06d", i) }

// seats of account i: 20 to 200, so that every profile's usage is a whole
// number of seats.
func seats(i int) int32 { return int32(20 * (1 + i%10)) }

// usage is account i's exported value at rest.
func usage(i int) float64 { return profiles[i%len(profiles)].usage * float64(seats(i)) }

// renewalDate is account i's renewal date in a fleet created at now: the
// dates cover renewalSpread days from renewalWindow+2 days after the day
// of now, so that no account is in the renewal window when the fleet is
// created (every one is placed in the first stage, as before the renewal
// stage existed), and one account in renewalSpread reaches it at each
// midnight UTC that follows (account 0 at the first).
func renewalDate(i int, now time.Time) time.Time {
	return now.Truncate(24*time.Hour).AddDate(0, 0, renewalWindow+2+i%renewalSpread)
}

// benchAccount is account i of a fleet created at now: a contract with a
// ledger whose entries are all in the past (no MRR change to come), a
// renewal date (renewalDate), surveys, a sentiment and two contacts,
// about the size of the samples.
func benchAccount(ns string, i int, now time.Time) *csv1alpha1.CustomerAccount {
	p := profiles[i%len(profiles)]
	name := accountName(i)
	start := now.AddDate(0, 0, -60-i%300)
	mrr := 45 * seats(i)
	return &csv1alpha1.CustomerAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{segmentLabel: segment}},
		Spec: csv1alpha1.CustomerAccountSpec{
			DisplayName: fmt.Sprintf("Bench Customer %d", i),
			Owner:       fmt.Sprintf("csm-%02d@vendor.example", i%20),
			ExternalIDs: map[string]string{"telemetry": name, "crm": fmt.Sprintf("crm-%08d", i)},
			Contract: csv1alpha1.Contract{
				Tier: "growth", Seats: seats(i), Currency: "EUR",
				StartDate:       date(start),
				RenewalDate:     date(renewalDate(i, now)),
				AcquisitionCost: csv1alpha1.Decimal(fmt.Sprint(3 * mrr)),
				Revenue: []csv1alpha1.LedgerEntry{
					{Date: date(start), Type: csv1alpha1.LedgerNew, Amount: csv1alpha1.Decimal(fmt.Sprint(mrr))},
					{Date: date(start.AddDate(0, 0, 30)), Type: csv1alpha1.LedgerExpansion, Amount: csv1alpha1.Decimal(fmt.Sprint(mrr / 10))},
				},
			},
			Signals: csv1alpha1.Signals{
				Values:  map[string]csv1alpha1.Decimal{"sentiment": p.sentiment},
				Surveys: csv1alpha1.Surveys{NPS: p.nps, CSAT: []int32{0, 1, 1, 5, 6}, CES: []int32{4, 5, 2, 1, 0, 1, 0}},
			},
			Contacts: []csv1alpha1.Contact{
				{Name: "Decision Maker", Email: fmt.Sprintf("dm@%s.example", name), Role: csv1alpha1.RoleDecisionMaker},
				{Name: "Champion", Email: fmt.Sprintf("champion@%s.example", name), Role: csv1alpha1.RoleChampion, Persona: "data-engineer"},
			},
		},
	}
}

func date(t time.Time) csv1alpha1.Date { return csv1alpha1.Date(t.Format(time.DateOnly)) }
