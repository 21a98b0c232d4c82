package controllers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/sources"
)

// staleReader answers Gets of one account with a copy taken earlier, as an
// informer cache that has not yet seen the latest writes does.
type staleReader struct {
	client.Client
	stale *csv1alpha1.CustomerAccount
}

func (s *staleReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if a, ok := obj.(*csv1alpha1.CustomerAccount); ok && key == client.ObjectKeyFromObject(s.stale) {
		s.stale.DeepCopyInto(a)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// snapshotTransport records the account as stored at the moment a
// delivery leaves: the copy a lagging cache would still hold afterwards.
type snapshotTransport struct {
	key      client.ObjectKey
	snapshot *csv1alpha1.CustomerAccount
}

func (s *snapshotTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.snapshot == nil {
		a := &csv1alpha1.CustomerAccount{}
		if err := k8sClient.Get(context.Background(), s.key, a); err != nil {
			return nil, err
		}
		s.snapshot = a
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestADueActionIsPostedOncePerKeyWhateverTheCache forces back-to-back
// reconciles of an account with due webhook actions, each followed by a
// dispatcher pass, some reading a copy that has not seen the latest
// status (from before the actions were recorded, and from after they were
// recorded but before they were delivered): the receiver gets exactly one
// POST per key.
func TestADueActionIsPostedOncePerKeyWhateverTheCache(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	rcv := hookedPlan(t, ns, 2) // welcome and flaky, both due at once
	a := newAccount(ns, "acme", "smb")
	create(t, a)
	key := client.ObjectKeyFromObject(a)
	req := ctrl.Request{NamespacedName: key}
	fresh := account(g, ns, "acme") // no status yet

	models := stepModels(t)
	clock := testingclock.NewFakeClock(epoch)
	snap := &snapshotTransport{key: key}
	hc := outbound.NewClient(outbound.Options{})
	hc.Transport = snap
	// reconcile runs a reconcile that reads through c, then a dispatcher
	// pass whose cache is c too (it reads accounts from the API server).
	reconcile := func(c client.Client) {
		t.Helper()
		d := &Dispatcher{Client: c, Accounts: k8sClient, Secrets: k8sClient, Sender: &actions.Sender{Client: hc}, Clock: clock}
		r := &CustomerAccountReconciler{Client: c, Models: models, Clock: clock, Store: sources.NewStore()}
		_, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		d.prepare()
		_, err = d.dispatch(context.Background(), key)
		g.Expect(err).NotTo(HaveOccurred())
	}

	reconcile(k8sClient)
	g.Expect(snap.snapshot).NotTo(BeNil(), "no delivery left")
	g.Expect(snap.snapshot.Status.Actions).To(HaveEach(HaveField("State", csv1alpha1.ActionPending)))
	for range 5 {
		reconcile(k8sClient)                                             // back to back, current copy
		reconcile(&staleReader{Client: k8sClient, stale: fresh})         // a copy from before the actions were recorded
		reconcile(&staleReader{Client: k8sClient, stale: snap.snapshot}) // Pending, before the outcomes were written
	}

	for _, name := range []string{"welcome", "flaky"} {
		keys, once := rcv.delivered(name)
		g.Expect(keys).To(HaveLen(1), name)
		g.Expect(once).To(BeTrue(), name)
	}
	rcv.mu.Lock()
	g.Expect(rcv.attempts).To(Equal(map[string]int{"welcome": 1, "flaky": 1}))
	rcv.mu.Unlock()
	g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(
		SatisfyAll(HaveField("Name", "welcome"), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(1))),
		SatisfyAll(HaveField("Name", "flaky"), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(1))),
	))
}

// gate is a webhook endpoint that holds every request until the test
// opens it. It counts the requests it holds, the most it held at once, and
// the deliveries it accepted by account.
type gate struct {
	*httptest.Server
	opened chan struct{}
	// open lets every held and later request through.
	open func()

	mu       sync.Mutex
	held     int
	maxHeld  int
	accepted map[string]int
}

func newGate(t *testing.T) *gate {
	gt := &gate{opened: make(chan struct{}), accepted: map[string]int{}}
	gt.open = sync.OnceFunc(func() { close(gt.opened) })
	gt.Server = httptest.NewServer(http.HandlerFunc(gt.serve))
	t.Cleanup(gt.Close)
	t.Cleanup(gt.open) // first: Close waits for the requests it holds
	return gt
}

func (gt *gate) serve(w http.ResponseWriter, req *http.Request) {
	var p actions.Payload
	body, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	gt.mu.Lock()
	gt.held++
	gt.maxHeld = max(gt.maxHeld, gt.held)
	gt.mu.Unlock()
	select {
	case <-gt.opened:
	case <-req.Context().Done():
	}
	gt.mu.Lock()
	defer gt.mu.Unlock()
	gt.held--
	if req.Context().Err() == nil {
		gt.accepted[p.Account]++
		w.WriteHeader(http.StatusAccepted)
	}
}

// holding returns how many requests the gate holds now.
func (gt *gate) holding() int {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	return gt.held
}

// gatePlan returns a plan of segment seg whose first stage has one action,
// welcome, a webhook to url without a signing key.
func gatePlan(ns, name, seg, url string) *csv1alpha1.SuccessPlan {
	p := newPlan(ns, name, seg, 0)
	p.Spec.Stages[0].Actions = []csv1alpha1.Action{{Name: "welcome", Webhook: &csv1alpha1.Webhook{URL: url}}}
	return p
}

// welcomeEntry matches the status.actions of an account that holds the
// welcome action only, in a state after a number of attempts.
func welcomeEntry(state csv1alpha1.ActionState, attempts int32) types.GomegaMatcher {
	return ConsistOf(SatisfyAll(HaveField("Name", "welcome"), HaveField("State", state), HaveField("Attempts", attempts)))
}

func TestDeliveryToASlowReceiverDoesNotHoldUpHealthEvaluation(t *testing.T) {
	g := NewWithT(t)
	// A request to the receiver does not time out within the test: a
	// reconcile that sent would hold its worker until the gate opens.
	op := runOperator(t, newNamespace(t), func(o *Options) { o.Guard.Timeout = 10 * time.Minute })
	ns := op.ns
	gt := newGate(t)
	create(t, gatePlan(ns, "onboarding", "smb", gt.URL), newPlan(ns, "steady", "ent", 0))
	// More accounts wait on the receiver than there are reconcile workers.
	slow := []string{"slow-1", "slow-2", "slow-3"}
	for _, name := range slow {
		create(t, newAccount(ns, name, "smb"))
	}
	g.Eventually(gt.holding, timeout, poll).Should(Equal(len(slow)))

	// Meanwhile another account is scored, and scored again when its
	// signals change.
	other := newAccount(ns, "other", "ent")
	other.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "2"}
	create(t, other)
	score := func(g Gomega) int32 {
		h := account(g, ns, "other").Status.Health
		g.Expect(h).NotTo(BeNil())
		return h.Score
	}
	g.Eventually(score, timeout, poll).Should(Equal(int32(25)))
	setSignal(t, g, ns, "other", "sentiment", "5")
	g.Eventually(score, timeout, poll).Should(Equal(int32(100)))

	// All the while the receiver held every delivery: none has an
	// outcome, each its claimed attempt.
	g.Expect(gt.holding()).To(Equal(len(slow)))
	for _, name := range slow {
		g.Expect(account(g, ns, name).Status.Actions).To(welcomeEntry(csv1alpha1.ActionPending, 1), name)
	}

	gt.open()
	g.Eventually(func(g Gomega) {
		for _, name := range slow {
			g.Expect(account(g, ns, name).Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 1), name)
		}
	}, timeout, poll).Should(Succeed())
	gt.mu.Lock()
	defer gt.mu.Unlock()
	g.Expect(gt.accepted).To(Equal(map[string]int{"slow-1": 1, "slow-2": 1, "slow-3": 1}))
}

