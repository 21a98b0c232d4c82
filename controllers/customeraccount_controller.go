package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/membership"
	"customersuccess.dev/success-operator/internal/sources"
)

// CustomerAccountReconciler evaluates CustomerAccounts against their plan.
type CustomerAccountReconciler struct {
	client.Client
	// Models is the compiled-plan cache shared with the plan reconciler.
	Models *PlanModels
	// Clock is the time source; tests inject a fake.
	Clock clock.PassiveClock
	// Store holds the collectors' latest values.
	Store *sources.Store
	// Collectors are woken for accounts they have not pulled yet; nil in
	// tests that drive the reconciler directly.
	Collectors *Collectors
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder
	// Changed carries the accounts whose values a collector changed.
	Changed <-chan event.GenericEvent
	// Secrets reads webhook signing keys with a direct get.
	Secrets client.Reader
	// Sender delivers webhooks through the outbound guard.
	Sender *actions.Sender
	// Backoff overrides the retry backoff of webhooks; nil means
	// actions.Backoff.
	Backoff func(failedAttempts int32) time.Duration
	// Metrics observes evaluations and deliveries; nil records none.
	Metrics Observer
	// Concurrency bounds parallel reconciles.
	Concurrency int
}

// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile resolves the account's plan, computes its MRR, evaluates it
// against the plan (health, stage, signals, actions) and writes status
// once, only when it changed. It requeues at the next moment the result
// changes by itself.
func (r *CustomerAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	acct := &csv1alpha1.CustomerAccount{}
	if err := r.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := acct.DeepCopy()
	now := r.Clock.Now()

	var result ctrl.Result
	// lock: the status write carries the resourceVersion read, so that a
	// reconcile working from a cache that has not seen the last write
	// fails instead of overwriting it. Right after a delivery, whose claim
	// proved the copy current, the outcome is written without it, so that
	// a concurrent spec edit cannot make the operator forget a delivery.
	lock := true
	if acct.Spec.Suspend {
		setSuspended(acct)
	} else {
		var out outcome
		mrr, next, err := r.reconcileRevenue(acct, now)
		if err != nil {
			out.fail(csv1alpha1.InvalidSpecReason, err.Error(), true)
		} else {
			plan, model, err := r.reconcilePlan(ctx, acct, &out)
			if err != nil {
				return ctrl.Result{}, err
			}
			if plan != nil {
				evalNext, delivered, err := r.evaluate(ctx, acct, &before, plan, model, mrr, now, &out)
				if errors.Is(err, errStaleCopy) {
					return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
				}
				if err != nil {
					return ctrl.Result{}, err
				}
				lock = !delivered
				next = earliest(next, evalNext)
			}
			if !next.IsZero() {
				result.RequeueAfter = max(next.Sub(now), time.Second)
			}
		}
		setReadiness(acct, out)
	}
	acct.Status.ObservedGeneration = acct.Generation
	if err := patchStatus(ctx, r.Client, before, acct, before.Status, acct.Status, lock); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
		}
		return ctrl.Result{}, err
	}
	return result, nil
}

// staleCopyRetry is how soon a reconcile that read a stale copy of the
// account runs again: the informer catches up within milliseconds.
const staleCopyRetry = 200 * time.Millisecond

// outcome is what a reconcile learned about the account's readiness;
// setReadiness turns it into Ready, Stalled and Reconciling.
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
		o.reason, o.message, o.stalled = reason, truncate(message, maxMessage), stalled
	}
}

// setReadiness sets Ready (the summary), Stalled and Reconciling from the
// outcome, kstatus-style: Stalled and Reconciling are present only while
// True.
func setReadiness(acct *csv1alpha1.CustomerAccount, out outcome) {
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
		meta.RemoveStatusCondition(&acct.Status.Conditions, csv1alpha1.StalledCondition)
	}
	if out.reason == "" && out.waiting != "" {
		setCondition(acct, metav1.Condition{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue,
			Reason: csv1alpha1.ProgressingReason, Message: out.waiting})
	} else {
		meta.RemoveStatusCondition(&acct.Status.Conditions, csv1alpha1.ReconcilingCondition)
	}
}

// setSuspended says, in Ready, that the status is frozen: the values are
// the last ones evaluated, and nothing is in progress or stalled.
func setSuspended(acct *csv1alpha1.CustomerAccount) {
	setCondition(acct, metav1.Condition{Type: csv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: csv1alpha1.SuspendedReason, Message: "spec.suspend is true: evaluation stopped, status keeps its last values"})
	meta.RemoveStatusCondition(&acct.Status.Conditions, csv1alpha1.StalledCondition)
	meta.RemoveStatusCondition(&acct.Status.Conditions, csv1alpha1.ReconcilingCondition)
}

