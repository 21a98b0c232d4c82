package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/text"
)

// maxMessage bounds condition messages well under the API's 32768 limit.
const maxMessage = evaluate.MaxMessage

// outcome is what a reconcile learned about the account's readiness;
// summarize turns it into Ready, Stalled and Reconciling.
type outcome struct {
	// plan is the name of the plan that manages the account.
	plan string
	// reason and message say why the account is not Ready; empty when it is.
	reason, message string
	// stalled: only a spec change (the account's or its plan's) can help.
	stalled bool
	// waiting says what the first evaluation still waits for; empty when
	// nothing.
	waiting string
}

// fail records the first failure: later steps do not hide an earlier,
// more fundamental one.
func (o *outcome) fail(reason, message string, stalled bool) {
	if o.reason == "" {
		o.reason, o.message, o.stalled = reason, text.Truncate(message, maxMessage), stalled
	}
}

// summarize computes every condition from what the steps found, last and
// in one place, and marks the status as describing the current generation.
// A condition whose step did not run keeps its last value. Ready is the
// summary: True only when the account was evaluated with its plan, and the
// reason of the first failure otherwise; a suspended account is Ready=False
// Suspended, with Stalled and Reconciling removed: its status is frozen,
// and nothing is in progress. It compacts the status last (compactStatus),
// after every step that adds to it.
func summarize(s *accountScope) {
	acct := s.acct
	acct.Status.ObservedGeneration = acct.Generation
	if acct.Spec.Suspend {
		setCondition(acct, metav1.Condition{Type: csv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: csv1alpha1.SuspendedReason, Message: "spec.suspend is true: evaluation stopped, status keeps its last values"})
		removeCondition(&acct.Status.Conditions, csv1alpha1.StalledCondition)
		removeCondition(&acct.Status.Conditions, csv1alpha1.ReconcilingCondition)
		return
	}
	compactStatus(acct)
	if s.health != nil {
		setCondition(acct, metricsAvailable(s.health.Failing))
		setCondition(acct, healthy(acct.Status.Health))
	}
	for _, c := range s.signals {
		setCondition(acct, c)
	}
	out := s.out
	ready := metav1.Condition{Type: csv1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
		Reason: csv1alpha1.ReconciledReason, Message: fmt.Sprintf("Managed by SuccessPlan %q", out.plan)}
	switch {
	case out.reason != "":
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, out.reason, out.message
	case out.waiting != "":
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, csv1alpha1.ProgressingReason, out.waiting
	}
	setCondition(acct, ready)
	if out.stalled {
		setCondition(acct, metav1.Condition{Type: csv1alpha1.StalledCondition, Status: metav1.ConditionTrue,
			Reason: out.reason, Message: out.message})
	} else {
		removeCondition(&acct.Status.Conditions, csv1alpha1.StalledCondition)
	}
	if out.reason == "" && out.waiting != "" {
		setCondition(acct, metav1.Condition{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue,
			Reason: csv1alpha1.ProgressingReason, Message: out.waiting})
	} else {
		removeCondition(&acct.Status.Conditions, csv1alpha1.ReconcilingCondition)
	}
}

// metricsAvailable names the failing measures and why.
func metricsAvailable(failing []string) metav1.Condition {
	c := metav1.Condition{
		Type: csv1alpha1.MetricsAvailableCondition, Status: metav1.ConditionTrue,
		Reason: csv1alpha1.MeasuresAvailableReason, Message: "Every measure has a current value",
	}
	if len(failing) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, csv1alpha1.MeasuresUnavailableReason
		c.Message = text.Truncate(strings.Join(failing, "; "), maxMessage)
	}
	return c
}

// healthy is True while the band is Green; its reason is the band.
func healthy(h *csv1alpha1.HealthStatus) metav1.Condition {
	c := metav1.Condition{Type: csv1alpha1.HealthyCondition, Status: metav1.ConditionUnknown, Reason: csv1alpha1.NotScoredReason,
		Message: "No measure has a value yet"}
	if h != nil && h.Band != "" {
		c.Reason = string(h.Band)
		c.Message = fmt.Sprintf("Health score %d is %s", h.Score, h.Band)
		c.Status = metav1.ConditionFalse
		if h.Band == csv1alpha1.BandGreen {
			c.Status = metav1.ConditionTrue
		}
	}
	return c
}

// setCondition sets a condition of the account's current generation.
func setCondition(acct *csv1alpha1.CustomerAccount, c metav1.Condition) {
	c.ObservedGeneration = acct.Generation
	meta.SetStatusCondition(&acct.Status.Conditions, c)
}

// removeCondition removes the condition of a type when there is one:
// meta.RemoveStatusCondition copies the list on every call, and every
// reconcile removes the conditions it does not set.
func removeCondition(conditions *[]metav1.Condition, conditionType string) {
	if meta.FindStatusCondition(*conditions, conditionType) != nil {
		meta.RemoveStatusCondition(conditions, conditionType)
	}
}
