package evaluate

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/text"
)

// MaxMessage bounds the condition messages Signals writes, well under the
// API's 32768 limit.
const MaxMessage = 4096

// Stage runs the plan's stage machine once from the account's status
// (stage, stageEnteredAt, objectives), with the health result res, which
// may be nil. An account whose ledger says it churned goes to Churned.
// The step's NextChange also covers the calendar: the next moment a
// time-derived variable (account.daysSinceStart, account.daysToRenewal,
// stage.days) that the plan's expressions read for an account in the
// step's stage changes value (see Model.CalendarIn), so that an account
// moves on the day its exitWhen or enterWhen says without another event.
func Stage(a Account, plan *csv1alpha1.SuccessPlan, model *Model, res *health.Result) lifecycle.Step {
	acct := a.Object
	vars := func(stage string, enteredAt time.Time) map[string]any {
		return a.vars(res, stage, enteredAt)
	}
	cur := lifecycle.State{Stage: acct.Status.Stage, EnteredAt: timeOf(acct.Status.StageEnteredAt), Objectives: acct.Status.Objectives,
		Initial: acct.Spec.InitialStage}
	step := lifecycle.Advance(plan.Spec.Stages, model.Expressions, cur, kpi.Churned(acct.Spec.Contract.Revenue, a.Now), vars, a.Now)
	var enteredAt time.Time
	if step.Stage != "" {
		// Without a stage, stage.days reads 0 (see Signals).
		enteredAt = step.EnteredAt
	}
	calendar := model.CalendarIn(step.Stage).NextChange(expr.Input{Account: acct, StageEnteredAt: enteredAt, Now: a.Now})
	step.NextChange = health.Earliest(step.NextChange, calendar)
	return step
}

// Signals evaluates the plan's atRisk and expansion expressions into the
// conditions AtRisk and ExpansionReady, in that order, over the health
// result res (nil reads as no health) and the stage machine's step. A Red
// band or an overdue stage is a risk too. It returns the expressions that
// failed at run time, naming their fields.
func Signals(a Account, model *Model, res *health.Result, step lifecycle.Step) ([]metav1.Condition, field.ErrorList) {
	var enteredAt time.Time
	if step.Stage != "" {
		// Without a stage, status keeps no stageEnteredAt.
		enteredAt = step.EnteredAt
	}
	vars := a.vars(res, step.Stage, enteredAt)
	h := &csv1alpha1.HealthStatus{}
	if res != nil {
		h = &res.Status
	}
	var failed field.ErrorList
	signal := func(c metav1.Condition, prg *expr.Program, fieldName, holdsReason string) metav1.Condition {
		if prg == nil {
			return c
		}
		hit, err := prg.EvalBool(vars)
		switch {
		case err != nil:
			c.Status, c.Reason = metav1.ConditionUnknown, csv1alpha1.EvaluationFailedReason
			c.Message = text.Truncate("spec.signals."+fieldName+": "+err.Error(), MaxMessage)
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
	case step.Overdue:
		risk.Status, risk.Reason = metav1.ConditionTrue, csv1alpha1.StageOverdueReason
		risk.Message = fmt.Sprintf("Stage %s outlived its maxDuration", step.Stage)
	case h.Band == csv1alpha1.BandRed:
		risk.Status, risk.Reason = metav1.ConditionTrue, csv1alpha1.RedBandReason
		risk.Message = fmt.Sprintf("Health score %d is Red", h.Score)
	}
	exp := signal(metav1.Condition{Type: csv1alpha1.ExpansionReadyCondition, Status: metav1.ConditionFalse,
		Reason: csv1alpha1.NoExpansionSignalReason, Message: "No expansion signal holds"},
		model.Expressions.Expansion, "expansion", csv1alpha1.ExpansionSignalReason)
	return []metav1.Condition{risk, exp}, failed
}

// timeOf returns the time of t, zero when t is nil.
func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// AtRisk reports whether an account's MRR counts as at risk, as a plan's
// status.mrrAtRisk sums it: its AtRisk condition is True or its band is
// Red.
func AtRisk(conditions []metav1.Condition, h *csv1alpha1.HealthStatus) bool {
	return meta.IsStatusConditionTrue(conditions, csv1alpha1.AtRiskCondition) ||
		(h != nil && h.Band == csv1alpha1.BandRed)
}
