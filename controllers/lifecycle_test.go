package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/sources"
)

// receiver is a webhook endpoint that checks Standard Webhooks signatures
// and counts deliveries by idempotency key. It keeps each accepted
// delivery's payload and raw body by account and action, and answers 503
// to an action while failures has some left for it or failing names it.
type receiver struct {
	*httptest.Server
	secret []byte

	mu       sync.Mutex
	attempts map[string]int // by action
	keys     map[string]int // successful deliveries by key
	actions  map[string][]string
	failures map[string]int  // failures still to answer, by action
	failing  map[string]bool // actions answered 503 until unset
	badSigs  int

	accountAttempts map[string]int      // by account/action
	attemptKeys     map[string][]string // the key of every attempt, by account/action
	payloads        map[string][]actions.Payload
	bodies          map[string][]string
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: []byte(secret), attempts: map[string]int{}, keys: map[string]int{},
		actions: map[string][]string{}, failures: map[string]int{}, failing: map[string]bool{},
		accountAttempts: map[string]int{}, attemptKeys: map[string][]string{}, payloads: map[string][]actions.Payload{}, bodies: map[string][]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !actions.Verify(r.secret, req.Header, body, time.Now()) {
		r.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p actions.Payload
	if err := json.Unmarshal(body, &p); err != nil ||
		p.Key != req.Header.Get(actions.HeaderIdempotencyKey) || p.Key != req.Header.Get(actions.HeaderID) {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	k := p.Account + "/" + p.Action
	r.attempts[p.Action]++
	r.accountAttempts[k]++
	r.attemptKeys[k] = append(r.attemptKeys[k], p.Key)
	if r.failures[p.Action] > 0 {
		r.failures[p.Action]--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if r.failing[p.Action] {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	r.keys[p.Key]++
	r.actions[p.Action] = append(r.actions[p.Action], p.Key)
	r.payloads[k] = append(r.payloads[k], p)
	r.bodies[k] = append(r.bodies[k], string(body))
	w.WriteHeader(http.StatusAccepted)
}

// delivered returns the keys delivered for an action, and whether every
// key arrived exactly once.
func (r *receiver) delivered(action string) ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	once := true
	for _, k := range r.actions[action] {
		once = once && r.keys[k] == 1
	}
	return append([]string(nil), r.actions[action]...), once && r.badSigs == 0
}

// accepted returns the payloads and bodies accepted for an account's action.
func (r *receiver) accepted(account, action string) ([]actions.Payload, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := account + "/" + action
	return append([]actions.Payload(nil), r.payloads[k]...), append([]string(nil), r.bodies[k]...)
}

// attemptsOf returns how often an account's action was posted.
func (r *receiver) attemptsOf(account, action string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accountAttempts[account+"/"+action]
}

// keysOf returns the key of every attempt of an account's action, in order.
func (r *receiver) keysOf(account, action string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.attemptKeys[account+"/"+action]...)
}

// setFailing makes the receiver answer 503 to an action, or stop doing so.
func (r *receiver) setFailing(action string, failing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing[action] = failing
}

func lifecyclePlan(ns, hookURL string) *csv1alpha1.SuccessPlan {
	hook := func(name string, after time.Duration) csv1alpha1.Action {
		a := csv1alpha1.Action{Name: name, Webhook: &csv1alpha1.Webhook{URL: hookURL,
			SecretRef: &csv1alpha1.LocalObjectReference{Name: "hook-key"}}}
		if after > 0 {
			a.After = &metav1.Duration{Duration: after}
		}
		return a
	}
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Measures = []csv1alpha1.Measure{
		{Name: "seats", Source: "csm", Key: "seats", Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 50}, Weight: 10},
		{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 10},
	}
	p.Spec.Stages = []csv1alpha1.Stage{
		{Name: "Onboarding", MaxDuration: &metav1.Duration{Duration: 720 * time.Hour},
			Objectives: []csv1alpha1.Objective{{Name: "first-login", When: "measures.seats.value >= 1.0"}},
			ExitWhen:   "measures.seats.value >= 25.0 && stage.days >= 7",
			Actions:    []csv1alpha1.Action{hook("welcome", 0), hook("flaky", 0), hook("training-invite", 168*time.Hour)}},
		{Name: "Adoption", ExitWhen: "health.score >= 70 && stage.days >= 30"},
		{Name: "Nurturing", ExitWhen: "account.daysToRenewal <= 90"},
		{Name: "Renewal", ExitWhen: "account.daysToRenewal > 300"},
		{Name: "Expansion"},
	}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	return p
}

// hookedPlan creates the webhook signing Secret and a lifecycle plan
// whose first stage keeps its first n actions, delivered to a new
// receiver.
func hookedPlan(t *testing.T, ns string, n int) *receiver {
	t.Helper()
	rcv := newReceiver(t, "s3cret")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"}, Data: map[string][]byte{"key": []byte("s3cret")}})
	p := lifecyclePlan(ns, rcv.URL)
	p.Spec.Stages[0].Actions = p.Spec.Stages[0].Actions[:n]
	create(t, p)
	return rcv
}

func setSignal(t *testing.T, g *WithT, ns, name, key, value string) {
	t.Helper()
	update(t, account(g, ns, name), func(a *csv1alpha1.CustomerAccount) {
		if a.Spec.Signals.Values == nil {
			a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{}
		}
		a.Spec.Signals.Values[key] = csv1alpha1.Decimal(value)
	})
}

func stageEvents(g Gomega, ns, name string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && strings.HasPrefix(e.Action, "Advance/") {
			out = append(out, e.Note)
		}
	}
	return out
}

