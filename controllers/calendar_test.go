package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// calendarLead is how long before a day boundary the operator's clock
// starts in the calendar tests: the account's requeue for the boundary
// comes that long after its first evaluation, in real time.
const calendarLead = 2 * time.Second

// midnight is the first midnight UTC after epoch.
var midnight = epoch.Truncate(24 * time.Hour).Add(24 * time.Hour)

// calendarPlan has two stages: Steady, left when exitWhen holds, and
// Renewal, whose action renewal-call is delivered to hookURL.
func calendarPlan(ns, exitWhen, hookURL string) *csv1alpha1.SuccessPlan {
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Stages = []csv1alpha1.Stage{
		{Name: "Steady", ExitWhen: exitWhen},
		{Name: "Renewal", Actions: []csv1alpha1.Action{{Name: "renewal-call",
			Webhook: &csv1alpha1.Webhook{URL: hookURL, SecretRef: &csv1alpha1.LocalObjectReference{Name: "hook-key"}}}}},
	}
	return p
}

// crossesTheBoundary runs the operator on an account in stage Steady
// under a plan whose Steady stage exits when exitWhen holds, which it
// first does at boundary, a day boundary of the variable exitWhen reads.
// The operator's clock starts calendarLead before the boundary; once the
// account is evaluated and steady, the clock moves to the boundary and
// nothing else happens: the account must leave Steady for Renewal within
// a second of the boundary, on the operator's clock, and its
// renewal-call must come due and be delivered. contract sets the
// account's dates; enteredAt, when not zero, places the account in
// Steady since then, as an earlier operator would have (else the
// operator places it when it first evaluates it).
func crossesTheBoundary(t *testing.T, exitWhen string, boundary time.Time, contract csv1alpha1.Contract, enteredAt time.Time) {
	t.Helper()
	g := NewWithT(t)
	ns := newNamespace(t)
	rcv := newReceiver(t, "s3cret")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"}, Data: map[string][]byte{"key": []byte("s3cret")}})
	create(t, calendarPlan(ns, exitWhen, rcv.URL))
	a := newAccount(ns, "acme", "smb")
	a.Spec.Contract = contract
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
	create(t, a)
	if !enteredAt.IsZero() {
		a.Status = csv1alpha1.CustomerAccountStatus{Plan: "smb", Stage: "Steady", StageEnteredAt: &metav1.Time{Time: enteredAt}}
		g.Expect(k8sClient.Status().Update(context.Background(), a)).To(Succeed())
	}
	generation := account(g, ns, "acme").Generation

	clk := testingclock.NewFakeClock(boundary.Add(-calendarLead))
	runOperator(t, ns, func(o *Options) { o.Clock = clk })

	// Evaluated before the boundary: steady in its stage, nothing due.
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Health).NotTo(BeNil())
		g.Expect(a.Status.Stage).To(Equal("Steady"))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(a.Status.Actions).To(BeEmpty())
	}, timeout, poll).Should(Succeed())

	// The day changes; nothing else does.
	clk.SetTime(boundary)
	within := func(at *metav1.Time) bool {
		if at == nil {
			return false
		}
		t := at.UTC()
		return !t.Before(boundary.Truncate(time.Second)) && !t.After(boundary.Add(time.Second))
	}
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Stage).To(Equal("Renewal"))
		g.Expect(within(a.Status.StageEnteredAt)).To(BeTrue(), "entered Renewal at %v, boundary %v", a.Status.StageEnteredAt, boundary)
		g.Expect(a.Status.Actions).To(ConsistOf(SatisfyAll(HaveField("Name", "renewal-call"), HaveField("Stage", "Renewal"),
			HaveField("State", BeElementOf(csv1alpha1.ActionPending, csv1alpha1.ActionDelivered)))))
		g.Expect(within(a.Status.Actions[0].At)).To(BeTrue(), "renewal-call at %v, boundary %v", a.Status.Actions[0].At, boundary)
		g.Expect(a.Generation).To(Equal(generation))
	}, timeout, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		keys, once := rcv.delivered("renewal-call")
		g.Expect(keys).To(HaveLen(1))
		g.Expect(once).To(BeTrue())
	}, timeout, poll).Should(Succeed())
}

// TestRenewalWindowOpensAtMidnightByItself: the plan, exitWhen
// account.daysToRenewal <= 90. 91 days before the renewal date the count
// is 91 up to and including midnight, and 90 a nanosecond later.
func TestRenewalWindowOpensAtMidnightByItself(t *testing.T) {
	renewal := midnight.AddDate(0, 0, 91)
	crossesTheBoundary(t, "account.daysToRenewal <= 90", midnight.Add(time.Nanosecond),
		csv1alpha1.Contract{Seats: 50, Currency: "EUR", StartDate: "2026-03-01", RenewalDate: csv1alpha1.Date(renewal.Format(time.DateOnly)),
			Revenue: []csv1alpha1.LedgerEntry{{Date: "2026-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"}}},
		time.Time{})
}

// TestAnniversaryMovesTheStageAtMidnightByItself: exitWhen
// account.daysSinceStart >= 30 holds from midnight of the 30th day.
func TestAnniversaryMovesTheStageAtMidnightByItself(t *testing.T) {
	start := midnight.AddDate(0, 0, -30).Format(time.DateOnly)
	crossesTheBoundary(t, "account.daysSinceStart >= 30", midnight,
		csv1alpha1.Contract{Seats: 50, Currency: "EUR", StartDate: csv1alpha1.Date(start), RenewalDate: "2027-10-01",
			Revenue: []csv1alpha1.LedgerEntry{{Date: csv1alpha1.Date(start), Type: csv1alpha1.LedgerNew, Amount: "2700"}}},
		time.Time{})
}

// TestDaysInStageMoveTheStageByThemselves: exitWhen stage.days >= 7 holds
// seven whole days after the account entered its stage, at any hour.
func TestDaysInStageMoveTheStageByThemselves(t *testing.T) {
	entered := epoch.Add(-7*24*time.Hour + 5*time.Hour + 17*time.Second)
	crossesTheBoundary(t, "stage.days >= 7", entered.Add(7*24*time.Hour),
		csv1alpha1.Contract{Seats: 50, Currency: "EUR", StartDate: "2026-03-01", RenewalDate: "2027-03-01",
			Revenue: []csv1alpha1.LedgerEntry{{Date: "2026-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"}}},
		entered)
}
