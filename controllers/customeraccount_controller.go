package controllers

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/collect"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/health"
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
	Collectors *collect.Collectors
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder
	// Changed carries the accounts whose values a collector changed.
	Changed <-chan event.GenericEvent
	// Metrics observes evaluations; nil records none.
	Metrics Observer
	// Concurrency bounds parallel reconciles.
	Concurrency int
}

// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts/status,verbs=get;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs the account's steps over one scope, then computes the
// conditions and patches status once, in a deferred summary that also runs
// when a step stops early. It requeues at the next moment the result
// changes by itself.
func (r *CustomerAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	acct := &csv1alpha1.CustomerAccount{}
	if err := r.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &accountScope{acct: acct, patcher: newStatusPatcher(r.Client, acct), now: r.Clock.Now()}
	defer func() { result, retErr = r.summarizeAndPatch(ctx, s, retErr) }()

	if acct.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	for _, step := range accountSteps {
		next, err := step(r, ctx, s)
		if err != nil || next == stop {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// accountStep is one step of an account reconcile: it reads and fills the
// scope, and says how the reconcile goes on. Only reads of the API fail;
// whatever a step finds wrong with the account is recorded in the scope.
type accountStep func(*CustomerAccountReconciler, context.Context, *accountScope) (stepResult, error)

// accountSteps are the steps of an account reconcile, in order.
var accountSteps = []accountStep{
	(*CustomerAccountReconciler).reconcileRevenue, (*CustomerAccountReconciler).reconcilePlan,
	(*CustomerAccountReconciler).reconcileHealth, (*CustomerAccountReconciler).reconcileStage,
	(*CustomerAccountReconciler).reconcileSignals, (*CustomerAccountReconciler).reconcileDueActions,
}

// stepResult says how a reconcile goes on after a step.
type stepResult int

const (
	// proceed runs the next step.
	proceed stepResult = iota
	// stop skips the remaining steps: nothing more can be evaluated.
	stop
)

// accountScope is what one reconcile of an account reads and what its
// steps find, in the order they run.
type accountScope struct {
	acct    *csv1alpha1.CustomerAccount
	patcher *statusPatcher
	now     time.Time

	mrr *big.Rat
	// accountVar is the account's expression variable (see account).
	accountVar map[string]any
	plan       *csv1alpha1.SuccessPlan
	model      *evaluate.Model
	// health is the health step's result; nil when it did not run.
	health *health.Result
	// bandChanged: the health step moved the band.
	bandChanged bool
	// stage is the stage machine's result; visit is when the stage the
	// account was in before it was entered (zero when it had none).
	stage lifecycle.Step
	visit time.Time
	// signals are AtRisk and ExpansionReady; nil when not evaluated.
	signals []metav1.Condition
	// failed are the plan expressions that failed at run time.
	failed field.ErrorList
	// next is when the result changes by itself; zero when never.
	next time.Time
	// events are recorded once the status they report is stored.
	events []*accountEvent
	// out is what Ready, Stalled and Reconciling will say.
	out outcome
}

// requeueAt records a moment at which the result changes by itself.
func (s *accountScope) requeueAt(t time.Time) { s.next = health.Earliest(s.next, t) }

// record adds an Event to those recorded once the status is stored.
func (s *accountScope) record(ev *accountEvent) { s.events = append(s.events, ev) }

// summarizeAndPatch computes the conditions from the scope and writes
// status once, when it changed. The write carries the resourceVersion read
// (optimistic lock), so that a reconcile from a cache that has not seen
// the last write (its own, or a delivery outcome the dispatcher recorded)
// fails instead of overwriting it; a conflict means re-read soon. Once the
// status is stored, the evaluation's Events are recorded and its Pending
// deliveries go to the dispatcher: a conflict records no Event, so the
// evaluation that stores the transition records it once. A step's
// transient error is returned without a write: nothing trustworthy was
// computed.
func (r *CustomerAccountReconciler) summarizeAndPatch(ctx context.Context, s *accountScope, err error) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	summarize(s)
	if perr := s.patcher.patch(ctx, s.acct); perr != nil {
		if apierrors.IsConflict(perr) {
			return ctrl.Result{RequeueAfter: staleCopyRetry}, nil
		}
		return ctrl.Result{}, perr
	}
	for _, ev := range s.events {
		ev.record(r.Recorder, s.acct)
	}
	if s.acct.Spec.Suspend || s.next.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(s.next.Sub(s.now), time.Second)}, nil
}

// staleCopyRetry is how soon a reconcile that read a stale copy of the
// account runs again: the informer catches up within milliseconds.
const staleCopyRetry = 200 * time.Millisecond

// reconcileRevenue sets status.mrr from the ledger as of now and the
// moment the ledger next changes it. A ledger the operator cannot sum
// (below zero) stops the reconcile, stalled until the spec changes; the
// last MRR is kept.
func (r *CustomerAccountReconciler) reconcileRevenue(_ context.Context, s *accountScope) (stepResult, error) {
	mrr, next, err := kpi.MRR(s.acct.Spec.Contract.Revenue, s.now)
	if err != nil {
		s.out.fail(csv1alpha1.InvalidSpecReason, err.Error(), true)
		return stop, nil
	}
	s.mrr = mrr
	s.acct.Status.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(mrr, 6))
	s.requeueAt(next)
	return proceed, nil
}

