package controllers

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// SuccessPlanReconciler validates SuccessPlans and reports their state.
type SuccessPlanReconciler struct {
	client.Client
	// Models is the compiled-plan cache shared with the account reconciler.
	Models *PlanModels
	// Collectors pull the sources of valid plans; nil runs none.
	Collectors *Collectors
	// Clock is the time source of the KPI period.
	Clock clock.PassiveClock
	// Concurrency bounds parallel reconciles.
	Concurrency int
}

// +kubebuilder:rbac:groups=customersuccess.dev,resources=successplans,verbs=get;list;watch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=successplans/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile validates what admission cannot (every measure names a source of
// the right kind, every CEL expression compiles against the plan's
// variables), sets Valid and Ready, runs the plan's collector, and sums up
// its accounts: counts, MRR, MRR at risk and KPIs. Status is written only
// when it changed.
func (r *SuccessPlanReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	plan := &csv1alpha1.SuccessPlan{}
	if err := r.Get(ctx, req.NamespacedName, plan); err != nil {
		if apierrors.IsNotFound(err) {
			r.Models.Forget(req.NamespacedName)
			if r.Collectors != nil {
				r.Collectors.Stop(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := plan.DeepCopy()

	model := r.Models.Get(plan)
	plan.Status.ObservedGeneration = plan.Generation
	pending, err := r.reconcilePortfolio(ctx, plan, r.Clock.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	setPlanConditions(plan, model, pending)

	if err := patchStatus(ctx, r.Client, before, plan, before.Status, plan.Status, true); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
		}
		return ctrl.Result{}, err
	}
	if r.Collectors != nil {
		if model.Valid() {
			r.Collectors.Ensure(plan)
		} else {
			r.Collectors.Stop(req.NamespacedName)
		}
	}
	if !model.Valid() {
		if before.Status.ObservedGeneration != plan.Generation {
			// Reported once per generation; nothing retries a bad spec but
			// a new generation.
			return ctrl.Result{}, reconcile.TerminalError(model.Errors.ToAggregate())
		}
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: kpiRefresh}, nil
}

// setPlanConditions sets Valid from the model, Stalled while it is not
// valid, Reconciling while pending accounts are not yet evaluated with the
// plan's generation, and Ready as their summary.
func setPlanConditions(plan *csv1alpha1.SuccessPlan, model *PlanModel, pending int32) {
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
	case !model.Valid():
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, csv1alpha1.InvalidSpecReason, errorListMessage(model)
		ready.Status, ready.Reason, ready.Message = valid.Status, valid.Reason, valid.Message
		set(metav1.Condition{Type: csv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: valid.Reason, Message: valid.Message})
	case pending > 0:
		msg := fmt.Sprintf("%d accounts not yet evaluated with generation %d", pending, plan.Generation)
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, csv1alpha1.ProgressingReason, msg
		set(metav1.Condition{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ProgressingReason, Message: msg})
	}
	set(valid)
	set(ready)
}

// maxMessage bounds condition messages well under the API's 32768 limit.
const maxMessage = 4096

// errorListMessage joins a model's errors into one condition message.
func errorListMessage(model *PlanModel) string {
	parts := make([]string, 0, len(model.Errors))
	for _, e := range model.Errors {
		parts = append(parts, e.Error())
	}
	return truncate(strings.Join(parts, "; "), maxMessage)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// SetupWithManager registers the reconciler with the manager.
func (r *SuccessPlanReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&csv1alpha1.SuccessPlan{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&csv1alpha1.CustomerAccount{}, &enqueuePlansLater{client: mgr.GetClient()}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrency}).
		Named("successplan").
		Complete(r)
}
