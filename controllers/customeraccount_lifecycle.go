package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/lifecycle"
)

// maxActions bounds status.actions, as the API does.
const maxActions = 256

// reconcileStage runs the stage machine: it sets status.stage,
// stageEnteredAt and objectives, and appends each transition to the
// history with an Event (or, without a transition, a band change the
// health step found). It records whether the stage is overdue, the
// expressions that failed, and when the result changes by itself.
func (r *CustomerAccountReconciler) reconcileStage(_ context.Context, s *accountScope) (bool, error) {
	acct := s.acct
	vars := func(stage string, enteredAt time.Time) map[string]any {
		return lifecycle.Vars(lifecycle.Input{Account: acct, MRR: s.mrr, Health: acct.Status.Health,
			Stage: stage, StageEnteredAt: enteredAt, Now: s.now})
	}
	cur := lifecycle.State{Stage: acct.Status.Stage, EnteredAt: timeOf(acct.Status.StageEnteredAt), Objectives: acct.Status.Objectives}
	step := lifecycle.Advance(s.plan.Spec.Stages, s.model.Expressions, cur, kpi.Churned(acct.Spec.Contract.Revenue, s.now), vars, s.now)
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
	return false, nil
}

// reconcileActions records the actions of the current stage visit that
// are due, then delivers the pending webhooks. Before any attempt, a claim
// write carries the resourceVersion read (optimistic lock) and the new
// Pending entries with their idempotency keys: a copy older than the
// latest status (a cache that has not seen the last delivery) fails the
// claim with errStaleCopy and sends nothing, and a restart never skips an
// action nor sends it under a new key. It records when an action next
// becomes due or retries, and whether an attempt was made.
func (r *CustomerAccountReconciler) reconcileActions(ctx context.Context, s *accountScope) (bool, error) {
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

	due := r.dueAttempts(acct, plan, now, &s.next)
	if len(due) == 0 {
		return false, nil
	}
	if err := r.claim(ctx, s.before, acct); err != nil {
		return true, err
	}
	// The claim stored acct: it is the base of the outcome's write.
	s.before, s.delivered = acct.DeepCopy(), true
	for _, i := range due {
		r.attempt(ctx, acct, plan, i, now, &s.next)
	}
	return false, nil
}

// errStaleCopy means the account read is older than the stored one: the
// reconcile must re-read it, never act on it.
var errStaleCopy = errors.New("the account changed since it was read")

// claim writes the status computed so far with an optimistic lock, even
// when it did not change: the API server then checks that acct is the
// latest version before anything leaves the operator. On success acct
// holds the stored version.
func (r *CustomerAccountReconciler) claim(ctx context.Context, before, acct *csv1alpha1.CustomerAccount) error {
	err := r.Status().Patch(ctx, acct, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		return errStaleCopy
	}
	return err
}

// dueAttempts lists the Pending webhook entries whose next attempt is due,
// failing those whose action left the plan.
func (r *CustomerAccountReconciler) dueAttempts(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, now time.Time, next *time.Time) []int {
	var due []int
	for i := range acct.Status.Actions {
		e := &acct.Status.Actions[i]
		if e.State != csv1alpha1.ActionPending {
			continue
		}
		if a := actionOf(plan, e.Stage, e.Name); a == nil || a.Webhook == nil {
			e.State, e.At, e.Message = csv1alpha1.ActionFailed, lifecycle.Stamp(now), "action no longer in the plan"
			continue
		}
		at := timeOf(e.At)
		if e.Attempts > 0 {
			at = at.Add(r.backoff(e.Attempts))
		}
		if now.Before(at) {
			*next = earliest(*next, at)
			continue
		}
		due = append(due, i)
	}
	return due
}

// attempt makes one delivery attempt of entry i and records its outcome.
func (r *CustomerAccountReconciler) attempt(ctx context.Context, acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan,
	i int, now time.Time, next *time.Time) {
	e := &acct.Status.Actions[i]
	hook := actionOf(plan, e.Stage, e.Name).Webhook
	payload := actions.Payload{Key: e.Key, Account: acct.Name, Namespace: acct.Namespace, Plan: plan.Name,
		Stage: e.Stage, Action: e.Name, At: timeOf(e.At)}
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
		e.State, e.Message = csv1alpha1.ActionFailed, truncate(err.Error(), 1024)
		r.event(acct, corev1.EventTypeWarning, csv1alpha1.ActionFailedReason, eventAction("Deliver", e.Name, e.Key), "Action %s failed after %d attempts: %s", e.Name, e.Attempts, e.Message)
	default:
		e.Message = truncate(err.Error(), 1024)
		*next = earliest(*next, now.Add(r.backoff(e.Attempts)))
	}
	if r.Metrics != nil {
		r.Metrics.ObserveDelivery(err == nil)
	}
}

// send reads the signing key and posts the payload.
func (r *CustomerAccountReconciler) send(ctx context.Context, ns string, hook *csv1alpha1.Webhook, p actions.Payload) error {
	var key []byte
	if hook.SecretRef != nil {
		secret := &corev1.Secret{}
		if err := r.Secrets.Get(ctx, types.NamespacedName{Namespace: ns, Name: hook.SecretRef.Name}, secret); err != nil {
			return fmt.Errorf("secret %s: %s", hook.SecretRef.Name, reasonOf(err))
		}
		if key = secret.Data["key"]; len(key) == 0 {
			return fmt.Errorf("secret %s has no key \"key\"", hook.SecretRef.Name)
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
	return truncate(verb+"/"+strings.Join(parts, "/"), 128)
}

// event records an Event when a recorder is set.
func (r *CustomerAccountReconciler) event(obj client.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

// recordDue records the due actions of one stage visit as Pending (or
// Delivered for Event-only actions), with an Event each, and returns when
// the next one becomes due. immediateOnly skips delayed actions.
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
			next = earliest(next, due)
			continue
		}
		entry := csv1alpha1.ActionStatus{Name: a.Name, Stage: stage.Name, Key: key,
			State: csv1alpha1.ActionPending, At: lifecycle.Stamp(now)}
		if a.Webhook == nil {
			entry.State = csv1alpha1.ActionDelivered
		}
		acct.Status.Actions = appendAction(acct.Status.Actions, entry)
		r.event(acct, corev1.EventTypeNormal, csv1alpha1.ActionTriggeredReason, eventAction("Trigger", a.Name, key),
			"Action %s of stage %s is due (key %s)", a.Name, stage.Name, key)
	}
	return next
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
