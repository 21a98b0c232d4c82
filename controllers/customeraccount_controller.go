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
	"k8s.io/apimachinery/pkg/util/validation/field"
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

// Reconcile runs the account's steps over one scope, then patches status
// once, in a deferred summary that also runs when a step stops early. It
// requeues at the next moment the result changes by itself.
func (r *CustomerAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	acct := &csv1alpha1.CustomerAccount{}
	if err := r.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &accountScope{acct: acct, before: acct.DeepCopy(), now: r.Clock.Now()}
	defer func() { result, retErr = r.summarizeAndPatch(ctx, s, retErr) }()

	if acct.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	steps := []func(context.Context, *accountScope) (bool, error){
		r.reconcileRevenue, r.reconcilePlan, r.reconcileHealth, r.reconcileStage, r.reconcileSignals, r.reconcileActions,
	}
	for _, step := range steps {
		if stop, err := step(ctx, s); stop || err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// accountScope is what one reconcile of an account reads and what its
// steps find, in the order they run.
type accountScope struct {
	acct *csv1alpha1.CustomerAccount
	// before is the base of the status patch: the account as read, or as
	// stored by the claim that preceded a delivery.
	before *csv1alpha1.CustomerAccount
	now    time.Time

	mrr   *big.Rat
	plan  *csv1alpha1.SuccessPlan
	model *PlanModel
	// bandChanged: the health step moved the band.
	bandChanged bool
	// stage is the stage machine's result.
	stage lifecycle.Step
	// failed are the plan expressions that failed at run time.
	failed field.ErrorList
	// next is when the result changes by itself; zero when never.
	next time.Time
	// delivered: a webhook was attempted after a successful claim.
	delivered bool
	// out is what Ready, Stalled and Reconciling will say.
	out outcome
}

// requeueAt records a moment at which the result changes by itself.
func (s *accountScope) requeueAt(t time.Time) { s.next = earliest(s.next, t) }

// summarizeAndPatch sets the summary conditions from the scope and writes
// status once, when it changed. The write carries the resourceVersion read
// (optimistic lock), so that a reconcile from a cache that has not seen
// the last write fails instead of overwriting it; a stale copy or a
// conflict means re-read soon, never act. Right after a delivery, whose
// claim proved the copy current, the outcome is written without the lock,
// so that a concurrent spec edit cannot make the operator forget it. A
// step's transient error (no step fails after a delivery) is returned
// without a write: nothing trustworthy was computed.
func (r *CustomerAccountReconciler) summarizeAndPatch(ctx context.Context, s *accountScope, err error) (ctrl.Result, error) {
	if errors.Is(err, errStaleCopy) {
		return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var result ctrl.Result
	if s.acct.Spec.Suspend {
		setSuspended(s.acct)
	} else {
		setReadiness(s.acct, s.out)
		if !s.next.IsZero() {
			result.RequeueAfter = max(s.next.Sub(s.now), time.Second)
		}
	}
	s.acct.Status.ObservedGeneration = s.acct.Generation
	if perr := patchStatus(ctx, r.Client, s.before, s.acct, s.before.Status, s.acct.Status, !s.delivered); perr != nil {
		if apierrors.IsConflict(perr) {
			return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
		}
		return ctrl.Result{}, perr
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

// reconcileSignals evaluates the plan's atRisk and expansion signals into
// AtRisk and ExpansionReady, and turns every expression that failed at run
// time into Ready=False, EvaluationFailed, naming the fields.
func (r *CustomerAccountReconciler) reconcileSignals(_ context.Context, s *accountScope) (bool, error) {
	acct := s.acct
	vars := lifecycle.Vars(lifecycle.Input{Account: acct, MRR: s.mrr, Health: acct.Status.Health, Now: s.now,
		Stage: acct.Status.Stage, StageEnteredAt: timeOf(acct.Status.StageEnteredAt)})
	s.failed = append(s.failed, setSignals(acct, s.model, vars, s.stage.Overdue)...)
	if len(s.failed) > 0 {
		s.out.fail(csv1alpha1.EvaluationFailedReason, s.failed.ToAggregate().Error(), false)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveEvaluation(len(s.failed) == 0)
	}
	return false, nil
}

// reconcileRevenue sets status.mrr from the ledger as of now and the
// moment the ledger next changes it. A ledger the operator cannot sum
// (below zero) stops the reconcile, stalled until the spec changes; the
// last MRR is kept.
func (r *CustomerAccountReconciler) reconcileRevenue(_ context.Context, s *accountScope) (bool, error) {
	mrr, next, err := kpi.MRR(s.acct.Spec.Contract.Revenue, s.now)
	if err != nil {
		s.out.fail(csv1alpha1.InvalidSpecReason, err.Error(), true)
		return true, nil
	}
	s.mrr = mrr
	s.acct.Status.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(mrr, 6))
	s.requeueAt(next)
	return false, nil
}

// earliest returns the earlier of two moments, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// reconcilePlan resolves the account's plan into status.plan and the
// scope. It stops the reconcile when no plan can evaluate the account:
// NoPlan or PlanNotFound, or PlanInvalid (stalled until the plan changes;
// every last good value is kept). Only reading the plans can fail.
func (r *CustomerAccountReconciler) reconcilePlan(ctx context.Context, s *accountScope) (bool, error) {
	acct := s.acct
	plan, err := r.resolvePlan(ctx, acct)
	if err != nil {
		return true, err
	}
	switch {
	case plan == nil && acct.Spec.SuccessPlanRef != nil:
		acct.Status.Plan = ""
		s.out.fail(csv1alpha1.PlanNotFoundReason,
			fmt.Sprintf("spec.successPlanRef.name: SuccessPlan %q not found", acct.Spec.SuccessPlanRef.Name), false)
		return true, nil
	case plan == nil:
		acct.Status.Plan = ""
		s.out.fail(csv1alpha1.NoPlanReason,
			"No SuccessPlan selects this account; set spec.successPlanRef or label it for a plan's accountSelector", false)
		return true, nil
	}
	acct.Status.Plan, s.out.plan = plan.Name, plan.Name
	model := r.Models.Get(plan)
	if !model.Valid() {
		s.out.fail(csv1alpha1.PlanInvalidReason,
			fmt.Sprintf("SuccessPlan %q is not valid: %s", plan.Name, errorListMessage(model)), true)
		return true, nil
	}
	s.plan, s.model = plan, model
	return false, nil
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