func TestLifecycleWalksAnAccountThroughEveryStage(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	rcv := newReceiver(t, "s3cret")
	rcv.failures["flaky"] = 2
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"}, Data: map[string][]byte{"key": []byte("s3cret")}})
	create(t, lifecyclePlan(ns, rcv.URL))
	a := newAccount(ns, "acme", "smb")
	a.Spec.Contract.RenewalDate = csv1alpha1.Date(op.clock.Now().AddDate(1, 0, 0).Format(time.DateOnly))
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"seats": "0", "sentiment": "3"}
	gone := newAccount(ns, "umbrella", "smb")
	gone.Spec.Contract.Revenue = []csv1alpha1.LedgerEntry{
		{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "900"},
		{Date: "2026-06-01", Type: csv1alpha1.LedgerChurn, Amount: "900"},
	}
	create(t, a, gone)

	// expectStage waits for the account to be in stage, having come from
	// the stage from ("" for none): the newest history entry is the
	// transition's, one entry, and the one before it is from's.
	expectStage := func(stage, from string) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			a := account(g, ns, "acme")
			g.Expect(a.Status.Stage).To(Equal(stage))
			g.Expect(a.Status.StageEnteredAt).NotTo(BeNil())
			h := a.Status.History
			g.Expect(h).NotTo(BeEmpty())
			g.Expect(h[len(h)-1]).To(SatisfyAll(HaveField("Stage", stage), HaveField("At", *a.Status.StageEnteredAt)))
			if from == "" {
				g.Expect(h).To(HaveLen(1))
			} else {
				g.Expect(len(h)).To(BeNumerically(">=", 2))
				g.Expect(h[len(h)-2].Stage).To(Equal(from))
			}
			g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}, timeout, poll).Should(Succeed())
	}

	// Onboarding: the welcome arrives once; the flaky receiver fails twice
	// and still gets its action once; the training invite waits a week.
	expectStage("Onboarding", "")
	g.Eventually(func(g Gomega) {
		op.clock.Step(time.Second) // retries back off on the operator's clock
		keys, once := rcv.delivered("flaky")
		g.Expect(keys).To(HaveLen(1))
		g.Expect(once).To(BeTrue())
	}, timeout, poll).Should(Succeed())
	welcome, once := rcv.delivered("welcome")
	g.Expect(welcome).To(HaveLen(1))
	g.Expect(once).To(BeTrue())
	rcv.mu.Lock()
	g.Expect(rcv.attempts["flaky"]).To(Equal(3))
	rcv.mu.Unlock()
	// The receiver saw the last attempt before the operator wrote its
	// outcome: the status converges.
	g.Eventually(func(g Gomega) {
		acme := account(g, ns, "acme")
		g.Expect(acme.Status.Actions).To(ConsistOf(
			SatisfyAll(HaveField("Name", "welcome"), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Key", welcome[0])),
			SatisfyAll(HaveField("Name", "flaky"), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(3))),
		))
		g.Expect(acme.Status.Objectives).To(ConsistOf(SatisfyAll(HaveField("Name", "first-login"), HaveField("State", csv1alpha1.ObjectivePending))))
	}, timeout, poll).Should(Succeed())

	setSignal(t, g, ns, "acme", "seats", "10")
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Objectives[0].State).To(Equal(csv1alpha1.ObjectiveAchieved))
	}, timeout, poll).Should(Succeed())
	invite, _ := rcv.delivered("training-invite")
	g.Expect(invite).To(BeEmpty())

	// A week later the invite is due, and arrives once.
	op.clock.Step(168 * time.Hour)
	setSignal(t, g, ns, "acme", "seats", "11")
	g.Eventually(func(g Gomega) {
		keys, once := rcv.delivered("training-invite")
		g.Expect(keys).To(HaveLen(1))
		g.Expect(once).To(BeTrue())
	}, timeout, poll).Should(Succeed())
	expectStage("Onboarding", "")

	// Exit criteria met: Adoption.
	setSignal(t, g, ns, "acme", "seats", "30")
	expectStage("Adoption", "Onboarding")

	// An invalid plan keeps the account where it is.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Stages[1].ExitWhen = "health.score >=" })
	g.Eventually(func(g Gomega) {
		p := plan(g, ns, "smb")
		valid := condition(p.Status.Conditions, csv1alpha1.ValidCondition)
		g.Expect(valid.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(valid.Message).To(ContainSubstring("spec.stages[1].exitWhen"))
		a := account(g, ns, "acme")
		g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Reason).To(Equal(csv1alpha1.PlanInvalidReason))
		g.Expect(a.Status.Stage).To(Equal("Adoption"))
	}, timeout, poll).Should(Succeed())
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) {
		p.Spec.Stages[1].ExitWhen = "health.score >= 70 && stage.days >= 30"
	})

	// A healthy month moves it to Nurturing.
	op.clock.Step(31 * 24 * time.Hour)
	setSignal(t, g, ns, "acme", "sentiment", "5")
	setSignal(t, g, ns, "acme", "seats", "50")
	expectStage("Nurturing", "Adoption") // Green in the same evaluation
	g.Eventually(func(g Gomega) {
		g.Expect(condition(account(g, ns, "acme").Status.Conditions, csv1alpha1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	// The renewal approaches, then is signed for another year.
	update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
		a.Spec.Contract.RenewalDate = csv1alpha1.Date(op.clock.Now().AddDate(0, 0, 80).Format(time.DateOnly))
	})
	expectStage("Renewal", "Nurturing")
	update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
		a.Spec.Contract.RenewalDate = csv1alpha1.Date(op.clock.Now().AddDate(1, 1, 0).Format(time.DateOnly))
	})
	expectStage("Expansion", "Renewal")
	g.Eventually(func(g Gomega) {
		// The first placement, into Onboarding, is no Event.
		g.Expect(stageEvents(g, ns, "acme")).To(ConsistOf(
			"Stage Onboarding -> Adoption (StageExited)", "Stage Adoption -> Nurturing (StageExited)",
			"Stage Nurturing -> Renewal (StageExited)", "Stage Renewal -> Expansion (StageExited)"))
	}, timeout, poll).Should(Succeed())
	// Every action arrived exactly once over the whole walk.
	for _, name := range []string{"welcome", "flaky", "training-invite"} {
		keys, once := rcv.delivered(name)
		g.Expect(keys).To(HaveLen(1), name)
		g.Expect(once).To(BeTrue(), name)
	}

	// The churned account is kept, in stage Churned.
	g.Eventually(func(g Gomega) {
		u := account(g, ns, "umbrella")
		g.Expect(u.Status.Stage).To(Equal(csv1alpha1.StageChurned))
		g.Expect(u.Status.MRR).To(Equal(csv1alpha1.Decimal("0")))
	}, timeout, poll).Should(Succeed())
}