func TestDeliveryToABusyHostWaitsWithoutHoldingUpOtherHosts(t *testing.T) {
	g := NewWithT(t)
	op := runOperator(t, newNamespace(t), func(o *Options) {
		o.Guard.Timeout = 10 * time.Minute
		o.DeliveryConcurrency, o.DeliveryPerHost = 4, 1
	})
	ns := op.ns
	gt := newGate(t)
	rcv := hookedPlan(t, ns, 1) // segment smb: welcome, to another host
	create(t, gatePlan(ns, "onboarding", "slow", gt.URL))
	// More accounts wait on the busy host than the dispatcher has workers.
	slow := []string{"slow-1", "slow-2", "slow-3", "slow-4", "slow-5"}
	for _, name := range slow {
		create(t, newAccount(ns, name, "slow"))
	}
	g.Eventually(func(g Gomega) {
		g.Expect(gt.holding()).To(Equal(1))
		claimed := 0
		for _, name := range slow {
			acts := account(g, ns, name).Status.Actions
			g.Expect(acts).To(Or(welcomeEntry(csv1alpha1.ActionPending, 0), welcomeEntry(csv1alpha1.ActionPending, 1)), name)
			claimed += int(acts[0].Attempts)
		}
		g.Expect(claimed).To(Equal(1), "only the attempt in flight is claimed")
	}, timeout, poll).Should(Succeed())

	// The other host is served while the busy one holds its only slot.
	create(t, newAccount(ns, "fast", "smb"))
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "fast").Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 1))
	}, timeout, poll).Should(Succeed())
	keys, once := rcv.delivered("welcome")
	g.Expect(keys).To(HaveLen(1))
	g.Expect(once).To(BeTrue())
	g.Expect(gt.holding()).To(Equal(1))

	// Each slot the busy host frees serves the next account waiting for it.
	gt.open()
	g.Eventually(func(g Gomega) {
		for _, name := range slow {
			g.Expect(account(g, ns, name).Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 1), name)
		}
	}, timeout, poll).Should(Succeed())
	gt.mu.Lock()
	defer gt.mu.Unlock()
	g.Expect(gt.maxHeld).To(Equal(1), "one request at a time to the busy host")
	g.Expect(gt.accepted).To(HaveLen(len(slow)))
	g.Expect(gt.accepted).To(HaveEach(1))
}

