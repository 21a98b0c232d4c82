package controllers

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/membership"
)

// aggregationDelay is how long a plan waits after an account change before
// it recounts: a burst of account changes becomes one plan status write.
const aggregationDelay = 2 * time.Second

// kpiRefresh is how often a plan recomputes KPIs that move with time only
// (the period window slides by a day at a time).
const kpiRefresh = time.Hour

// reconcilePortfolio sets the plan's account counts, MRR, MRR at risk and
// KPIs from the accounts it manages, evaluates the targets against the
// KPIs, and counts the accounts not yet evaluated with the plan's current
// generation. An account whose ledger is invalid is left out of the sums
// (its own Stalled condition says why); a failure to sum the KPIs keeps
// the last ones, and the targets are judged against those. Only failures
// to read are returned, to be retried.
func (r *SuccessPlanReconciler) reconcilePortfolio(ctx context.Context, s *planScope) error {
	if err := r.reconcileKPIs(ctx, s); err != nil {
		return err
	}
	st := &s.plan.Status
	st.Targets = kpi.EvaluateTargets(s.plan.Spec.Targets, st.KPIs)
	st.TargetsMet = kpi.SummarizeTargets(st.Targets).MetOfTotal()
	return nil
}

// reconcileKPIs is reconcilePortfolio without the targets.
func (r *SuccessPlanReconciler) reconcileKPIs(ctx context.Context, s *planScope) error {
	plan, now := s.plan, s.now
	accts := &csv1alpha1.CustomerAccountList{}
	if err := r.List(ctx, accts, client.InNamespace(plan.Namespace)); err != nil {
		return err
	}
	plans := &csv1alpha1.SuccessPlanList{}
	if err := r.List(ctx, plans, client.InNamespace(plan.Namespace)); err != nil {
		return err
	}
	var pending int32
	st := &plan.Status
	// Every stage of the plan, and Churned, is counted, 0 included.
	st.Accounts, st.Stages, st.Bands = 0, make(map[string]int32, len(plan.Spec.Stages)+1), csv1alpha1.BandCounts{}
	for _, stage := range plan.Spec.Stages {
		st.Stages[stage.Name] = 0
	}
	st.Stages[csv1alpha1.StageChurned] = 0
	total, atRisk := new(big.Rat), new(big.Rat)
	inputs := make([]kpi.Account, 0, len(accts.Items))
	for _, a := range membership.Managed(plan, accts.Items, plans.Items) {
		st.Accounts++
		if awaitsEvaluation(a, plan.Generation) {
			pending++
		}
		if a.Status.Stage != "" {
			st.Stages[a.Status.Stage]++
		}
		if h := a.Status.Health; h != nil {
			st.Bands.Add(h.Band)
		}
		mrr, _, err := kpi.MRR(a.Spec.Contract.Revenue, now)
		if err != nil {
			continue
		}
		total.Add(total, mrr)
		if evaluate.AtRisk(a.Status.Conditions, a.Status.Health) {
			atRisk.Add(atRisk, mrr)
		}
		inputs = append(inputs, kpi.Account{Ledger: a.Spec.Contract.Revenue, Surveys: a.Spec.Signals.Surveys,
			AcquisitionCost: a.Spec.Contract.AcquisitionCost})
	}
	st.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(total, 2))
	st.MRRAtRisk = csv1alpha1.Decimal(kpi.FormatDecimal(atRisk, 2))
	period := plan.Spec.GetKPIPeriod()
	portfolio, err := kpi.Aggregate(inputs, now, period)
	s.pending = pending
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Keeping the last KPIs")
		return nil
	}
	var margin *big.Rat
	if plan.Spec.GrossMargin != "" {
		if margin, err = kpi.ParseDecimal(string(plan.Spec.GrossMargin)); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Keeping the last KPIs", "field", "spec.grossMargin")
			return nil
		}
	}
	kpis := kpi.Compute(portfolio, margin).Status(formatPeriod(period))
	st.KPIs = &kpis
	return nil
}

// awaitsEvaluation reports whether an account of the plan has not yet been
// evaluated with the plan's generation; suspended and stalled accounts
// wait for a spec change, not for the operator.
func awaitsEvaluation(a *csv1alpha1.CustomerAccount, generation int64) bool {
	if a.Spec.Suspend || meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.StalledCondition) {
		return false
	}
	return a.Status.Health == nil || a.Status.Health.PlanGeneration != generation
}

// formatPeriod writes whole hours as the plans do ("2160h").
func formatPeriod(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// enqueuePlansLater enqueues, after aggregationDelay, the plans an account
// event concerns: the plan named in the account's status before and after
// the change. An account that moves between plans names both; one that is
// new names its plan once the account reconciler has resolved it. No list
// is read, so nothing can fail, and the delaying queue merges the requests
// of a burst into one.
type enqueuePlansLater struct{}

func (enqueuePlansLater) enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	for _, obj := range objs {
		if a, ok := obj.(*csv1alpha1.CustomerAccount); ok && a.Status.Plan != "" {
			q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Status.Plan}}, aggregationDelay)
		}
	}
}

// Create implements handler.EventHandler.
func (e enqueuePlansLater) Create(_ context.Context, ev event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(q, ev.Object)
}

// Update implements handler.EventHandler.
func (e enqueuePlansLater) Update(_ context.Context, ev event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(q, ev.ObjectOld, ev.ObjectNew)
}

// Delete implements handler.EventHandler.
func (e enqueuePlansLater) Delete(_ context.Context, ev event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(q, ev.Object)
}

// Generic implements handler.EventHandler.
func (e enqueuePlansLater) Generic(_ context.Context, ev event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(q, ev.Object)
}
