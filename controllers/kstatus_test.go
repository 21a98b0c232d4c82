package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	testingclock "k8s.io/utils/clock/testing"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/sources"
)

// TestKstatusOfPlansAndAccounts computes kstatus, as Flux, kpt and
// kubectl wait do, for each state a GitOps pipeline must tell apart: a
// healthy object is Current, one that only a spec change can repair is
// Failed, with the reason and the field in its message.
func TestKstatusOfPlansAndAccounts(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	badLedger := newAccount(ns, "badledger", "smb")
	// Each entry is valid; only the operator sums them: a churn larger
	// than the MRR leaves it below zero.
	badLedger.Spec.Contract.Revenue = append(badLedger.Spec.Contract.Revenue,
		csv1alpha1.LedgerEntry{Date: "2026-10-15", Type: csv1alpha1.LedgerChurn, Amount: "5000"})
	broken := newPlan(ns, "broken", "broken", 0)
	broken.Spec.Stages[0].ExitWhen = "measures.sentiment.value / account.contract.seats > 1.0"
	like := newPlan(ns, "like", "like", 0)
	like.Spec.AccountSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "customersuccess.dev/segment", Operator: "Like", Values: []string{"sm*"}}}}
	stuck := newAccount(ns, "stuck", "broken")
	stuck.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "3"}
	create(t, newPlan(ns, "smb", "smb", 0), broken, like, newAccount(ns, "acme", "smb"), badLedger, stuck)

	cases := []struct {
		name    string
		get     func(g Gomega) (client.Object, []metav1.Condition)
		want    kstatus.Status
		reason  string
		message string
	}{
		{"a healthy plan is Current", planState(ns, "smb"), kstatus.CurrentStatus, csv1alpha1.ReconciledReason, ""},
		{"a healthy account is Current", accountState(ns, "acme"), kstatus.CurrentStatus, csv1alpha1.ReconciledReason, ""},
		{"a plan whose expression does not type-check is Failed", planState(ns, "broken"), kstatus.FailedStatus,
			csv1alpha1.InvalidSpecReason, "spec.stages[0].exitWhen"},
		{"a plan whose selector does not parse is Failed", planState(ns, "like"), kstatus.FailedStatus,
			csv1alpha1.InvalidSpecReason, "spec.accountSelector.matchExpressions[0]"},
		{"an account with an invalid ledger is Failed", accountState(ns, "badledger"), kstatus.FailedStatus,
			csv1alpha1.InvalidSpecReason, "MRR cannot be negative"},
		{"an account of an invalid plan is Failed", accountState(ns, "stuck"), kstatus.FailedStatus,
			csv1alpha1.PlanInvalidReason, "spec.stages[0].exitWhen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Eventually(func(g Gomega) {
				obj, conds := tc.get(g)
				g.Expect(kstatusOf(g, obj)).To(Equal(tc.want))
				ready := condition(conds, csv1alpha1.ReadyCondition)
				g.Expect(ready.Reason).To(Equal(tc.reason))
				g.Expect(ready.ObservedGeneration).To(Equal(obj.GetGeneration()))
				stalled := condition(conds, csv1alpha1.StalledCondition)
				if tc.want == kstatus.FailedStatus {
					g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
					g.Expect(stalled.Reason).To(Equal(tc.reason))
					g.Expect(stalled.Message).To(ContainSubstring(tc.message))
				} else {
					g.Expect(conds).NotTo(ContainElement(HaveField("Type", csv1alpha1.StalledCondition)))
					g.Expect(conds).NotTo(ContainElement(HaveField("Type", csv1alpha1.ReconcilingCondition)))
				}
			}, timeout, poll).Should(Succeed())
		})
	}

	// Repairing the plan brings its account back: Stalled is removed.
	update(t, plan(g, ns, "broken"), func(p *csv1alpha1.SuccessPlan) {
		p.Spec.Stages[0].ExitWhen = "measures.sentiment.value / double(account.contract.seats) > 1.0"
	})
	g.Eventually(func(g Gomega) {
		p, a := plan(g, ns, "broken"), account(g, ns, "stuck")
		g.Expect(kstatusOf(g, p)).To(Equal(kstatus.CurrentStatus), "%+v", p.Status.Conditions)
		g.Expect(kstatusOf(g, a)).To(Equal(kstatus.CurrentStatus), "%+v", a.Status.Conditions)
	}, timeout, poll).Should(Succeed())
}

