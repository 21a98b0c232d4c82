package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/text"
)

// maxActions bounds status.actions, as the API does. Status keeps far
// fewer (see compactActions): the bound holds when one evaluation passes
// through several stages, each recording its actions.
const maxActions = 64

// reconcileStage runs the stage machine (evaluate.Stage) over the health
// step's result: it sets status.stage, stageEnteredAt and objectives, and
// appends each transition to the history with an Event, except the first
// placement (or, without a transition, a band change the health step
// found). It records whether the
// stage is overdue, the expressions that failed, and when the result
// changes by itself.
func (r *CustomerAccountReconciler) reconcileStage(_ context.Context, s *accountScope) (stepResult, error) {
	acct := s.acct
	step := evaluate.Stage(s.account(), s.plan, s.model, s.health)
	s.stage = step
	s.visit = timeOf(acct.Status.StageEnteredAt)
	s.failed = append(s.failed, step.Errors...)
	s.requeueAt(step.NextChange)

	acct.Status.Stage = step.Stage
	acct.Status.Objectives = step.Objectives
	if step.Stage == "" {
		acct.Status.StageEnteredAt = nil
	} else if len(step.Transitions) > 0 {
		t := metav1.NewTime(step.EnteredAt)
		acct.Status.StageEnteredAt = &t
	}
	h := acct.Status.Health
	if s.bandChanged && len(step.Transitions) == 0 {
		// A stage transition's entry already carries the new band.
		acct.Status.History = appendHistory(acct.Status.History, csv1alpha1.HistoryEntry{
			At: *lifecycle.Stamp(s.now), Score: h.Score, Band: h.Band, Stage: acct.Status.Stage})
	}
	for _, tr := range step.Transitions {
		entry := csv1alpha1.HistoryEntry{At: metav1.NewTime(tr.At), Stage: tr.To}
		if h != nil {
			entry.Score, entry.Band = h.Score, h.Band
		}
		acct.Status.History = appendHistory(acct.Status.History, entry)
		if tr.From == "" {
			// An account's first stage is a placement, not a transition a
			// person acts on: no Event.
			continue
		}
		eventType := corev1.EventTypeNormal
		if tr.To == csv1alpha1.StageChurned {
			eventType = corev1.EventTypeWarning
		}
		s.record(&accountEvent{eventType, tr.Reason, eventAction("Advance", tr.From, tr.To), tr.String()})
	}
	return proceed, nil
}

// reconcileSignals evaluates the plan's atRisk and expansion signals
// (evaluate.Signals) over the health and stage steps' results into the
// scope, and turns every expression that failed at run time, its own or an
// earlier step's, into Ready=False, EvaluationFailed, naming the fields.
func (r *CustomerAccountReconciler) reconcileSignals(_ context.Context, s *accountScope) (stepResult, error) {
	var failed field.ErrorList
	s.signals, failed = evaluate.Signals(s.account(), s.model, s.health, s.stage)
	s.failed = append(s.failed, failed...)
	if len(s.failed) > 0 {
		s.out.fail(csv1alpha1.EvaluationFailedReason, s.failed.ToAggregate().Error(), false)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveEvaluation(len(s.failed) == 0)
	}
	return proceed, nil
}

// reconcileDueActions records the actions that came due as Pending
// entries with their idempotency keys, and when the next one becomes due.
// An action is due when the stage visit that starts it is still current
// at its due time: the visit of the stage the account is in, and the
// visits this evaluation ended (a visit ends at the transition that
// leaves it). So a delayed action that came due while no manager ran,
// or while the plan was invalid, is still recorded when the evaluation
// that sees it also leaves its stage; one due after the visit ended never
// comes due. It sends nothing: the deferred status write stores the
// entries, and the delivery controller (see Dispatcher) sends the Pending
// ones, so a restart finds them and sends them under the same key, and
// the evaluation never waits on a receiver.
func (r *CustomerAccountReconciler) reconcileDueActions(_ context.Context, s *accountScope) (stepResult, error) {
	acct, plan, now := s.acct, s.plan, s.now
	passed := s.stage.Transitions
	if n := placement(passed); n > 0 {
		// The first evaluation placed the account: the stages before the
		// one it was placed in are behind the customer, and their actions
		// are not sent. Its walk goes on from there.
		skipPlacedPast(acct, plan, passed[n-1].To, passed[0].At, now)
		passed = passed[n-1:]
	} else if len(passed) > 0 && !s.visit.IsZero() {
		// The visit this evaluation ended.
		s.requeueAt(recordDue(s, stageOf(plan, passed[0].From), s.visit, passed[0].At, now))
	}
	// Stages entered and left within this evaluation: a visit of no
	// length starts its immediate actions only.
	for i := 0; i+1 < len(passed); i++ {
		s.requeueAt(recordDue(s, stageOf(plan, passed[i].To), passed[i].At, passed[i+1].At, now))
	}
	if acct.Status.StageEnteredAt != nil {
		s.requeueAt(recordDue(s, stageOf(plan, acct.Status.Stage), acct.Status.StageEnteredAt.Time, time.Time{}, now))
	}
	return proceed, nil
}

// eventAction is the action of an Event: a verb and what it acted on. The
// event recorder merges Events of one object with the same reason and
// action into a series that keeps the first note, so the action carries
// what tells two transitions or deliveries apart.
func eventAction(verb string, parts ...string) string {
	return text.Truncate(verb+"/"+strings.Join(parts, "/"), 128)
}

