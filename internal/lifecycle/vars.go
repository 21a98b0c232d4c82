package lifecycle

import (
	"math/big"
	"strconv"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Input is what expressions can read about one account.
type Input struct {
	Account *csv1alpha1.CustomerAccount
	// MRR is the account's current MRR.
	MRR *big.Rat
	// Health is the evaluated health; nil before the first score.
	Health *csv1alpha1.HealthStatus
	// Stage and StageEnteredAt are the current stage.
	Stage          string
	StageEnteredAt time.Time
	Now            time.Time
}

// AccountVar returns the account variable, of the declared type Account:
// the spec's fields, signals.values as numbers, plus mrr, daysSinceStart
// and daysToRenewal (absent when the date is unset).
func AccountVar(in Input) map[string]any {
	a := in.Account
	c := a.Spec.Contract
	contract := map[string]any{
		"tier":     c.Tier,
		"seats":    int64(c.Seats),
		"currency": c.Currency,
	}
	if c.StartDate != "" {
		contract["startDate"] = string(c.StartDate)
	}
	if c.RenewalDate != "" {
		contract["renewalDate"] = string(c.RenewalDate)
	}
	if v, err := strconv.ParseFloat(string(c.AcquisitionCost), 64); err == nil {
		contract["acquisitionCost"] = v
	}
	ids := make(map[string]any, len(a.Spec.ExternalIDs))
	for k, v := range a.Spec.ExternalIDs {
		ids[k] = v
	}
	values := make(map[string]any, len(a.Spec.Signals.Values))
	for k, v := range a.Spec.Signals.Values {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			values[k] = f
		}
	}
	labels := make(map[string]any, len(a.Labels))
	for k, v := range a.Labels {
		labels[k] = v
	}
	out := map[string]any{
		"name":        a.Name,
		"namespace":   a.Namespace,
		"labels":      labels,
		"displayName": a.Spec.DisplayName,
		"owner":       a.Spec.Owner,
		"externalIDs": ids,
		"contract":    contract,
		"signals":     map[string]any{"values": values},
		"mrr":         0.0,
	}
	if in.MRR != nil {
		out["mrr"], _ = in.MRR.Float64()
	}
	if d, ok := daysBetween(string(c.StartDate), in.Now, true); ok {
		out["daysSinceStart"] = d
	}
	if d, ok := daysBetween(string(c.RenewalDate), in.Now, false); ok {
		out["daysToRenewal"] = d
	}
	return out
}

// daysBetween counts whole days from date to now (since) or from now to
// date (until).
func daysBetween(date string, now time.Time, since bool) (int64, bool) {
	if date == "" {
		return 0, false
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0, false
	}
	if since {
		return int64(now.Sub(d) / (24 * time.Hour)), true
	}
	return int64(d.Sub(now) / (24 * time.Hour)), true
}

// Vars returns the variables of condition expressions: account, measures,
// health and stage. A measure without a current value has no value key:
// read measures.x.available first when a source may fail. Likewise health
// has score and band only once scored (health.scored).
func Vars(in Input) map[string]any {
	measures := map[string]any{}
	healthVar := map[string]any{"scored": false}
	if h := in.Health; h != nil {
		if h.Band != "" {
			healthVar = map[string]any{"scored": true, "score": int64(h.Score), "band": string(h.Band)}
		}
		for _, m := range h.Measures {
			available := m.Error == "" && !m.Stale && m.Value != ""
			mv := map[string]any{"score": int64(m.Score), "available": available || (m.Overridden && m.Value != "")}
			if v, err := strconv.ParseFloat(string(m.Value), 64); err == nil && m.Value != "" {
				mv["value"] = v
			}
			measures[m.Name] = mv
		}
	}
	stage := map[string]any{"name": in.Stage, "days": int64(0)}
	if !in.StageEnteredAt.IsZero() {
		stage["days"] = int64(in.Now.Sub(in.StageEnteredAt) / (24 * time.Hour))
	}
	return map[string]any{
		VarAccount:  AccountVar(in),
		VarMeasures: measures,
		VarHealth:   healthVar,
		VarStage:    stage,
	}
}