// TestAFreshAccountIsInProgressUntilItsRemoteMeasuresArrive drives the
// reconciler by hand with a store of its own: until the collector has a
// value for the remote measure the account is Reconciling (InProgress),
// then Current.
func TestAFreshAccountIsInProgressUntilItsRemoteMeasuresArrive(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "support",
		HTTP: &csv1alpha1.HTTPSource{URL: "http://support.invalid/{{ .Name }}"}})
	p.Spec.Measures = append(p.Spec.Measures, csv1alpha1.Measure{Name: "openTickets", Source: "support", JSONPath: "{.open}",
		Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 10})
	p.Spec.Accounts, p.Spec.AccountSelector = []string{"acme"}, nil
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
	create(t, p, a)

	models, err := NewPlanModels()
	g.Expect(err).NotTo(HaveOccurred())
	store := sources.NewStore()
	r := &CustomerAccountReconciler{Client: k8sClient, Models: models, Clock: testingclock.NewFakeClock(epoch), Store: store}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "acme"}}
	// Until a value arrives, every evaluation says what it waits for.
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		a := account(g, ns, "acme")
		g.Expect(a.Status.Plan).To(Equal("smb"))
		g.Expect(kstatusOf(g, a)).To(Equal(kstatus.InProgressStatus))
		rec := condition(a.Status.Conditions, csv1alpha1.ReconcilingCondition)
		g.Expect(rec.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(rec.Message).To(ContainSubstring("openTickets"))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionUnknown))
	}, timeout, poll).Should(Succeed())

	store.Put(types.NamespacedName{Namespace: ns, Name: "smb"}, "acme", "openTickets", sources.Sample{Value: 2}, epoch)
	_, err = r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	acme := account(g, ns, "acme")
	g.Expect(kstatusOf(g, acme)).To(Equal(kstatus.CurrentStatus))
	g.Expect(acme.Status.Conditions).NotTo(ContainElement(HaveField("Type", csv1alpha1.ReconcilingCondition)))
	g.Expect(condition(acme.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
}

// TestPlanConditionsFollowKstatus: the plan's conditions, from the model,
// the accounts still to evaluate and the targets, read as kstatus expects.
// Targets are business facts: a miss or missing data sets TargetsMet and
// leaves Ready, and so kstatus, alone.
func TestPlanConditionsFollowKstatus(t *testing.T) {
	valid := &evaluate.Model{}
	invalid := &evaluate.Model{Errors: field.ErrorList{field.Invalid(field.NewPath("spec", "stages").Index(0).Child("exitWhen"), "x", "bad")}}
	met := csv1alpha1.TargetStatus{KPI: "nps", Operator: csv1alpha1.AtLeast, Target: "50", Actual: "50", State: csv1alpha1.TargetMet}
	missed := csv1alpha1.TargetStatus{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Target: "5", Actual: "7.5", State: csv1alpha1.TargetMissed}
	unknown := csv1alpha1.TargetStatus{KPI: "csat", Operator: csv1alpha1.AtLeast, Target: "80", State: csv1alpha1.TargetUnknown}
	for _, tc := range []struct {
		name    string
		model   *evaluate.Model
		pending int32
		targets []csv1alpha1.TargetStatus
		want    kstatus.Status
		ready   metav1.ConditionStatus
		// targetsMet is the TargetsMet condition: "" when absent.
		targetsMet metav1.ConditionStatus
		reason     string
		message    string
	}{
		{"a valid plan with every account evaluated is Current", valid, 0, nil, kstatus.CurrentStatus, metav1.ConditionTrue, "", "", ""},
		{"a valid plan with accounts to evaluate is InProgress", valid, 3, nil, kstatus.InProgressStatus, metav1.ConditionUnknown, "", "", ""},
		{"an invalid plan is Failed whatever its accounts", invalid, 3, nil, kstatus.FailedStatus, metav1.ConditionFalse, "", "", ""},
		{"a plan meeting every target is Current and TargetsMet", valid, 0, []csv1alpha1.TargetStatus{met}, kstatus.CurrentStatus,
			metav1.ConditionTrue, metav1.ConditionTrue, csv1alpha1.AllTargetsMetReason, "All targets met (1/1)"},
		{"a plan missing a target is still Current and Ready", valid, 0, []csv1alpha1.TargetStatus{met, missed, unknown}, kstatus.CurrentStatus,
			metav1.ConditionTrue, metav1.ConditionFalse, csv1alpha1.TargetsMissedReason,
			"1 of 3 targets missed: customerChurnRate 7.5 > 5; no data for csat"},
		{"a plan without KPI data for a target is Current, TargetsMet Unknown", valid, 0, []csv1alpha1.TargetStatus{met, unknown}, kstatus.CurrentStatus,
			metav1.ConditionTrue, metav1.ConditionUnknown, csv1alpha1.NoKPIDataReason, "No data for csat"},
		{"targets do not hide an invalid plan", invalid, 0, []csv1alpha1.TargetStatus{met}, kstatus.FailedStatus,
			metav1.ConditionFalse, metav1.ConditionTrue, csv1alpha1.AllTargetsMetReason, "All targets met (1/1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := &csv1alpha1.SuccessPlan{ObjectMeta: metav1.ObjectMeta{Name: "smb", Namespace: "customers", Generation: 2}}
			p.APIVersion, p.Kind = csv1alpha1.GroupVersion.String(), "SuccessPlan"
			p.Status.ObservedGeneration = 2
			// Conditions left by an earlier state are replaced, and a
			// TargetsMet condition is removed with the targets.
			p.Status.Targets = []csv1alpha1.TargetStatus{missed}
			summarizePlan(&planScope{plan: p, model: invalid, pending: 5})
			p.Status.Targets = tc.targets
			summarizePlan(&planScope{plan: p, model: tc.model, pending: tc.pending})
			g.Expect(kstatusOf(g, p)).To(Equal(tc.want))
			g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(tc.ready))
			c := condition(p.Status.Conditions, csv1alpha1.TargetsMetCondition)
			g.Expect(c.Status).To(Equal(tc.targetsMet))
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Message).To(Equal(tc.message))
			if tc.targetsMet != "" {
				g.Expect(c.ObservedGeneration).To(Equal(int64(2)))
			}
		})
	}
}

