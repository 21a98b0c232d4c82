package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/portfolio"
	"customersuccess.dev/success-operator/internal/sources"
)

func TestAccountResolvesHighestPriorityPlan(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "low", "smb", 10), newPlan(ns, "high", "smb", 20), newAccount(ns, "acme", "smb"))

	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Plan).To(Equal("high"))
		g.Expect(a.Status.MRR).To(Equal(csv1alpha1.Decimal("3000")))
		g.Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
		ready := condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(ready.Reason).To(Equal(csv1alpha1.ReconciledReason))
		g.Expect(ready.ObservedGeneration).To(Equal(a.Generation))
		g.Expect(kstatusOf(g, a)).To(Equal(kstatus.CurrentStatus))
		g.Expect(kstatusOf(g, plan(g, ns, "high"))).To(Equal(kstatus.CurrentStatus))
	}, timeout, poll).Should(Succeed())

	// Lowering the winner's priority to a tie hands the account to the name
	// that sorts first.
	update(t, plan(g, ns, "high"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Priority = 10 })
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Plan).To(Equal("high"))
	}, timeout, poll).Should(Succeed())
	update(t, plan(g, ns, "low"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Priority = 30 })
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Plan).To(Equal("low"))
	}, timeout, poll).Should(Succeed())
}

func TestAccountPlanTiesGoToFirstName(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "zulu", "smb", 10), newPlan(ns, "alpha", "smb", 10), newAccount(ns, "acme", "smb"))
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Plan).To(Equal("alpha"))
	}, timeout, poll).Should(Succeed())
}

func TestAccountExplicitRefBeatsSelectorAndAccountsList(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	named := newPlan(ns, "named", "none", 0)
	named.Spec.AccountSelector = nil
	named.Spec.Accounts = []string{"globex"}
	acct := newAccount(ns, "acme", "smb")
	acct.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: "named"}
	create(t, newPlan(ns, "smb", "smb", 100), named, acct, newAccount(ns, "globex", "smb"))

	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Plan).To(Equal("named"))
		// globex is listed by name in "named" but selected by the higher
		// priority "smb".
		g.Expect(account(g, ns, "globex").Status.Plan).To(Equal("smb"))
	}, timeout, poll).Should(Succeed())
}

func TestAccountWithoutPlan(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	missing := newAccount(ns, "acme", "smb")
	missing.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: "later"}
	create(t, missing, newAccount(ns, "orphan", "nobody"))

	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		ready := condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(csv1alpha1.PlanNotFoundReason))
		g.Expect(ready.Message).To(ContainSubstring("spec.successPlanRef.name"))
		o := account(g, ns, "orphan")
		ready = condition(o.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(csv1alpha1.NoPlanReason))
		g.Expect(o.Status.Plan).To(BeEmpty())
		g.Expect(o.Status.MRR).To(Equal(csv1alpha1.Decimal("3000")))
		g.Expect(kstatusOf(g, o)).To(Equal(kstatus.InProgressStatus))
	}, timeout, poll).Should(Succeed())

	// A plan created later is picked up without touching the accounts; a
	// relabelled account is re-resolved.
	create(t, newPlan(ns, "later", "other", 0))
	update(t, account(g, ns, "orphan"), func(a *csv1alpha1.CustomerAccount) {
		a.Labels["customersuccess.dev/segment"] = "other"
	})
	g.Eventually(func(g Gomega) {
		for _, name := range []string{"acme", "orphan"} {
			a := account(g, ns, name)
			g.Expect(a.Status.Plan).To(Equal("later"))
			g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}
	}, timeout, poll).Should(Succeed())
}

