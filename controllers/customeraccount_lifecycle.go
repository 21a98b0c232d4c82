package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/text"
)

// maxActions bounds status.actions, as the API does. Status keeps far
// fewer (see compactActions): the bound holds when one evaluation passes
// through several stages, each recording its actions.
const maxActions = 64

// reconcileStage runs the stage machine (evaluate.Stage) over the health
// step's result: it sets status.stage, stageEnteredAt and objectives, and
// appends each transition to the history with an Event (or, without a
// transition, a band change the health step found). It records whether the
// stage is overdue, the expressions that failed, and when the result
// changes by itself.
func (r *CustomerAccountReconciler) reconcileStage(_ context.Context, s *accountScope) (stepResult, error) {
	acct := s.acct
	step := evaluate.Stage(s.account(), s.plan, s.model, s.health)
	s.stage = step
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
		eventType := corev1.EventTypeNormal
		if tr.To == csv1alpha1.StageChurned {
			eventType = corev1.EventTypeWarning
		}
		r.event(acct, eventType, tr.Reason, eventAction("Advance", tr.From, tr.To), "%s", tr.String())
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

// reconcileDueActions records the actions of the current stage visit
// that are due as Pending entries with their idempotency keys, and lists
// the webhook attempts due now. When there are any it asks for a
// checkpoint: the status computed so far is stored with an optimistic lock
// before anything leaves the operator (see accountScope.claim), so a stale
// copy sends nothing and a restart never skips an action nor sends it
// under a new key. It records when an action next becomes due or retries.
func (r *CustomerAccountReconciler) reconcileDueActions(_ context.Context, s *accountScope) (stepResult, error) {
	acct, plan, now := s.acct, s.plan, s.now
	passed := s.stage.Transitions
	// Stages entered and left within this evaluation still start their
	// immediate actions; their delayed ones ended with the visit.
	for i := 0; i+1 < len(passed); i++ {
		s.requeueAt(r.recordDue(acct, stageOf(plan, passed[i].To), passed[i].At, now, true))
	}
	if acct.Status.StageEnteredAt != nil {
		s.requeueAt(r.recordDue(acct, stageOf(plan, acct.Status.Stage), acct.Status.StageEnteredAt.Time, now, false))
	}
	s.due = r.dueAttempts(acct, plan, now, &s.next)
	if len(s.due) == 0 {
		return proceed, nil
	}
	return checkpoint, nil
}

// reconcileDeliveries makes one attempt of each due webhook, after the
// checkpoint, and records its outcome and when it retries.
func (r *CustomerAccountReconciler) reconcileDeliveries(ctx context.Context, s *accountScope) (stepResult, error) {
	for _, i := range s.due {
		r.attempt(ctx, s.acct, s.plan, i, s.now, &s.next)
	}
	return proceed, nil
}

// dueAttempts lists the Pending webhook entries whose next attempt is due,
// failing those whose action left the plan and skipping those due whose
// audience no longer matches a contact.
func (r *CustomerAccountReconciler) dueAttempts(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, now time.Time, next *time.Time) []int {
	var due []int
	for i := range acct.Status.Actions {
		e := &acct.Status.Actions[i]
		if e.State != csv1alpha1.ActionPending {
			continue
		}
		a := actionOf(plan, e.Stage, e.Name)
		if a == nil || a.Webhook == nil {
			e.State, e.At, e.Message = csv1alpha1.ActionFailed, lifecycle.Stamp(now), "action no longer in the plan"
			continue
		}
		at := timeOf(e.At)
		if e.Attempts > 0 {
			at = at.Add(r.backoff(e.Attempts))
		}
		if now.Before(at) {
			*next = health.Earliest(*next, at)
			continue
		}
		// The contacts may have changed since the entry was recorded.
		if r.skipUnreached(acct, e, a, now) {
			continue
		}
		due = append(due, i)
	}
	return due
}

// attempt makes one delivery attempt of entry i and records its outcome.
// The payload carries the contacts of the action's audience, taken from
// the account's spec.contacts now (dueAttempts skipped the entry if there
// are none). Contacts go into the payload only: never into status, an
// Event, a log line or a metric.
func (r *CustomerAccountReconciler) attempt(ctx context.Context, acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan,
	i int, now time.Time, next *time.Time) {
	e := &acct.Status.Actions[i]
	action := actionOf(plan, e.Stage, e.Name)
	hook := action.Webhook
	payload := actions.Payload{Key: e.Key, Account: acct.Name, Namespace: acct.Namespace, Plan: plan.Name,
		Stage: e.Stage, Action: e.Name, At: timeOf(e.At), Contacts: actions.Recipients(action.Audience, acct.Spec.Contacts)}
	if h := acct.Status.Health; h != nil && h.Band != "" {
		payload.Health = &actions.Health{Score: h.Score, Band: string(h.Band)}
	}
	err := r.send(ctx, acct.Namespace, hook, payload)
	e.Attempts++
	e.At = lifecycle.Stamp(now)
	switch {
	case err == nil:
		e.State, e.Message = csv1alpha1.ActionDelivered, ""
		r.event(acct, corev1.EventTypeNormal, csv1alpha1.ActionDeliveredReason, eventAction("Deliver", e.Name, e.Key), "Action %s delivered (key %s)", e.Name, e.Key)
	case e.Attempts >= actions.MaxAttempts:
		e.State, e.Message = csv1alpha1.ActionFailed, text.Truncate(err.Error(), 1024)
		r.event(acct, corev1.EventTypeWarning, csv1alpha1.ActionFailedReason, eventAction("Deliver", e.Name, e.Key), "Action %s failed after %d attempts: %s", e.Name, e.Attempts, e.Message)
	default:
		e.Message = text.Truncate(err.Error(), 1024)
		*next = health.Earliest(*next, now.Add(r.backoff(e.Attempts)))
	}
	if r.Metrics != nil {
		r.Metrics.ObserveDelivery(err == nil)
	}
}

// send reads the signing key and posts the payload.
func (r *CustomerAccountReconciler) send(ctx context.Context, ns string, hook *csv1alpha1.Webhook, p actions.Payload) error {
	var key []byte
	if hook.SecretRef != nil {
		var err error
		if key, err = outbound.SigningKey(ctx, r.Secrets, ns, hook.SecretRef.Name); err != nil {
			return err
		}
	}
	return r.Sender.Send(ctx, hook.URL, key, p)
}

func (r *CustomerAccountReconciler) backoff(attempts int32) time.Duration {
	if r.Backoff != nil {
		return r.Backoff(attempts)
	}
	return actions.Backoff(attempts)
}

// eventAction is the action of an Event: a verb and what it acted on. The
// event recorder merges Events of one object with the same reason and
// action into a series that keeps the first note, so the action carries
// what tells two transitions or deliveries apart.
func eventAction(verb string, parts ...string) string {
	return text.Truncate(verb+"/"+strings.Join(parts, "/"), 128)
}

// event records an Event when a recorder is set.
func (r *CustomerAccountReconciler) event(obj client.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

// recordDue records the due actions of one stage visit as Pending (or
// Delivered for Event-only actions), with an Event each, and returns when
// the next one becomes due. An action whose audience matches no contact is
// recorded Skipped instead (see skipUnreached). immediateOnly skips
// delayed actions.
func (r *CustomerAccountReconciler) recordDue(acct *csv1alpha1.CustomerAccount, stage *csv1alpha1.Stage,
	entered, now time.Time, immediateOnly bool) time.Time {
	var next time.Time
	if stage == nil {
		return next
	}
	for _, a := range stage.Actions {
		delayed := a.After != nil && a.After.Duration > 0
		if immediateOnly && delayed {
			continue
		}
		key := actions.Key(string(acct.UID), stage.Name, entered, a.Name)
		if actionIndex(acct.Status.Actions, key) >= 0 {
			continue
		}
		due := entered
		if delayed {
			due = entered.Add(a.After.Duration)
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
		skipped := r.skipUnreached(acct, &entry, &a, now)
		acct.Status.Actions = appendAction(acct.Status.Actions, entry)
		if skipped {
			continue
		}
		r.event(acct, corev1.EventTypeNormal, csv1alpha1.ActionTriggeredReason, eventAction("Trigger", a.Name, key),
			"Action %s of stage %s is due (key %s)", a.Name, stage.Name, key)
	}
	return next
}

// skipUnreached records entry e as Skipped, with an Event, when action a
// has an audience that matches none of the account's contacts, and
// reports whether it did. The message and the Event name the audience,
// never a contact.
func (r *CustomerAccountReconciler) skipUnreached(acct *csv1alpha1.CustomerAccount, e *csv1alpha1.ActionStatus,
	a *csv1alpha1.Action, now time.Time) bool {
	if a.Audience == nil || len(actions.Recipients(a.Audience, acct.Spec.Contacts)) > 0 {
		return false
	}
	e.State, e.At = csv1alpha1.ActionSkipped, lifecycle.Stamp(now)
	e.Message = text.Truncate("audience matches no contact ("+actions.DescribeAudience(a.Audience)+")", 1024)
	r.event(acct, corev1.EventTypeWarning, csv1alpha1.NoMatchingContactReason, eventAction("Skip", e.Name, e.Key),
		"Action %s of stage %s skipped: %s (key %s)", e.Name, e.Stage, e.Message, e.Key)
	return true
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