func planState(ns, name string) func(g Gomega) (client.Object, []metav1.Condition) {
	return func(g Gomega) (client.Object, []metav1.Condition) {
		p := plan(g, ns, name)
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		return p, p.Status.Conditions
	}
}

func accountState(ns, name string) func(g Gomega) (client.Object, []metav1.Condition) {
	return func(g Gomega) (client.Object, []metav1.Condition) {
		a := account(g, ns, name)
		g.Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
		return a, a.Status.Conditions
	}
}

// TestAnExpressionFailingAtRunTimeNamesItsField: a normalize and a signal
// that type-check but fail for one account (it has no renewal date) fail
// that measure and set Ready=False, EvaluationFailed, naming both fields.
func TestAnExpressionFailingAtRunTimeNamesItsField(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Measures[0].Normalize = "value * double(account.daysToRenewal) / 100.0"
	p.Spec.Signals.Expansion = "account.daysToRenewal < 30"
	a := newAccount(ns, "acme", "smb")
	a.Spec.Contract.RenewalDate = ""
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
	create(t, p, a)
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		ready := condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(csv1alpha1.EvaluationFailedReason))
		g.Expect(ready.Message).To(SatisfyAll(ContainSubstring("spec.measures[0].normalize"), ContainSubstring("spec.signals.expansion"),
			ContainSubstring("daysToRenewal")))
		g.Expect(a.Status.Health).NotTo(BeNil())
		g.Expect(a.Status.Health.Measures[0].Error).To(ContainSubstring("normalize"))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.ExpansionReadyCondition).Reason).To(Equal(csv1alpha1.EvaluationFailedReason))
	}, timeout, poll).Should(Succeed())
}

// TestASuspendedAccountKeepsItsValuesAndSaysSo: while suspended, an
// account's status keeps its last values and Ready says why; the plan
// does not wait for it. Resuming evaluates it again.
func TestASuspendedAccountKeepsItsValuesAndSaysSo(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	create(t, newPlan(ns, "smb", "smb", 0), a)
	g.Eventually(func(g Gomega) {
		h := account(g, ns, "acme").Status.Health
		g.Expect(h).NotTo(BeNil())
		g.Expect(h.Score).To(Equal(int32(100)))
	}, timeout, poll).Should(Succeed())

	update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
		a.Spec.Suspend = true
		a.Spec.Signals.Values["sentiment"] = "1"
	})
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
		ready := condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(csv1alpha1.SuspendedReason))
		g.Expect(ready.ObservedGeneration).To(Equal(a.Generation))
		g.Expect(a.Status.Health.Score).To(Equal(int32(100)), "the last value is kept")
		p := plan(g, ns, "smb")
		g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) { a.Spec.Suspend = false })
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Reason).To(Equal(csv1alpha1.ReconciledReason))
		g.Expect(a.Status.Health.Score).To(Equal(int32(0)))
	}, timeout, poll).Should(Succeed())
}