func TestInvalidPlanIsReportedAndAccountsKeepTheirValues(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "smb", "smb", 0), newAccount(ns, "acme", "smb"))
	g.Eventually(func(g Gomega) {
		g.Expect(condition(account(g, ns, "acme").Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) {
		p.Spec.Measures = append(p.Spec.Measures, csv1alpha1.Measure{
			Name: "tickets", Source: "support", JSONPath: "{.open}",
			Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 5,
		})
		p.Spec.Stages[0].ExitWhen = "measures.activeSeats.value > 1.0"
		p.Spec.Signals.Expansion = "health.score >"
		p.Spec.Measures[0].Normalize = "value > 1.0"
	})
	g.Eventually(func(g Gomega) {
		p := plan(g, ns, "smb")
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		valid := condition(p.Status.Conditions, csv1alpha1.ValidCondition)
		g.Expect(valid.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(valid.Reason).To(Equal(csv1alpha1.InvalidSpecReason))
		g.Expect(valid.Message).To(SatisfyAll(
			ContainSubstring(`spec.measures[1].source: Not found: "support"`),
			ContainSubstring(`spec.stages[0].exitWhen`), ContainSubstring(`unknown measure "activeSeats"`),
			ContainSubstring(`spec.signals.expansion`),
			ContainSubstring(`spec.measures[0].normalize`), ContainSubstring("must produce double"),
		))
		ready := condition(p.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))

		a := account(g, ns, "acme")
		g.Expect(a.Status.Plan).To(Equal("smb"))
		g.Expect(a.Status.MRR).To(Equal(csv1alpha1.Decimal("3000")))
		ready = condition(a.Status.Conditions, csv1alpha1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(csv1alpha1.PlanInvalidReason))
		g.Expect(ready.Message).To(ContainSubstring("spec.stages[0].exitWhen"))
	}, timeout, poll).Should(Succeed())

	// Repairing the plan makes both Ready again.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) {
		fresh := newPlan(ns, "smb", "smb", 0)
		p.Spec = fresh.Spec
	})
	g.Eventually(func(g Gomega) {
		p := plan(g, ns, "smb")
		g.Expect(condition(p.Status.Conditions, csv1alpha1.ValidCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(account(g, ns, "acme").Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
}

func TestUnchangedObjectsCauseNoWrites(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "smb", "smb", 0))
	for _, name := range []string{"a", "b", "c"} {
		create(t, newAccount(ns, name, "smb"))
	}
	g.Eventually(func(g Gomega) {
		for _, name := range []string{"a", "b", "c"} {
			a := account(g, ns, name)
			g.Expect(a.Status.Plan).To(Equal("smb"))
			g.Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
		}
	}, timeout, poll).Should(Succeed())
	// The counter sees the first writes, so it can see a wrong one.
	g.Expect(op.accountWrites()).To(BeNumerically(">=", 3))
	op.settle(t, g, "a", "b", "c")
	writes := op.accountWrites()

	// A label change that picks the same plan makes the reconciler
	// re-evaluate all three accounts, and write none of them.
	for _, name := range []string{"a", "b", "c"} {
		update(t, account(g, ns, name), func(a *csv1alpha1.CustomerAccount) { a.Labels["team"] = "emea" })
	}
	op.settle(t, g, "a", "b", "c")
	g.Expect(op.accountWrites()).To(Equal(writes))

	// Reconciling the converged objects again, directly, writes nothing.
	g.Eventually(func(g Gomega) {
		p := plan(g, ns, "smb")
		g.Expect(p.Status.Accounts).To(Equal(int32(3)))
		g.Expect(p.Status.Stages).To(Equal(map[string]int32{"Onboarding": 3, "Adoption": 0, csv1alpha1.StageChurned: 0}))
	}, timeout, poll).Should(Succeed())
	direct := &callCounter{}
	c := &countingClient{Client: k8sClient, calls: direct}
	models, err := NewPlanModels()
	g.Expect(err).NotTo(HaveOccurred())
	book := portfolio.NewBook()
	accts := &csv1alpha1.CustomerAccountList{}
	g.Expect(k8sClient.List(context.Background(), accts, client.InNamespace(ns))).To(Succeed())
	for i := range accts.Items {
		book.Observe(&accts.Items[i])
	}
	pr := &SuccessPlanReconciler{Client: c, Models: models, Clock: op.clock, Book: book}
	ar := &CustomerAccountReconciler{Client: c, Models: models, Clock: op.clock}
	for i := 0; i < 2; i++ {
		_, err = pr.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "smb"}})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = ar.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "a"}})
		g.Expect(err).NotTo(HaveOccurred())
	}
	inNS := client.ObjectKey{Namespace: ns}
	g.Expect(direct.get("get", &csv1alpha1.CustomerAccount{}, inNS)).To(Equal(2))
	g.Expect(direct.get("status", &csv1alpha1.CustomerAccount{}, inNS)).To(BeZero())
	g.Expect(direct.get("status", &csv1alpha1.SuccessPlan{}, inNS)).To(BeZero())
}

// kstatusOf computes the kstatus of an object, as GitOps tools and
// kubectl wait see it.
func kstatusOf(g Gomega, obj runtime.Object) kstatus.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// TestEventsGoOutWithTheStatusTheyReport: an evaluation records its Events
// only once its status write stored what they report. An evaluation of a
// stale copy computes the same transition again, and its write conflicts:
// it records nothing, so the transition is one Event.
func TestEventsGoOutWithTheStatusTheyReport(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(t, newPlan(ns, "smb", "smb", 0))
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	create(t, a)
	models, err := NewPlanModels()
	g.Expect(err).NotTo(HaveOccurred())
	clock := testingclock.NewFakeClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	rec := events.NewFakeRecorder(10)
	reconciler := func(c client.Client) *CustomerAccountReconciler {
		return &CustomerAccountReconciler{Client: c, Models: models, Clock: clock, Store: sources.NewStore(), Recorder: rec}
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "acme"}}

	// The first evaluation places the account in Onboarding: no Event.
	_, err = reconciler(k8sClient).Reconcile(t.Context(), req)
	g.Expect(err).NotTo(HaveOccurred())
	placed := account(g, ns, "acme")
	g.Expect(placed.Status.Stage).To(Equal("Onboarding"))
	g.Expect(recordedEvents(rec)).To(BeEmpty())

	// A week later it exits Onboarding: one Event, with the write.
	clock.Step(8 * 24 * time.Hour)
	_, err = reconciler(k8sClient).Reconcile(t.Context(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(account(g, ns, "acme").Status.Stage).To(Equal("Adoption"))
	g.Expect(recordedEvents(rec)).To(Equal([]string{"Normal StageExited Stage Onboarding -> Adoption (StageExited)"}))

	// The copy read before that write computes the same transition; its
	// write conflicts, and it records no Event.
	res, err := reconciler(&staleReader{Client: k8sClient, stale: placed}).Reconcile(t.Context(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(staleCopyRetry))
	g.Expect(recordedEvents(rec)).To(BeEmpty())
	g.Expect(account(g, ns, "acme").Status.Stage).To(Equal("Adoption"))
}
