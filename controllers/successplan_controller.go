package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/collect"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/portfolio"
)

// SuccessPlanReconciler validates SuccessPlans and reports their state.
type SuccessPlanReconciler struct {
	client.Client
	// Models is the compiled-plan cache shared with the account reconciler.
	Models *PlanModels
	// Collectors pull the sources of valid plans; nil runs none.
	Collectors *collect.Collectors
	// Book keeps the plans' portfolios up to date from account events.
	Book *portfolio.Book
	// Clock is the time source of the KPI period.
	Clock clock.PassiveClock
	// Concurrency bounds parallel reconciles.
	Concurrency int
}

// +kubebuilder:rbac:groups=customersuccess.dev,resources=successplans,verbs=get;list;watch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=successplans/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile runs the plan's steps over one scope, then computes the
// conditions and patches status once, in a deferred summary that also runs
// when a step fails. A deleted plan is forgotten: its model, collector,
// collected values and metrics.
func (r *SuccessPlanReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	plan := &csv1alpha1.SuccessPlan{}
	if err := r.Get(ctx, req.NamespacedName, plan); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &planScope{plan: plan, patcher: newStatusPatcher(r.Client, plan), now: r.Clock.Now(),
		newGeneration: plan.Status.ObservedGeneration != plan.Generation}
	defer func() { result, retErr = r.summarizeAndPatch(ctx, s, retErr) }()

	for _, step := range []planStep{r.reconcileModel, r.reconcileCollector, r.reconcilePortfolio} {
		if err := step(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// planStep is one step of a plan reconcile. Only reads of the API fail; a
// failed step is retried with backoff, and no status is written.
type planStep func(context.Context, *planScope) error

// planScope is what one reconcile of a plan reads and what its steps find.
type planScope struct {
	plan    *csv1alpha1.SuccessPlan
	patcher *statusPatcher
	now     time.Time
	// newGeneration: the status does not describe this generation yet.
	newGeneration bool

	model *evaluate.Model
	// pending counts the accounts not yet evaluated with this generation.
	pending int32
}

// reconcileModel compiles the plan (once per generation, in the shared
// cache) and checks what admission cannot: every measure names a source of
// the right kind, the selector parses, every CEL expression type-checks.
func (r *SuccessPlanReconciler) reconcileModel(_ context.Context, s *planScope) error {
	s.model = r.Models.Get(s.plan)
	return nil
}

// reconcileCollector runs a collector for a valid plan's generation, and
// stops the collector of an invalid one.
func (r *SuccessPlanReconciler) reconcileCollector(_ context.Context, s *planScope) error {
	switch {
	case r.Collectors == nil:
	case s.model.Valid():
		r.Collectors.Ensure(s.plan)
	default:
		r.Collectors.Stop(client.ObjectKeyFromObject(s.plan))
	}
	return nil
}

// forget drops everything kept for a deleted plan.
func (r *SuccessPlanReconciler) forget(key types.NamespacedName) {
	r.Models.Forget(key)
	if r.Collectors != nil {
		r.Collectors.Stop(key)
	}
}

// summarizeAndPatch computes the conditions from the scope and writes
// status when it changed, with an optimistic lock: a stale copy means
// re-read soon. An invalid plan is reported as a terminal error once per
// generation (only a new generation can help); a valid one is recounted
// every kpiRefresh, as its KPIs move with time.
func (r *SuccessPlanReconciler) summarizeAndPatch(ctx context.Context, s *planScope, err error) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	summarizePlan(s)
	if err := s.patcher.patch(ctx, s.plan); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
		}
		return ctrl.Result{}, err
	}
	switch {
	case s.model.Valid():
		return ctrl.Result{RequeueAfter: kpiRefresh}, nil
	case s.newGeneration:
		return ctrl.Result{}, reconcile.TerminalError(s.model.Errors.ToAggregate())
	default:
		return ctrl.Result{}, nil
	}
}

// SetupWithManager registers the reconciler with the manager.
func (r *SuccessPlanReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&csv1alpha1.SuccessPlan{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&csv1alpha1.CustomerAccount{}, bookAccounts{book: r.Book}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrency}).
		Named("successplan").
		Complete(r)
}