// duringSend runs fn while the first request it carries is in flight.
type duringSend struct {
	once sync.Once
	fn   func()
}

func (d *duringSend) RoundTrip(req *http.Request) (*http.Response, error) {
	d.once.Do(d.fn)
	return http.DefaultTransport.RoundTrip(req)
}

// TestDeliveryOutcomeIsRecordedOnceWhenTheAccountChangesDuringTheAttempt
// writes the account's status while its delivery is in flight, so that
// recording the outcome conflicts: the outcome lands once on the entry as
// stored, and only while it is still the same Pending attempt.
func TestDeliveryOutcomeIsRecordedOnceWhenTheAccountChangesDuringTheAttempt(t *testing.T) {
	ns := newNamespace(t)
	rcv := hookedPlan(t, ns, 1) // welcome
	kickoff := csv1alpha1.ActionStatus{Name: "kickoff", Stage: "Onboarding", Key: "k-kickoff",
		State: csv1alpha1.ActionDelivered, At: &metav1.Time{Time: epoch}}
	for _, tc := range []struct {
		name, account string
		// meanwhile changes the stored status during the attempt.
		meanwhile func(*csv1alpha1.CustomerAccountStatus)
		// want matches the stored entries, given the welcome entry's key.
		want   func(key string) types.GomegaMatcher
		events func(key string) []string
		// writes are the dispatcher's status writes: the claim, then the
		// outcome, the conflict included.
		writes int
	}{
		{
			name:    "a reconcile stored another entry: the outcome goes onto the entry as stored",
			account: "acme",
			meanwhile: func(s *csv1alpha1.CustomerAccountStatus) {
				s.Actions = append(s.Actions, kickoff)
			},
			want: func(key string) types.GomegaMatcher {
				return ConsistOf(
					SatisfyAll(HaveField("Key", key), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(1))),
					SatisfyAll(HaveField("Key", kickoff.Key), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(0))),
				)
			},
			events: func(key string) []string {
				return []string{"Normal ActionDelivered Action welcome delivered (key " + key + ")"}
			},
			writes: 3,
		},
		{
			name:    "the attempt's outcome was recorded elsewhere: it is not recorded again",
			account: "initech",
			meanwhile: func(s *csv1alpha1.CustomerAccountStatus) {
				s.Actions[0].State, s.Actions[0].Attempts, s.Actions[0].Message = csv1alpha1.ActionFailed, 1, "recorded elsewhere"
			},
			want: func(key string) types.GomegaMatcher {
				return ConsistOf(SatisfyAll(HaveField("Key", key), HaveField("State", csv1alpha1.ActionFailed),
					HaveField("Attempts", int32(1)), HaveField("Message", "recorded elsewhere")))
			},
			events: func(string) []string { return nil },
			writes: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			name := tc.account
			create(t, newAccount(ns, name, "smb"))
			key := client.ObjectKey{Namespace: ns, Name: name}
			clock := testingclock.NewFakeClock(epoch)
			r := &CustomerAccountReconciler{Client: k8sClient, Models: stepModels(t), Clock: clock, Store: sources.NewStore()}
			_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
			g.Expect(err).NotTo(HaveOccurred())
			recorded := account(g, ns, name).Status.Actions
			g.Expect(recorded).To(welcomeEntry(csv1alpha1.ActionPending, 0))

			hc := outbound.NewClient(outbound.Options{})
			hc.Transport = &duringSend{fn: func() {
				a := account(g, ns, name)
				tc.meanwhile(&a.Status)
				g.Expect(k8sClient.Status().Update(context.Background(), a)).To(Succeed())
			}}
			calls := &callCounter{}
			rec := events.NewFakeRecorder(10)
			obs := newCountingObserver()
			d := &Dispatcher{Client: &countingClient{Client: k8sClient, calls: calls}, Accounts: k8sClient, Secrets: k8sClient,
				Sender: &actions.Sender{Client: hc}, Recorder: rec, Metrics: obs, Clock: clock}
			d.prepare()

			_, err = d.dispatch(context.Background(), key)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(account(g, ns, name).Status.Actions).To(tc.want(recorded[0].Key))
			g.Expect(recordedEvents(rec)).To(Equal(tc.events(recorded[0].Key)))
			g.Expect(calls.get("status", &csv1alpha1.CustomerAccount{}, key)).To(Equal(tc.writes))
			g.Expect(obs.deliveries).To(Equal(map[bool]int{true: 1}))
			g.Expect(rcv.attemptsOf(name, "welcome")).To(Equal(1))
		})
	}
}