// reconcilePlan resolves the account's plan into status.plan and the
// scope. It stops the reconcile when no plan can evaluate the account:
// NoPlan or PlanNotFound, or PlanInvalid (stalled until the plan changes;
// every last good value is kept). Only reading the plans can fail.
func (r *CustomerAccountReconciler) reconcilePlan(ctx context.Context, s *accountScope) (stepResult, error) {
	acct := s.acct
	plan, err := r.resolvePlan(ctx, acct)
	if err != nil {
		return stop, err
	}
	switch {
	case plan == nil && acct.Spec.SuccessPlanRef != nil:
		acct.Status.Plan = ""
		s.out.fail(csv1alpha1.PlanNotFoundReason,
			fmt.Sprintf("spec.successPlanRef.name: SuccessPlan %q not found", acct.Spec.SuccessPlanRef.Name), false)
		return stop, nil
	case plan == nil:
		acct.Status.Plan = ""
		s.out.fail(csv1alpha1.NoPlanReason,
			"No SuccessPlan selects this account; set spec.successPlanRef or label it for a plan's accountSelector", false)
		return stop, nil
	}
	acct.Status.Plan, s.out.plan = plan.Name, plan.Name
	model := r.Models.Get(plan)
	if !model.Valid() {
		s.out.fail(csv1alpha1.PlanInvalidReason,
			fmt.Sprintf("SuccessPlan %q is not valid: %s", plan.Name, model.Message()), true)
		return stop, nil
	}
	s.plan, s.model = plan, model
	return proceed, nil
}

// resolvePlan returns the account's plan, or nil when there is none. The
// plans are read from the cache without copies, each plan's selector
// compiled once per generation in its model; the plan returned is shared
// with the cache and only read.
func (r *CustomerAccountReconciler) resolvePlan(ctx context.Context, acct *csv1alpha1.CustomerAccount) (*csv1alpha1.SuccessPlan, error) {
	plans := &csv1alpha1.SuccessPlanList{}
	if err := r.List(ctx, plans, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return membership.Resolve(acct, plans.Items, func(p *csv1alpha1.SuccessPlan) membership.Selector {
		return r.Models.Get(p).Selector
	}), nil
}

// accountsOfPlanNamespace maps a plan event to every account of its
// namespace: any plan change can change which plan an account resolves to.
// It reads the informer cache without copies, which holds every account of
// a watched namespace and fails only for a namespace that is not watched.
func accountsOfPlanNamespace(cache client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []ctrl.Request {
		accts := &csv1alpha1.CustomerAccountList{}
		if err := cache.List(ctx, accts, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing accounts for plan", "plan", obj.GetName())
			return nil
		}
		reqs := make([]ctrl.Request, 0, len(accts.Items))
		for _, a := range accts.Items {
			reqs = append(reqs, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Name}})
		}
		return reqs
	}
}

// SetupWithManager registers the reconciler with the manager. Accounts are
// reconciled on spec or label changes (labels pick the plan), when a
// collector changed their values, and all accounts of a namespace when one
// of its plans is created, changed or deleted.
func (r *CustomerAccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// A reconcile's logger names the account by namespace and name; the
	// default adds an object reference as well, encoded by reflection for
	// every reconcile, a cost a fleet's cold start notices.
	log := mgr.GetLogger().WithValues("controller", "customeraccount",
		"controllerGroup", csv1alpha1.GroupVersion.Group, "controllerKind", "CustomerAccount")
	return ctrl.NewControllerManagedBy(mgr).
		For(&csv1alpha1.CustomerAccount{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&csv1alpha1.SuccessPlan{}, handler.EnqueueRequestsFromMapFunc(accountsOfPlanNamespace(mgr.GetCache())),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.Changed, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrency}).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return log
			}
			return log.WithValues("namespace", req.Namespace, "name", req.Name)
		}).
		Named("customeraccount").
		Complete(r)
}
