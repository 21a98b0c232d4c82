package expr

import (
	"math/big"
	"strconv"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// Input is what expressions can read about one account.
type Input struct {
	Account *csv1alpha1.CustomerAccount
	// MRR is the account's current MRR.
	MRR *big.Rat
	// Health is the account's health evaluation (health.Evaluate of the
	// plan's measures, in plan order); nil when there is none, which reads
	// as no measures and health.scored false.
	Health *health.Result
	// Stage and StageEnteredAt are the current stage.
	Stage          string
	StageEnteredAt time.Time
	Now            time.Time
	// AccountVar is the account variable when already built (AccountVar of
	// the same Account, MRR and Now); nil builds it.
	AccountVar map[string]any
}

// AccountVar returns the account variable, of the declared type Account:
// the spec's fields, signals.values as numbers, contacts (always a list,
// persona empty when unset), plus mrr, daysSinceStart and daysToRenewal
// (absent when the date is unset).
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
	values := make(map[string]any, len(a.Spec.Signals.Values))
	for k, v := range a.Spec.Signals.Values {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			values[k] = f
		}
	}
	contacts := make([]any, 0, len(a.Spec.Contacts))
	for _, ct := range a.Spec.Contacts {
		contacts = append(contacts, map[string]any{
			"name": ct.Name, "email": ct.Email, "role": string(ct.Role), "persona": ct.Persona,
		})
	}
	out := map[string]any{
		"name":        a.Name,
		"namespace":   a.Namespace,
		"labels":      stringMap(a.Labels),
		"displayName": a.Spec.DisplayName,
		"owner":       a.Spec.Owner,
		"externalIDs": stringMap(a.Spec.ExternalIDs),
		"contract":    contract,
		"signals":     map[string]any{"values": values},
		"contacts":    contacts,
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

// stringMap is m as CEL reads a map of strings, without a copy: CEL wraps
// a map[string]string as it is and never writes to it. A nil map reads as
// an empty one.
func stringMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// daysBetween counts whole days from date (midnight UTC) to now (since)
// or from now to date (until), truncated toward zero: a count changes
// when nextDayChange says.
func daysBetween(date string, now time.Time, since bool) (int64, bool) {
	d, ok := parseDate(date)
	if !ok {
		return 0, false
	}
	if since {
		return int64(now.Sub(d) / day), true
	}
	return int64(d.Sub(now) / day), true
}

// Vars returns the variables of condition expressions: account, measures,
// health and stage. measures.<name> reads the health result: available is
// health.Value.Available (the value its score was computed from: current,
// held under HoldLast or overridden), value is that value and is present
// only when available (test measures.x.available first when a source may
// fail), score is the measure's score. health.scored is true once the
// account has a score (this evaluation's, or the last one, which the result
// keeps while no measure counts), and only then has score and band.
func Vars(in Input) map[string]any {
	stage := map[string]any{"name": in.Stage, "days": int64(0)}
	if !in.StageEnteredAt.IsZero() {
		stage["days"] = int64(in.Now.Sub(in.StageEnteredAt) / day)
	}
	measures, healthVar := healthVars(in.Health)
	account := in.AccountVar
	if account == nil {
		account = AccountVar(in)
	}
	return map[string]any{
		VarAccount:  account,
		VarMeasures: measures,
		VarHealth:   healthVar,
		VarStage:    stage,
	}
}

// healthVars returns the measures and health variables of a health result.
func healthVars(res *health.Result) (measures, healthVar map[string]any) {
	measures, healthVar = map[string]any{}, map[string]any{"scored": false}
	if res == nil {
		return measures, healthVar
	}
	if h := res.Status; h.Band != "" {
		healthVar = map[string]any{"scored": true, "score": int64(h.Score), "band": string(h.Band)}
	}
	for i, m := range res.Status.Measures {
		var v health.Value
		if i < len(res.Values) {
			v = res.Values[i]
		}
		mv := map[string]any{"score": int64(m.Score), "available": v.Available}
		if v.Available {
			mv["value"] = v.Raw
		}
		measures[m.Name] = mv
	}
	return measures, healthVar
}