func TestOverdueStageMakesTheAccountAtRisk(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Stages[0].MaxDuration = &metav1.Duration{Duration: 48 * time.Hour}
	p.Spec.Stages[0].Objectives = []csv1alpha1.Objective{{Name: "kickoff", When: "measures.sentiment.value >= 5.0"}}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	create(t, p)
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
	create(t, a)
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Stage).To(Equal("Onboarding"))
	}, timeout, poll).Should(Succeed())

	op.clock.Step(49 * time.Hour)
	setSignal(t, g, ns, "acme", "sentiment", "4.5")
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		risk := condition(a.Status.Conditions, csv1alpha1.AtRiskCondition)
		g.Expect(risk.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(risk.Reason).To(Equal(csv1alpha1.StageOverdueReason))
		g.Expect(a.Status.Objectives).To(ConsistOf(HaveField("State", csv1alpha1.ObjectiveOverdue)))
	}, timeout, poll).Should(Succeed())
}

// crashingTransport stands for a process that dies while a delivery is in
// flight: the first request it sees cancels the dispatcher's pass, so
// nothing leaves and no outcome is written.
type crashingTransport struct{ cancel context.CancelFunc }

func (c *crashingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.cancel()
	return nil, errors.New("process killed")
}

// TestAnActionRecordedBeforeACrashIsDeliveredAfterRestartWithTheSameKey:
// the process dies between the claim of an attempt and its POST. The
// claim is stored (the attempt counted), nothing reached the receiver,
// and the restarted operator delivers the entry under its key once its
// backoff has passed.
func TestAnActionRecordedBeforeACrashIsDeliveredAfterRestartWithTheSameKey(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	rcv := hookedPlan(t, ns, 1) // welcome
	create(t, newAccount(ns, "acme", "smb"))
	key := types.NamespacedName{Namespace: ns, Name: "acme"}

	// The first operator, driven by hand: its reconcile stores the action
	// as Pending; the process dies after the dispatcher claimed it, before
	// its POST leaves.
	clock := testingclock.NewFakeClock(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	hc := outbound.NewClient(outbound.Options{})
	hc.Transport = &crashingTransport{cancel: cancel}
	d := &Dispatcher{Client: k8sClient, Accounts: k8sClient, Secrets: k8sClient, Sender: &actions.Sender{Client: hc}, Clock: clock}
	r := &CustomerAccountReconciler{Client: k8sClient, Models: stepModels(t), Clock: clock, Store: sources.NewStore()}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	recorded := account(g, ns, "acme").Status.Actions
	g.Expect(recorded).To(ConsistOf(SatisfyAll(HaveField("Name", "welcome"), HaveField("State", csv1alpha1.ActionPending),
		HaveField("Attempts", int32(0)))))
	g.Expect(holdsPending(account(g, ns, "acme"))).To(BeTrue(), "the delivery controller takes the stored entry")
	_, err = d.dispatch(ctx, key)
	g.Expect(err).To(HaveOccurred())
	g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(SatisfyAll(HaveField("Key", recorded[0].Key),
		HaveField("State", csv1alpha1.ActionPending), HaveField("Attempts", int32(1)), HaveField("Message", "attempt 1 in flight"))))
	keys, _ := rcv.delivered("welcome")
	g.Expect(keys).To(BeEmpty())

	// The restarted operator's delivery controller finds the claimed entry
	// when it starts and, its backoff passed, delivers it under its key,
	// once.
	op := runOperator(t, ns, func(o *Options) { o.Backoff = func(int32) time.Duration { return 0 } })
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(SatisfyAll(
			HaveField("Key", recorded[0].Key), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(2)))))
	}, timeout, poll).Should(Succeed())
	keys, once := rcv.delivered("welcome")
	g.Expect(keys).To(Equal([]string{recorded[0].Key}))
	g.Expect(once).To(BeTrue())

	// Reconciled again: nothing is sent again.
	op.settle(t, g, "acme")
	keys, _ = rcv.delivered("welcome")
	g.Expect(keys).To(HaveLen(1))
}
