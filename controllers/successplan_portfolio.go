package controllers

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
	"customersuccess.dev/success-operator/internal/portfolio"
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

// reconcileKPIs is reconcilePortfolio without the targets. It reads the
// plan's portfolio from the book, which the account events keep up to
// date: nothing here is proportional to the number of accounts.
func (r *SuccessPlanReconciler) reconcileKPIs(ctx context.Context, s *planScope) error {
	plan := s.plan
	period := plan.Spec.GetKPIPeriod()
	snap := r.Book.Snapshot(client.ObjectKeyFromObject(plan), plan.Generation, s.now, period)
	st := &plan.Status
	// Every stage of the plan, and Churned, is counted, 0 included.
	st.Accounts, st.Stages, st.Bands = snap.Accounts, make(map[string]int32, len(plan.Spec.Stages)+1), csv1alpha1.BandCounts{}
	for _, stage := range plan.Spec.Stages {
		st.Stages[stage.Name] = 0
	}
	st.Stages[csv1alpha1.StageChurned] = 0
	for stage, n := range snap.Stages {
		st.Stages[stage] += n
	}
	for band, n := range snap.Bands {
		st.Bands.Add(band, n)
	}
	st.MRR = csv1alpha1.Decimal(kpi.FormatDecimal(snap.MRR, 2))
	st.MRRAtRisk = csv1alpha1.Decimal(kpi.FormatDecimal(snap.MRRAtRisk, 2))
	s.pending = snap.Pending
	if snap.KPIErr != nil {
		ctrl.LoggerFrom(ctx).Error(snap.KPIErr, "Keeping the last KPIs")
		return nil
	}
	var margin *big.Rat
	if plan.Spec.GrossMargin != "" {
		var err error
		if margin, err = kpi.ParseDecimal(string(plan.Spec.GrossMargin)); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Keeping the last KPIs", "field", "spec.grossMargin")
			return nil
		}
	}
	kpis := kpi.Compute(snap.Portfolio, margin).Status(formatPeriod(period))
	st.KPIs = &kpis
	return nil
}

// formatPeriod writes whole hours as the plans do ("2160h").
func formatPeriod(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// bookAccounts feeds every account event to the book and enqueues, after
// aggregationDelay, the plans whose portfolio the event changed: the plan
// named in the account's status before and after the change, and only
// when the account's contribution to it changed (a new score within the
// same band, or the operator's own write of unchanged figures, enqueues
// nothing). No list is read, so nothing can fail, and the delaying queue
// merges the requests of a burst into one; the event that completes a
// plan's evaluation enqueues it at once.
type bookAccounts struct{ book *portfolio.Book }

func (h bookAccounts) enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], plans []types.NamespacedName) {
	for _, key := range plans {
		q.AddAfter(reconcile.Request{NamespacedName: key}, aggregationDelay)
	}
}

// observe records a created or changed account. The change that finishes
// the evaluation of its plan (the last of a cold start or of a plan
// change) recounts the plan at once, not an aggregationDelay later.
func (h bookAccounts) observe(q workqueue.TypedRateLimitingInterface[reconcile.Request], a *csv1alpha1.CustomerAccount) {
	plans, completed := h.book.Observe(a)
	if completed {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Status.Plan}})
	}
	h.enqueue(q, plans)
}

// Create implements handler.EventHandler.
func (h bookAccounts) Create(_ context.Context, ev event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if a, ok := ev.Object.(*csv1alpha1.CustomerAccount); ok {
		h.observe(q, a)
	}
}

// Update implements handler.EventHandler.
func (h bookAccounts) Update(_ context.Context, ev event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if a, ok := ev.ObjectNew.(*csv1alpha1.CustomerAccount); ok {
		h.observe(q, a)
	}
}

// Delete implements handler.EventHandler.
func (h bookAccounts) Delete(_ context.Context, ev event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if a, ok := ev.Object.(*csv1alpha1.CustomerAccount); ok {
		h.enqueue(q, h.book.Forget(a))
	}
}

// Generic implements handler.EventHandler; accounts have none.
func (bookAccounts) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}