func TestDeliveryRetryAfterAFailureUsesTheSameKey(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	rcv := hookedPlan(t, ns, 1) // welcome
	rcv.mu.Lock()
	rcv.failures["welcome"] = 1
	rcv.mu.Unlock()
	create(t, newAccount(ns, "acme", "smb"))

	g.Eventually(func(g Gomega) {
		op.clock.Step(time.Second) // the retry backs off on the operator's clock
		g.Expect(account(g, ns, "acme").Status.Actions).To(welcomeEntry(csv1alpha1.ActionDelivered, 2))
	}, timeout, poll).Should(Succeed())
	acme := account(g, ns, "acme")
	want := actions.Key(string(acme.UID), "Onboarding", acme.Status.StageEnteredAt.Time, "welcome")
	g.Expect(acme.Status.Actions[0].Key).To(Equal(want))
	g.Expect(rcv.keysOf("acme", "welcome")).To(Equal([]string{want, want}))

	// One Event for the delivery; both attempts in the metrics.
	g.Eventually(func(g Gomega) {
		g.Expect(eventsOf(g, ns, "acme", csv1alpha1.ActionDeliveredReason)).To(HaveLen(1))
	}, timeout, poll).Should(Succeed())
	metrics := op.scrape()
	g.Expect(metrics).To(ContainSubstring(`successoperator_webhook_deliveries_total{result="error"} 1`))
	g.Expect(metrics).To(ContainSubstring(`successoperator_webhook_deliveries_total{result="success"} 1`))
}
