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
// KPIs from the accounts it manages, and returns how many of them are not
// yet evaluated with the plan's current generation. An account whose
// ledger is invalid is left out of the sums (its own Stalled condition
// says why); only failures to read are returned, to be retried.
func (r *SuccessPlanReconciler) reconcilePortfolio(ctx context.Context, plan *csv1alpha1.SuccessPlan, now time.Time) (int32, error) {
	accts := &csv1alpha1.CustomerAccountList{}
	if err := r.List(ctx, accts, client.InNamespace(plan.Namespace)); err != nil {
		return 0, err
	}
	plans := &csv1alpha1.SuccessPlanList{}
	if err := r.List(ctx, plans, client.InNamespace(plan.Namespace)); err != nil {
		return 0, err
	}
	var pending int32
	st := &plan.Status
	st.Accounts, st.Stages, st.Bands = 0, map[string]int32{}, map[string]int32{}
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
		if h := a.Status.Health; h != nil && h.Band != "" {
			st.Bands[string(h.Band)]++
		}
		mrr, _, err := kpi.MRR(a.Spec.Contract.Revenue, now)
		if err != nil {
			continue
		}
		total.Add(total, mrr)
		if atRiskOrRed(a) {
			atRisk.Add(atRisk, mrr)
		}
		inputs = append(inputs, kpi.Account{Ledger: a.Spec.Contract.Revenue, Surveys: a.Spec.Signals.Surveys,
			AcquisitionCost: a.Spec.Contract.AcquisitionCost})
	}
	if len(st.Stages) == 0 {
		st.Stages = nil
	}
	if len(st.Bands) == 0 {
		st.Bands = nil
	}
	st.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(total, 2))
	st.MRRAtRisk = csv1alpha1.Decimal(kpi.FormatDecimal(atRisk, 2))
	period := plan.Spec.GetKPIPeriod()
	portfolio, err := kpi.Aggregate(inputs, now, period)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Keeping the last KPIs")
		return pending, nil
	}
	var margin *big.Rat
	if plan.Spec.GrossMargin != "" {
		if margin, err = kpi.ParseDecimal(string(plan.Spec.GrossMargin)); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Keeping the last KPIs", "field", "spec.grossMargin")
			return pending, nil
		}
	}
	kpis := kpi.Compute(portfolio, margin).Status(formatPeriod(period))
	st.KPIs = &kpis
	return pending, nil
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

// atRiskOrRed reports whether an account's MRR counts as at risk.
func atRiskOrRed(a *csv1alpha1.CustomerAccount) bool {
	return meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.AtRiskCondition) ||
		(a.Status.Health != nil && a.Status.Health.Band == csv1alpha1.BandRed)
}

// formatPeriod writes whole hours as the plans do ("2160h").
func formatPeriod(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// enqueuePlansLater enqueues every plan of an account's namespace after
// aggregationDelay: any account change can change any plan's portfolio
// (an account can move between plans), and the delaying queue merges the
// requests of a burst into one.
type enqueuePlansLater struct {
	client client.Reader
}

func (e *enqueuePlansLater) enqueue(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	plans := &csv1alpha1.SuccessPlanList{}
	if err := e.client.List(ctx, plans, client.InNamespace(obj.GetNamespace())); err != nil {
		// A cache read fails only while the manager stops; the plans'
		// hourly refresh recounts anyway.
		ctrl.LoggerFrom(ctx).Error(err, "Listing plans for an account change", "account", obj.GetName())
		return
	}
	for _, p := range plans.Items {
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}}, aggregationDelay)
	}
}

// Create implements handler.EventHandler.
func (e *enqueuePlansLater) Create(ctx context.Context, ev event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(ctx, ev.Object, q)
}

// Update implements handler.EventHandler.
func (e *enqueuePlansLater) Update(ctx context.Context, ev event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(ctx, ev.ObjectNew, q)
}

// Delete implements handler.EventHandler.
func (e *enqueuePlansLater) Delete(ctx context.Context, ev event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(ctx, ev.Object, q)
}

// Generic implements handler.EventHandler.
func (e *enqueuePlansLater) Generic(ctx context.Context, ev event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	e.enqueue(ctx, ev.Object, q)
}