// evaluate runs the plan over the account: health, stage, signals, then
// actions. It returns when the result will next change by itself and
// whether a webhook was attempted; expressions that failed at run time are
// recorded in out.
func (r *CustomerAccountReconciler) evaluate(ctx context.Context, acct *csv1alpha1.CustomerAccount, before **csv1alpha1.CustomerAccount,
	plan *csv1alpha1.SuccessPlan, model *PlanModel, mrr *big.Rat, now time.Time, out *outcome) (time.Time, bool, error) {
	next, bandChanged, failed := r.reconcileHealth(acct, plan, model, mrr, now, out)
	step := r.reconcileStage(acct, plan, model, mrr, now)
	next = earliest(next, step.NextChange)
	if bandChanged && len(step.Transitions) == 0 {
		// A stage transition's entry already carries the new band.
		h := acct.Status.Health
		acct.Status.History = appendHistory(acct.Status.History, csv1alpha1.HistoryEntry{
			At: *lifecycle.Stamp(now), Score: h.Score, Band: h.Band, Stage: acct.Status.Stage})
	}
	vars := lifecycle.Vars(lifecycle.Input{Account: acct, MRR: mrr, Health: acct.Status.Health, Now: now,
		Stage: acct.Status.Stage, StageEnteredAt: timeOf(acct.Status.StageEnteredAt)})
	failed = append(failed, step.Errors...)
	failed = append(failed, setSignals(acct, model, vars, step.Overdue)...)
	if len(failed) > 0 {
		out.fail(csv1alpha1.EvaluationFailedReason, failed.ToAggregate().Error(), false)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveEvaluation(len(failed) == 0)
	}
	actNext, delivered, err := r.reconcileActions(ctx, acct, before, plan, step.Transitions, now)
	return earliest(next, actNext), delivered, err
}

// reconcileRevenue sets status.mrr from the ledger as of now and returns
// when the ledger will next change it (zero when never). A ledger the API
// should have rejected returns an error and keeps the last MRR.
func (r *CustomerAccountReconciler) reconcileRevenue(acct *csv1alpha1.CustomerAccount, now time.Time) (*big.Rat, time.Time, error) {
	mrr, next, err := kpi.MRR(acct.Spec.Contract.Revenue, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	acct.Status.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(mrr, 6))
	return mrr, next, nil
}

// earliest returns the earlier of two moments, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// reconcilePlan resolves the account's plan into status.plan and records
// in out why it cannot be evaluated: NoPlan or PlanNotFound without a
// plan, PlanInvalid (stalled until the plan changes) when the plan is not
// Valid. It returns the plan and its model only when the plan can
// evaluate the account, and only transient errors.
func (r *CustomerAccountReconciler) reconcilePlan(ctx context.Context, acct *csv1alpha1.CustomerAccount, out *outcome) (*csv1alpha1.SuccessPlan, *PlanModel, error) {
	plan, err := r.resolvePlan(ctx, acct)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case plan == nil && acct.Spec.SuccessPlanRef != nil:
		acct.Status.Plan = ""
		out.fail(csv1alpha1.PlanNotFoundReason,
			fmt.Sprintf("spec.successPlanRef.name: SuccessPlan %q not found", acct.Spec.SuccessPlanRef.Name), false)
	case plan == nil:
		acct.Status.Plan = ""
		out.fail(csv1alpha1.NoPlanReason,
			"No SuccessPlan selects this account; set spec.successPlanRef or label it for a plan's accountSelector", false)
	default:
		acct.Status.Plan, out.plan = plan.Name, plan.Name
		model := r.Models.Get(plan)
		if !model.Valid() {
			// Keep every last good value: only Ready and Stalled say the
			// plan is broken.
			out.fail(csv1alpha1.PlanInvalidReason,
				fmt.Sprintf("SuccessPlan %q is not valid: %s", plan.Name, errorListMessage(model)), true)
			return nil, nil, nil
		}
		return plan, model, nil
	}
	return nil, nil, nil
}

// resolvePlan returns the account's plan, or nil when there is none.
func (r *CustomerAccountReconciler) resolvePlan(ctx context.Context, acct *csv1alpha1.CustomerAccount) (*csv1alpha1.SuccessPlan, error) {
	plans := &csv1alpha1.SuccessPlanList{}
	if err := r.List(ctx, plans, client.InNamespace(acct.Namespace)); err != nil {
		return nil, err
	}
	return membership.Resolve(acct, plans.Items), nil
}

// accountsOfPlanNamespace maps a plan event to every account of its
// namespace: any plan change can change which plan an account resolves to.
func (r *CustomerAccountReconciler) accountsOfPlanNamespace(ctx context.Context, obj client.Object) []ctrl.Request {
	accts := &csv1alpha1.CustomerAccountList{}
	if err := r.List(ctx, accts, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing accounts for plan", "plan", obj.GetName())
		return nil
	}
	reqs := make([]ctrl.Request, 0, len(accts.Items))
	for _, a := range accts.Items {
		reqs = append(reqs, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Name}})
	}
	return reqs
}

// SetupWithManager registers the reconciler with the manager. Accounts are
// reconciled on spec or label changes (labels pick the plan), when a
// collector changed their values, and all accounts of a namespace when one
// of its plans is created, changed or deleted.
func (r *CustomerAccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&csv1alpha1.CustomerAccount{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&csv1alpha1.SuccessPlan{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfPlanNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.Changed, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrency}).
		Named("customeraccount").
		Complete(r)
}