// recordDue records the due actions of one stage visit, entered at
// entered and ended at left (zero while it is current), as Pending (or
// Delivered for Event-only actions), with an Event each, and returns when
// the next one becomes due. An action whose audience matches no contact is
// recorded Skipped instead (see skipUnreached); one due after the visit
// ended is not due.
func recordDue(s *accountScope, stage *csv1alpha1.Stage, entered, left, now time.Time) time.Time {
	acct := s.acct
	var next time.Time
	if stage == nil {
		return next
	}
	for _, a := range stage.Actions {
		due := entered
		if a.After != nil {
			due = entered.Add(a.After.Duration)
		}
		if !left.IsZero() && due.After(left) {
			continue
		}
		key := actions.Key(string(acct.UID), stage.Name, entered, a.Name)
		if actionIndex(acct.Status.Actions, key) >= 0 {
			continue
		}
		if now.Before(due) {
			next = health.Earliest(next, due)
			continue
		}
		entry := csv1alpha1.ActionStatus{Name: a.Name, Stage: stage.Name, Key: key,
			State: csv1alpha1.ActionPending, At: lifecycle.Stamp(now)}
		if a.Webhook == nil {
			entry.State = csv1alpha1.ActionDelivered
		}
		skipped := skipUnreached(s, &entry, &a, now)
		acct.Status.Actions = appendAction(acct.Status.Actions, entry)
		if skipped {
			continue
		}
		s.record(&accountEvent{corev1.EventTypeNormal, csv1alpha1.ActionTriggeredReason, eventAction("Trigger", a.Name, key),
			fmt.Sprintf("Action %s of stage %s is due (key %s)", a.Name, stage.Name, key)})
	}
	return next
}

// placement is how many of an evaluation's transitions placed a new
// account: its first stage (the first stage, or its spec.initialStage)
// and the enterWhen jumps right after it. Zero when the account had a
// stage. Moves by exitWhen after them are a walk, not a placement.
func placement(passed []lifecycle.Transition) int {
	if len(passed) == 0 || passed[0].From != "" {
		return 0
	}
	n := 1
	for n < len(passed) && passed[n].Reason == csv1alpha1.StageJumpedReason {
		n++
	}
	return n
}

// skipPlacedPast records the actions of the plan's stages before placed,
// the stage a new account was placed in at placedAt (an imported
// customer, by its spec.initialStage or a later stage's enterWhen), as
// Skipped, reason Imported, without an Event: importing a customer base
// creates no Event per account.
func skipPlacedPast(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, placed string, placedAt, now time.Time) {
	at := slices.IndexFunc(plan.Spec.Stages, func(st csv1alpha1.Stage) bool { return st.Name == placed })
	for _, stage := range plan.Spec.Stages[:max(at, 0)] {
		for _, a := range stage.Actions {
			key := actions.Key(string(acct.UID), stage.Name, placedAt, a.Name)
			if actionIndex(acct.Status.Actions, key) >= 0 {
				continue
			}
			acct.Status.Actions = appendAction(acct.Status.Actions, csv1alpha1.ActionStatus{
				Name: a.Name, Stage: stage.Name, Key: key, State: csv1alpha1.ActionSkipped, At: lifecycle.Stamp(now),
				Reason: csv1alpha1.ImportedReason, Message: "placed in stage " + placed + " on its first evaluation"})
		}
	}
}

// skipUnreached records entry e as Skipped, with an Event, when action a
// has an audience that matches none of the account's contacts, and
// reports whether it did.
func skipUnreached(s *accountScope, e *csv1alpha1.ActionStatus, a *csv1alpha1.Action, now time.Time) bool {
	msg, ok := unreached(a, s.acct.Spec.Contacts)
	if !ok {
		return false
	}
	e.State, e.At, e.Reason, e.Message = csv1alpha1.ActionSkipped, lifecycle.Stamp(now), csv1alpha1.NoMatchingContactReason, msg
	s.record(skippedEvent(e, msg))
	return true
}

// unreached returns why action a reaches no one, when it has an audience
// that matches none of contacts. The message names the audience, never a
// contact.
func unreached(a *csv1alpha1.Action, contacts []csv1alpha1.Contact) (string, bool) {
	if a.Audience == nil || len(actions.Recipients(a.Audience, contacts)) > 0 {
		return "", false
	}
	return text.Truncate("audience matches no contact ("+actions.DescribeAudience(a.Audience)+")", 1024), true
}

func stageOf(plan *csv1alpha1.SuccessPlan, name string) *csv1alpha1.Stage {
	for i := range plan.Spec.Stages {
		if plan.Spec.Stages[i].Name == name {
			return &plan.Spec.Stages[i]
		}
	}
	return nil
}

func actionOf(plan *csv1alpha1.SuccessPlan, stage, name string) *csv1alpha1.Action {
	if s := stageOf(plan, stage); s != nil {
		for i := range s.Actions {
			if s.Actions[i].Name == name {
				return &s.Actions[i]
			}
		}
	}
	return nil
}

func actionIndex(list []csv1alpha1.ActionStatus, key string) int {
	for i := range list {
		if list[i].Key == key {
			return i
		}
	}
	return -1
}

// appendAction appends e, dropping the oldest finished entries beyond the
// bound; Pending entries are never dropped.
func appendAction(list []csv1alpha1.ActionStatus, e csv1alpha1.ActionStatus) []csv1alpha1.ActionStatus {
	list = append(list, e)
	for len(list) > maxActions {
		i := 0
		for i < len(list) && list[i].State == csv1alpha1.ActionPending {
			i++
		}
		if i == len(list) {
			break
		}
		list = append(list[:i], list[i+1:]...)
	}
	return list
}
