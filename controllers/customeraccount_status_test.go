package controllers

import (
	"math/big"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// TestSummarize: every condition of an account is computed last from the
// scope, Ready from the others, and reads as kstatus expects.
func TestSummarize(t *testing.T) {
	scored := &health.Result{Status: csv1alpha1.HealthStatus{Score: 80, Band: csv1alpha1.BandGreen}}
	failing := &health.Result{Status: csv1alpha1.HealthStatus{Score: 30, Band: csv1alpha1.BandRed},
		Failing: []string{"activeSeats: no series"}}
	risk := metav1.Condition{Type: csv1alpha1.AtRiskCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.RedBandReason,
		Message: "Health score 30 is Red"}
	for _, tc := range []struct {
		name    string
		suspend bool
		health  *health.Result
		signals []metav1.Condition
		out     outcome
		// want are the conditions by type, as status and reason; an empty
		// status means absent.
		want    map[string][2]string
		kstatus kstatus.Status
	}{
		{
			name: "an evaluated account is Ready", health: scored, out: outcome{plan: "smb"},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:            {"True", csv1alpha1.ReconciledReason},
				csv1alpha1.MetricsAvailableCondition: {"True", csv1alpha1.MeasuresAvailableReason},
				csv1alpha1.HealthyCondition:          {"True", "Green"},
				csv1alpha1.StalledCondition:          {"", ""},
				csv1alpha1.ReconcilingCondition:      {"", ""},
			},
			kstatus: kstatus.CurrentStatus,
		},
		{
			name: "failing measures and signals are reported, Ready stays True", health: failing,
			signals: []metav1.Condition{risk}, out: outcome{plan: "smb"},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:            {"True", csv1alpha1.ReconciledReason},
				csv1alpha1.MetricsAvailableCondition: {"False", csv1alpha1.MeasuresUnavailableReason},
				csv1alpha1.HealthyCondition:          {"False", "Red"},
				csv1alpha1.AtRiskCondition:           {"True", csv1alpha1.RedBandReason},
			},
			kstatus: kstatus.CurrentStatus,
		},
		{
			name: "waiting for the first values is Reconciling", health: scored, out: outcome{plan: "smb", waiting: "Waiting for x"},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:       {"Unknown", csv1alpha1.ProgressingReason},
				csv1alpha1.ReconcilingCondition: {"True", csv1alpha1.ProgressingReason},
				csv1alpha1.StalledCondition:     {"", ""},
			},
			kstatus: kstatus.InProgressStatus,
		},
		{
			name: "a failure that only a spec change can help is Stalled",
			out:  outcome{plan: "smb", reason: csv1alpha1.PlanInvalidReason, message: "bad", stalled: true, waiting: "Waiting for x"},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:       {"False", csv1alpha1.PlanInvalidReason},
				csv1alpha1.StalledCondition:     {"True", csv1alpha1.PlanInvalidReason},
				csv1alpha1.ReconcilingCondition: {"", ""},
			},
			kstatus: kstatus.FailedStatus,
		},
		{
			name: "a failure that can pass is neither Stalled nor Reconciling",
			out:  outcome{reason: csv1alpha1.NoPlanReason, message: "no plan"},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:       {"False", csv1alpha1.NoPlanReason},
				csv1alpha1.StalledCondition:     {"", ""},
				csv1alpha1.ReconcilingCondition: {"", ""},
			},
			kstatus: kstatus.InProgressStatus,
		},
		{
			name: "the first failure wins", out: func() outcome {
				var o outcome
				o.fail(csv1alpha1.InvalidSpecReason, "ledger", true)
				o.fail(csv1alpha1.EvaluationFailedReason, "later", false)
				return o
			}(),
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:   {"False", csv1alpha1.InvalidSpecReason},
				csv1alpha1.StalledCondition: {"True", csv1alpha1.InvalidSpecReason},
			},
			kstatus: kstatus.FailedStatus,
		},
		{
			name: "a suspended account says so for its generation and keeps the rest", suspend: true, health: failing,
			out: outcome{plan: "smb", reason: csv1alpha1.EvaluationFailedReason},
			want: map[string][2]string{
				csv1alpha1.ReadyCondition:            {"False", csv1alpha1.SuspendedReason},
				csv1alpha1.MetricsAvailableCondition: {"True", csv1alpha1.MeasuresAvailableReason},
				csv1alpha1.StalledCondition:          {"", ""},
				csv1alpha1.ReconcilingCondition:      {"", ""},
			},
			kstatus: kstatus.InProgressStatus,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "customers", Generation: 3}}
			a.APIVersion, a.Kind = csv1alpha1.GroupVersion.String(), "CustomerAccount"
			a.Spec.Suspend = tc.suspend
			// What an earlier evaluation left.
			a.Status.ObservedGeneration = 2
			for _, c := range []metav1.Condition{
				{Type: csv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ReconciledReason},
				{Type: csv1alpha1.MetricsAvailableCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.MeasuresAvailableReason},
				{Type: csv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.InvalidSpecReason},
				{Type: csv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: csv1alpha1.ProgressingReason},
			} {
				c.ObservedGeneration = 2
				setCondition(a, c)
			}
			a.Status.Conditions[0].ObservedGeneration = 2
			if tc.health != nil && !tc.suspend {
				a.Status.Health = &tc.health.Status
			}

			summarize(&accountScope{acct: a, health: tc.health, signals: tc.signals, out: tc.out})

			g.Expect(a.Status.ObservedGeneration).To(Equal(int64(3)))
			for typ, want := range tc.want {
				c := condition(a.Status.Conditions, typ)
				g.Expect([2]string{string(c.Status), c.Reason}).To(Equal(want), typ)
			}
			ready := condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
			g.Expect(ready.ObservedGeneration).To(Equal(int64(3)), "Ready describes the current generation")
			g.Expect(kstatusOf(g, a)).To(Equal(tc.kstatus))
		})
	}
}

