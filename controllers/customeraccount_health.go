package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/sources"
	"customersuccess.dev/success-operator/internal/text"
)

// maxHistory bounds status.history.
const maxHistory = 50

// reconcileHealth gathers each measure's latest value (remote ones from
// the Store, static ones from spec.signals), scores the account with the
// plan's model, and sets status.health; the result feeds the conditions
// MetricsAvailable and Healthy. It records an Event when the band
// changes, the remote measures the evaluation still waits for, the
// normalize expressions that failed, and when the result changes by
// itself.
func (r *CustomerAccountReconciler) reconcileHealth(_ context.Context, s *accountScope) (stepResult, error) {
	acct, plan := s.acct, s.plan
	planKey := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	prev := acct.Status.Health
	accountVar := expr.AccountVar(expr.Input{Account: acct, MRR: s.mrr, Now: s.now})

	measures, waiting, normalizeErrs := r.gatherMeasures(acct, plan, s.model, planKey, accountVar)
	if len(waiting) > 0 {
		s.out.waiting = "Waiting for the first values of " + strings.Join(waiting, ", ")
		if r.Collectors != nil {
			r.Collectors.Wake(planKey)
		}
	}
	hm := &plan.Spec.Health
	green, yellow := hm.GetBands()
	res := health.Evaluate(s.now, measures, health.Model{
		Green: green, Yellow: yellow, Hysteresis: hm.GetHysteresis(),
		TrendWindow: hm.GetTrendWindow(), PlanGeneration: plan.Generation,
	}, prev)
	status := res.Status
	acct.Status.Health = &status
	s.health = &res
	s.requeueAt(res.NextChange)

	s.bandChanged = res.Scored && (prev == nil || prev.Band != status.Band)
	if s.bandChanged {
		r.recordBandChange(acct, prev, &status)
	}
	for i := range plan.Spec.Measures {
		if err, ok := normalizeErrs[i]; ok {
			m := &plan.Spec.Measures[i]
			s.failed = append(s.failed, field.Invalid(field.NewPath("spec", "measures").Index(i).Child("normalize"), m.Normalize, err.Error()))
		}
	}
	return proceed, nil
}

// gatherMeasures builds the health inputs of every plan measure. It
// returns the remote measures without an observation yet (the collector
// has not seen the account), and the run-time errors of normalize
// expressions by measure index, filled in while health.Evaluate runs.
func (r *CustomerAccountReconciler) gatherMeasures(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan,
	model *PlanModel, planKey types.NamespacedName, accountVar map[string]any) ([]health.Measure, []string, map[int]error) {
	kinds := map[string]bool{} // source name -> static
	for _, s := range plan.Spec.Sources {
		kinds[s.Name] = s.Static != nil
	}
	interval := plan.Spec.GetInterval()
	var waiting []string
	normalizeErrs := map[int]error{}
	out := make([]health.Measure, 0, len(plan.Spec.Measures))
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
		} else if obs, ok := r.Store.Get(planKey, acct.Name, m.Name); ok {
			hm.Obs = obs
		} else {
			waiting = append(waiting, m.Name)
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
		out = append(out, hm)
	}
	return out, waiting, normalizeErrs
}

// recordBandChange records an Event; evaluate adds the history entry once
// the stage is known.
func (r *CustomerAccountReconciler) recordBandChange(acct *csv1alpha1.CustomerAccount, prev, cur *csv1alpha1.HealthStatus) {
	if r.Recorder == nil {
		return
	}
	eventType, from := corev1.EventTypeNormal, "none"
	if prev != nil && prev.Band != "" {
		from = string(prev.Band)
		if health.Rank(cur.Band) < health.Rank(prev.Band) {
			eventType = corev1.EventTypeWarning
		}
	}
	r.Recorder.Eventf(acct, nil, eventType, csv1alpha1.BandChangedReason, eventAction("Score", from, string(cur.Band)),
		"Health band %s -> %s (score %d)", from, cur.Band, cur.Score)
}

// appendHistory appends e and keeps the newest maxHistory entries.
func appendHistory(h []csv1alpha1.HistoryEntry, e csv1alpha1.HistoryEntry) []csv1alpha1.HistoryEntry {
	h = append(h, e)
	if len(h) > maxHistory {
		h = append([]csv1alpha1.HistoryEntry(nil), h[len(h)-maxHistory:]...)
	}
	return h
}

// evaluateSignals evaluates the plan's atRisk and expansion expressions
// into the conditions AtRisk and ExpansionReady. A Red band or an overdue
// stage is a risk too. It returns the expressions that failed at run time.
func evaluateSignals(model *PlanModel, vars map[string]any, h *csv1alpha1.HealthStatus, stage lifecycle.Step) ([]metav1.Condition, field.ErrorList) {
	var failed field.ErrorList
	if h == nil {
		h = &csv1alpha1.HealthStatus{}
	}
	signal := func(c metav1.Condition, prg *expr.Program, fieldName, holdsReason string) metav1.Condition {
		if prg == nil {
			return c
		}
		hit, err := prg.EvalBool(vars)
		switch {
		case err != nil:
			c.Status, c.Reason = metav1.ConditionUnknown, csv1alpha1.EvaluationFailedReason
			c.Message = text.Truncate("spec.signals."+fieldName+": "+err.Error(), maxMessage)
			failed = append(failed, field.Invalid(field.NewPath("spec", "signals", fieldName), prg.Source(), err.Error()))
		case hit:
			c.Status, c.Reason, c.Message = metav1.ConditionTrue, holdsReason, "spec.signals."+fieldName+" holds: "+prg.Source()
		}
		return c
	}
	risk := signal(metav1.Condition{Type: csv1alpha1.AtRiskCondition, Status: metav1.ConditionFalse, Reason: csv1alpha1.NoRiskReason,
		Message: "No risk signal holds"}, model.Expressions.AtRisk, "atRisk", csv1alpha1.AtRiskSignalReason)
	switch {
	case risk.Status == metav1.ConditionTrue:
	case stage.Overdue:
		risk.Status, risk.Reason = metav1.ConditionTrue, csv1alpha1.StageOverdueReason
		risk.Message = fmt.Sprintf("Stage %s outlived its maxDuration", stage.Stage)
	case h.Band == csv1alpha1.BandRed:
		risk.Status, risk.Reason = metav1.ConditionTrue, csv1alpha1.RedBandReason
		risk.Message = fmt.Sprintf("Health score %d is Red", h.Score)
	}
	exp := signal(metav1.Condition{Type: csv1alpha1.ExpansionReadyCondition, Status: metav1.ConditionFalse,
		Reason: csv1alpha1.NoExpansionSignalReason, Message: "No expansion signal holds"},
		model.Expressions.Expansion, "expansion", csv1alpha1.ExpansionSignalReason)
	return []metav1.Condition{risk, exp}, failed
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
