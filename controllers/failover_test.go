package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/sources"
)

// followupPlan creates the signing Secret and a plan of segment "steps"
// whose stage S0 starts enter at once and followup 8s after its entry,
// and is left for S1 when the account's signal step reaches 1; both
// actions post to a new receiver.
func followupPlan(t *testing.T, ns string) (*csv1alpha1.SuccessPlan, *receiver) {
	t.Helper()
	rcv := newReceiver(t, "s3cret")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"}, Data: map[string][]byte{"key": []byte("s3cret")}})
	hook := func(name string, after time.Duration) csv1alpha1.Action {
		a := csv1alpha1.Action{Name: name, Webhook: &csv1alpha1.Webhook{URL: rcv.URL,
			SecretRef: &csv1alpha1.LocalObjectReference{Name: "hook-key"}}}
		if after > 0 {
			a.After = &metav1.Duration{Duration: after}
		}
		return a
	}
	p := newPlan(ns, "steps", "steps", 0)
	p.Spec.Stages = []csv1alpha1.Stage{
		{Name: "S0", ExitWhen: "account.signals.values.step >= 1.0",
			Actions: []csv1alpha1.Action{hook("enter", 0), hook("followup", 8*time.Second)}},
		{Name: "S1"},
	}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	create(t, p)
	return p, rcv
}

// stepAccount creates an account of segment "steps" whose signal step is 0.
func stepAccount(t *testing.T, ns, name string) {
	t.Helper()
	a := newAccount(ns, name, "steps")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"step": "0"}
	create(t, a)
}

// entered waits until the account's enter action is delivered in S0 and
// returns the account.
func entered(g *WithT, ns, name string) *csv1alpha1.CustomerAccount {
	var a *csv1alpha1.CustomerAccount
	g.Eventually(func(g Gomega) {
		a = account(g, ns, name)
		g.Expect(a.Status.Stage).To(Equal("S0"))
		g.Expect(a.Status.Actions).To(ConsistOf(SatisfyAll(HaveField("Name", "enter"), HaveField("State", csv1alpha1.ActionDelivered))))
	}, timeout, poll).Should(Succeed())
	return a
}

// followedUp waits until the account is in S1 and the followup of its S0
// visit is delivered, once, under its key.
func followedUp(g *WithT, rcv *receiver, a *csv1alpha1.CustomerAccount) {
	key := actions.Key(string(a.UID), "S0", a.Status.StageEnteredAt.Time, "followup")
	g.Eventually(func(g Gomega) {
		b := account(g, a.Namespace, a.Name)
		g.Expect(b.Status.Stage).To(Equal("S1"))
		g.Expect(b.Status.Actions).To(ContainElement(SatisfyAll(HaveField("Key", key), HaveField("State", csv1alpha1.ActionDelivered))))
	}, timeout, poll).Should(Succeed())
	keys, once := rcv.delivered("followup")
	g.Expect(keys).To(Equal([]string{key}))
	g.Expect(once).To(BeTrue())
	keys, _ = rcv.delivered("enter")
	g.Expect(keys).To(HaveLen(1))
}

// TestADelayedActionDueWhileNoManagerRanIsDeliveredWhenItsStageIsLeft:
// the manager stops after S0's immediate action; the followup comes due
// and the exit condition turns true while none runs. The next manager
// moves the account on and still delivers the followup: it came due while
// the visit of S0 was current.
func TestADelayedActionDueWhileNoManagerRanIsDeliveredWhenItsStageIsLeft(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	_, rcv := followupPlan(t, ns)
	stepAccount(t, ns, "acme")
	first := runOperator(t, ns)
	a := entered(g, ns, "acme")
	first.stop()

	setSignal(t, g, ns, "acme", "step", "1")
	runOperator(t, ns, func(o *Options) { o.Clock = testingclock.NewFakeClock(epoch.Add(10500 * time.Millisecond)) })

	followedUp(g, rcv, a)
}

