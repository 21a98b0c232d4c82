package evaluate

import (
	"math/big"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/sources"
)

// Account is one account at the moment of an evaluation: what every step
// reads besides the plan.
type Account struct {
	// Object is the account; its status holds the previous evaluation.
	Object *csv1alpha1.CustomerAccount
	// MRR is the account's MRR as of Now (kpi.MRR of its ledger).
	MRR *big.Rat
	// Now is the moment of the evaluation.
	Now time.Time
	// Var is the account's expression variable, built once for the steps
	// of one evaluation (AccountVar); nil builds it where it is needed.
	Var map[string]any
}

// AccountVar returns the account's expression variable (expr.AccountVar).
func (a Account) AccountVar() map[string]any {
	if a.Var != nil {
		return a.Var
	}
	return expr.AccountVar(expr.Input{Account: a.Object, MRR: a.MRR, Now: a.Now})
}

// vars returns the expression variables of the account with the health
// result res, in a stage entered at enteredAt.
func (a Account) vars(res *health.Result, stage string, enteredAt time.Time) map[string]any {
	return expr.Vars(expr.Input{Account: a.Object, MRR: a.MRR, Health: res,
		Stage: stage, StageEnteredAt: enteredAt, Now: a.Now, AccountVar: a.AccountVar()})
}

// Lookup returns the latest observation of a remote measure of the
// account, and false when there is none yet. The operator looks in its
// value store; the kubectl plugin in the values the account's status
// recorded.
type Lookup func(measure string) (health.Observation, bool)

// Inputs are the health inputs of an account's measures under a plan.
type Inputs struct {
	// Measures are the inputs of health.Evaluate, in plan order.
	Measures []health.Measure
	// Awaited are the remote measures without an observation yet, in plan
	// order: the collector has not seen the account.
	Awaited []string

	plan *csv1alpha1.SuccessPlan
	// normalizeErrs are the run-time errors of normalize expressions by
	// measure index, filled in while health.Evaluate runs.
	normalizeErrs map[int]error
}

// NormalizeErrors lists the normalize expressions that failed at run time,
// naming their fields, in plan order. Only an evaluation of Measures runs
// them: call it after Health.
func (in Inputs) NormalizeErrors() field.ErrorList {
	var errs field.ErrorList
	for i := range in.plan.Spec.Measures {
		if err, ok := in.normalizeErrs[i]; ok {
			m := &in.plan.Spec.Measures[i]
			errs = append(errs, field.Invalid(field.NewPath("spec", "measures").Index(i).Child("normalize"), m.Normalize, err.Error()))
		}
	}
	return errs
}

// Measures builds the health inputs of every plan measure: a static value
// from the account's spec.signals, a remote one through lookup, the
// account's override of the measure, its previous status, and the compiled
// normalize expression.
func Measures(a Account, plan *csv1alpha1.SuccessPlan, model *Model, lookup Lookup) Inputs {
	acct := a.Object
	accountVar := a.AccountVar()
	kinds := map[string]bool{} // source name -> static
	for _, s := range plan.Spec.Sources {
		kinds[s.Name] = s.Static != nil
	}
	interval := plan.Spec.GetInterval()
	normalizeErrs := map[int]error{}
	in := Inputs{plan: plan, normalizeErrs: normalizeErrs, Measures: make([]health.Measure, 0, len(plan.Spec.Measures))}
	for i := range plan.Spec.Measures {
		m := &plan.Spec.Measures[i]
		hm := health.Measure{
			Name: m.Name, Source: m.Source, Weight: m.Weight,
			Bad: m.Thresholds.Bad, Good: m.Thresholds.Good,
			Missing: m.Missing, StaleAfter: m.GetStaleAfter(interval),
		}
		if prg := model.Expressions.Normalize[m.Name]; prg != nil {
			hm.Normalize = func(v float64) (float64, error) {
				n, err := prg.EvalNumber(map[string]any{expr.VarValue: v, expr.VarAccount: accountVar})
				if err != nil {
					normalizeErrs[i] = err
				}
				return n, err
			}
		}
		if kinds[m.Source] {
			// A static value is as current as the spec: it has no
			// observation time and is never stale.
			s := sources.Static(&acct.Spec.Signals, m.Key)
			hm.Obs = health.Observation{Value: s.Value, Has: s.Err == "", Err: s.Err}
		} else if obs, ok := lookup(m.Name); ok {
			hm.Obs, hm.Refreshed = obs, true
		} else {
			in.Awaited = append(in.Awaited, m.Name)
		}
		if prev := acct.Status.Health; prev != nil {
			for j := range prev.Measures {
				if prev.Measures[j].Name == m.Name {
					hm.Previous = &prev.Measures[j]
				}
			}
		}
		for j := range acct.Spec.Overrides {
			if acct.Spec.Overrides[j].Measure == m.Name {
				hm.Override = &acct.Spec.Overrides[j]
			}
		}
		in.Measures = append(in.Measures, hm)
	}
	return in
}

// Health scores the measures with the plan's health model (its bands,
// hysteresis and trend window, defaults applied) over the previous health
// status prev, which may be nil.
func Health(now time.Time, plan *csv1alpha1.SuccessPlan, measures []health.Measure, prev *csv1alpha1.HealthStatus) health.Result {
	hm := &plan.Spec.Health
	green, yellow := hm.GetBands()
	return health.Evaluate(now, measures, health.Model{
		Green: green, Yellow: yellow, Hysteresis: hm.GetHysteresis(),
		TrendWindow: hm.GetTrendWindow(), PlanGeneration: plan.Generation,
	}, prev)
}
