package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/text"
)

// summarizePlan computes every condition of the plan from what the steps
// found, last and in one place: Valid from the model, Stalled while the
// plan is not valid, Reconciling while accounts are not yet evaluated with
// the plan's generation, Ready as their summary, and TargetsMet from
// status.targets. Ready ignores TargetsMet: a missed target is a business
// fact about the customers, not a fault of the plan or the operator.
func summarizePlan(s *planScope) {
	plan := s.plan
	plan.Status.ObservedGeneration = plan.Generation
	set := func(c metav1.Condition) {
		c.ObservedGeneration = plan.Generation
		meta.SetStatusCondition(&plan.Status.Conditions, c)
	}
	valid := metav1.Condition{Type: csv1alpha1.ValidCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ValidReason,
		Message: "Every measure names a source and every expression compiles"}
	ready := metav1.Condition{Type: csv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ReconciledReason,
		Message: "Plan is valid"}
	removeCondition(&plan.Status.Conditions, csv1alpha1.StalledCondition)
	removeCondition(&plan.Status.Conditions, csv1alpha1.ReconcilingCondition)
	switch {
	case !s.model.Valid():
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, csv1alpha1.InvalidSpecReason, s.model.Message()
		ready.Status, ready.Reason, ready.Message = valid.Status, valid.Reason, valid.Message
		set(metav1.Condition{Type: csv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: valid.Reason, Message: valid.Message})
	case s.pending > 0:
		msg := fmt.Sprintf("%d accounts not yet evaluated with generation %d", s.pending, plan.Generation)
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, csv1alpha1.ProgressingReason, msg
		set(metav1.Condition{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ProgressingReason, Message: msg})
	}
	set(valid)
	set(ready)
	if c, ok := targetsCondition(plan.Status.Targets); ok {
		set(c)
	} else {
		removeCondition(&plan.Status.Conditions, csv1alpha1.TargetsMetCondition)
	}
}

// targetsCondition is the TargetsMet condition of evaluated targets: False
// with each miss when one is missed, else Unknown when a KPI has no value,
// else True. ok is false without targets: the condition is removed.
func targetsCondition(targets []csv1alpha1.TargetStatus) (c metav1.Condition, ok bool) {
	summary := kpi.SummarizeTargets(targets)
	c = metav1.Condition{Type: csv1alpha1.TargetsMetCondition, Message: text.Truncate(summary.Message(), maxMessage)}
	switch summary.Outcome() {
	case kpi.AllMet:
		c.Status, c.Reason = metav1.ConditionTrue, csv1alpha1.AllTargetsMetReason
	case kpi.SomeMissed:
		c.Status, c.Reason = metav1.ConditionFalse, csv1alpha1.TargetsMissedReason
	case kpi.NoData:
		c.Status, c.Reason = metav1.ConditionUnknown, csv1alpha1.NoKPIDataReason
	default:
		return metav1.Condition{}, false
	}
	return c, true
}