// TestADelayedActionDueWhileThePlanWasInvalidIsDeliveredOnceItIsFixed:
// the plan is invalid across the followup's due time, and the exit
// condition turns true meanwhile; once the plan is fixed, the account
// moves on and the followup is delivered.
func TestADelayedActionDueWhileThePlanWasInvalidIsDeliveredOnceItIsFixed(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	p, rcv := followupPlan(t, ns)
	stepAccount(t, ns, "acme")
	op := runOperator(t, ns)
	a := entered(g, ns, "acme")

	update(t, p, func(p *csv1alpha1.SuccessPlan) { p.Spec.Signals.AtRisk = "health.score >=" })
	// planInvalid: the account's last evaluation, of its current spec,
	// found the plan invalid and kept it in S0.
	planInvalid := func(g Gomega) {
		b := account(g, ns, "acme")
		g.Expect(b.Status.ObservedGeneration).To(Equal(b.Generation))
		g.Expect(condition(b.Status.Conditions, csv1alpha1.ReadyCondition).Reason).To(Equal(csv1alpha1.PlanInvalidReason))
		g.Expect(b.Status.Stage).To(Equal("S0"))
	}
	g.Eventually(planInvalid, timeout, poll).Should(Succeed())
	op.clock.Step(10 * time.Second)
	setSignal(t, g, ns, "acme", "step", "1")
	g.Eventually(planInvalid, timeout, poll).Should(Succeed())

	update(t, p, func(p *csv1alpha1.SuccessPlan) { p.Spec.Signals.AtRisk = "" })
	followedUp(g, rcv, a)
}

// freezingReader reads through to the API server, and freezes right after
// its first read until thawed: a leader stopped (SIGSTOP) with an account
// it has just read.
type freezingReader struct {
	client.Reader
	once         sync.Once
	frozen, thaw chan struct{}
}

func (f *freezingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := f.Reader.Get(ctx, key, obj, opts...)
	f.once.Do(func() {
		close(f.frozen)
		<-f.thaw
	})
	return err
}

// TestAFrozenLeaderSendsNothingAnotherReplicaClaimed: one replica's
// delivery pass reads an account with a Pending entry and freezes; another
// replica, now leading, claims and delivers the entry; the first thaws
// and sends nothing: its claim conflicts, and the entry it reads again is
// no longer the Pending attempt it saw.
func TestAFrozenLeaderSendsNothingAnotherReplicaClaimed(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	rcv := hookedPlan(t, ns, 1) // welcome
	create(t, newAccount(ns, "acme", "smb"))
	key := client.ObjectKey{Namespace: ns, Name: "acme"}
	clock := testingclock.NewFakeClock(epoch)
	r := &CustomerAccountReconciler{Client: k8sClient, Models: stepModels(t), Clock: clock, Store: sources.NewStore()}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(account(g, ns, "acme").Status.Actions).To(welcomeEntry(csv1alpha1.ActionPending, 0))

	frozen := &freezingReader{Reader: k8sClient, frozen: make(chan struct{}), thaw: make(chan struct{})}
	old := &Dispatcher{Client: k8sClient, Accounts: frozen, Secrets: k8sClient,
		Sender: &actions.Sender{Client: outbound.NewClient(outbound.Options{})}, Clock: clock}
	old.prepare()
	done := make(chan error, 1)
	go func() {
		_, err := old.dispatch(context.Background(), key)
		done <- err
	}()
	<-frozen.frozen

	runOperator(t, ns)
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 1))
	}, timeout, poll).Should(Succeed())

	close(frozen.thaw)
	g.Eventually(done, timeout, poll).Should(Receive(BeNil()))
	g.Expect(rcv.attemptsOf("acme", "welcome")).To(Equal(1), "the thawed replica sent nothing")
	g.Expect(account(g, ns, "acme").Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 1))
}