// TestReconcileRevenue: the revenue step sums the ledger into status.mrr,
// requeues when a future entry takes effect, and stops, stalled, keeping
// the last MRR, when the ledger cannot be summed.
func TestReconcileRevenue(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		ledger []csv1alpha1.LedgerEntry
		result stepResult
		mrr    csv1alpha1.Decimal
		next   time.Time
		reason string
	}{
		{
			name: "past entries sum up",
			ledger: []csv1alpha1.LedgerEntry{{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "100"},
				{Date: "2026-02-01", Type: csv1alpha1.LedgerContraction, Amount: "20.5"}},
			result: proceed, mrr: "79.5",
		},
		{
			name: "a future entry is when the result changes",
			ledger: []csv1alpha1.LedgerEntry{{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "100"},
				{Date: "2026-12-01", Type: csv1alpha1.LedgerExpansion, Amount: "50"}},
			result: proceed, mrr: "100", next: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		},
		{
			name: "a ledger below zero stops the reconcile and keeps the last MRR",
			ledger: []csv1alpha1.LedgerEntry{{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "100"},
				{Date: "2026-02-01", Type: csv1alpha1.LedgerContraction, Amount: "200"}},
			result: stop, mrr: "42", reason: csv1alpha1.InvalidSpecReason,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := &csv1alpha1.CustomerAccount{}
			a.Spec.Contract.Revenue = tc.ledger
			a.Status.MRR = "42"
			s := &accountScope{acct: a, now: now}
			res, err := (&CustomerAccountReconciler{}).reconcileRevenue(t.Context(), s)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(tc.result))
			g.Expect(a.Status.MRR).To(Equal(tc.mrr))
			g.Expect(s.next).To(Equal(tc.next))
			g.Expect(s.out.reason).To(Equal(tc.reason))
			g.Expect(s.out.stalled).To(Equal(tc.reason != ""))
			if tc.result == proceed {
				g.Expect(s.mrr).NotTo(BeNil())
				g.Expect(s.mrr.Cmp(big.NewRat(0, 1))).To(BeNumerically(">", 0))
			}
		})
	}
}

// TestReconcileDueActions: the actions step sends nothing and changes no
// recorded entry; the delivery controller takes the account exactly when
// a webhook entry is Pending, even one whose action left the plan (the
// dispatcher fails it).
func TestReconcileDueActions(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	plan := lifecyclePlan("customers", "http://hooks.invalid/")
	for _, tc := range []struct {
		name    string
		actions []csv1alpha1.ActionStatus
		pending bool
	}{
		{"nothing recorded, nothing handed over", nil, false},
		{"a pending webhook is handed to the dispatcher",
			[]csv1alpha1.ActionStatus{{Stage: "Onboarding", Name: "welcome", Key: "k", State: csv1alpha1.ActionPending}}, true},
		{"a delivered one is not",
			[]csv1alpha1.ActionStatus{{Stage: "Onboarding", Name: "welcome", Key: "k", State: csv1alpha1.ActionDelivered}}, false},
		{"an action that left the plan is left to the dispatcher",
			[]csv1alpha1.ActionStatus{{Stage: "Onboarding", Name: "gone", Key: "k", State: csv1alpha1.ActionPending}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := &csv1alpha1.CustomerAccount{}
			a.Status.Actions = tc.actions
			want := a.DeepCopy().Status.Actions
			s := &accountScope{acct: a, plan: plan, now: now}
			res, err := (&CustomerAccountReconciler{}).reconcileDueActions(t.Context(), s)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(proceed))
			g.Expect(holdsPending(a)).To(Equal(tc.pending))
			g.Expect(a.Status.Actions).To(Equal(want))
		})
	}
}
