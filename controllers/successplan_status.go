package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/text"
)

// summarizePlan computes every condition of the plan from what the steps
// found, last and in one place: Valid from the model, Stalled while the
// plan is not valid, Reconciling while accounts are not yet evaluated with
// the plan's generation, and Ready as their summary.
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
	meta.RemoveStatusCondition(&plan.Status.Conditions, csv1alpha1.StalledCondition)
	meta.RemoveStatusCondition(&plan.Status.Conditions, csv1alpha1.ReconcilingCondition)
	switch {
	case !s.model.Valid():
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, csv1alpha1.InvalidSpecReason, errorListMessage(s.model)
		ready.Status, ready.Reason, ready.Message = valid.Status, valid.Reason, valid.Message
		set(metav1.Condition{Type: csv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: valid.Reason, Message: valid.Message})
	case s.pending > 0:
		msg := fmt.Sprintf("%d accounts not yet evaluated with generation %d", s.pending, plan.Generation)
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, csv1alpha1.ProgressingReason, msg
		set(metav1.Condition{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ProgressingReason, Message: msg})
	}
	set(valid)
	set(ready)
}

// errorListMessage joins a model's errors into one condition message.
func errorListMessage(model *PlanModel) string {
	parts := make([]string, 0, len(model.Errors))
	for _, e := range model.Errors {
		parts = append(parts, e.Error())
	}
	return text.Truncate(strings.Join(parts, "; "), maxMessage)
}
