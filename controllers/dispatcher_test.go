package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/outbound"
)

// storedActions reads an account's status.actions as stored, with times in
// UTC to compare with the expected entries.
func storedActions(g Gomega, ns, name string) []csv1alpha1.ActionStatus {
	list := account(g, ns, name).Status.Actions
	for i := range list {
		if list[i].At != nil {
			at := metav1.NewTime(list[i].At.UTC())
			list[i].At = &at
		}
	}
	return list
}

// TestDeliveryPass: one dispatcher pass over an account as stored makes
// one attempt of each due Pending webhook, signed with the key of its
// Secret, and records the outcome: Delivered, or the error and when it
// retries, or Failed after the last attempt. An entry whose action left
// the plan is Failed and one whose audience matches no contact now is
// Skipped, both without an attempt; a suspended account keeps its entries.
func TestDeliveryPass(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"},
		Data: map[string][]byte{"key": []byte("s3cret")}})
	now := epoch
	pending := func(name, key string, attempts int32, ago time.Duration) csv1alpha1.ActionStatus {
		return csv1alpha1.ActionStatus{Name: name, Stage: "Onboarding", Key: key, State: csv1alpha1.ActionPending,
			Attempts: attempts, At: lifecycle.Stamp(now.Add(-ago))}
	}
	outcome := func(name, key string, state csv1alpha1.ActionState, attempts int32, message string) csv1alpha1.ActionStatus {
		return csv1alpha1.ActionStatus{Name: name, Stage: "Onboarding", Key: key, State: state,
			Attempts: attempts, At: lifecycle.Stamp(now), Message: message}
	}
	for i, tc := range []struct {
		name     string
		actions  []csv1alpha1.ActionStatus
		failures map[string]int
		// secret is the Secret the webhooks name; audience their audience.
		secret   string
		audience *csv1alpha1.Audience
		suspend  bool

		want       []csv1alpha1.ActionStatus
		delivered  map[string][]string
		attempts   map[string]int
		retryAfter time.Duration
		outcomes   map[bool]int
		events     []string
	}{
		{
			name:    "an entry in its backoff waits, and its account is served again when the backoff ends",
			actions: []csv1alpha1.ActionStatus{pending("flaky", "k2", 1, 2*time.Second)},
			want:    []csv1alpha1.ActionStatus{pending("flaky", "k2", 1, 2*time.Second)},
			// Backoff(1) is 5s, 2s of which have passed.
			attempts: map[string]int{}, retryAfter: 3 * time.Second, outcomes: map[bool]int{},
		},
		{
			name: "a due webhook is delivered once", actions: []csv1alpha1.ActionStatus{pending("welcome", "k1", 0, time.Minute)},
			want:      []csv1alpha1.ActionStatus{outcome("welcome", "k1", csv1alpha1.ActionDelivered, 1, "")},
			delivered: map[string][]string{"welcome": {"k1"}}, attempts: map[string]int{"welcome": 1},
			outcomes: map[bool]int{true: 1},
			events:   []string{"Normal ActionDelivered Action welcome delivered (key k1)"},
		},
		{
			name:    "only the due entries are attempted",
			actions: []csv1alpha1.ActionStatus{pending("welcome", "k1", 1, 2*time.Second), pending("flaky", "k2", 0, time.Minute)},
			want: []csv1alpha1.ActionStatus{pending("welcome", "k1", 1, 2*time.Second),
				outcome("flaky", "k2", csv1alpha1.ActionDelivered, 1, "")},
			delivered: map[string][]string{"flaky": {"k2"}}, attempts: map[string]int{"flaky": 1},
			retryAfter: 3 * time.Second, outcomes: map[bool]int{true: 1},
			events: []string{"Normal ActionDelivered Action flaky delivered (key k2)"},
		},
		{
			name:    "a failed attempt records the error and retries after the backoff",
			actions: []csv1alpha1.ActionStatus{pending("flaky", "k2", 0, time.Minute)}, failures: map[string]int{"flaky": 1},
			want:     []csv1alpha1.ActionStatus{outcome("flaky", "k2", csv1alpha1.ActionPending, 1, "HTTP 503")},
			attempts: map[string]int{"flaky": 1}, retryAfter: actions.Backoff(1), outcomes: map[bool]int{false: 1},
		},
		{
			name:     "the last attempt failing fails the action, without a retry",
			actions:  []csv1alpha1.ActionStatus{pending("flaky", "k2", actions.MaxAttempts-1, time.Hour)},
			failures: map[string]int{"flaky": 1},
			want:     []csv1alpha1.ActionStatus{outcome("flaky", "k2", csv1alpha1.ActionFailed, actions.MaxAttempts, "HTTP 503")},
			attempts: map[string]int{"flaky": 1}, outcomes: map[bool]int{false: 1},
			events: []string{"Warning ActionFailed Action flaky failed after 5 attempts: HTTP 503"},
		},
		{
			name: "a missing signing Secret sends nothing and retries", secret: "missing-key",
			actions:  []csv1alpha1.ActionStatus{pending("welcome", "k1", 0, time.Minute)},
			want:     []csv1alpha1.ActionStatus{outcome("welcome", "k1", csv1alpha1.ActionPending, 1, "secret missing-key: NotFound")},
			attempts: map[string]int{}, retryAfter: actions.Backoff(1), outcomes: map[bool]int{false: 1},
		},
		{
			name:     "an entry whose action left the plan fails without an attempt",
			actions:  []csv1alpha1.ActionStatus{pending("gone", "k3", 0, time.Minute)},
			want:     []csv1alpha1.ActionStatus{outcome("gone", "k3", csv1alpha1.ActionFailed, 0, "action no longer in the plan")},
			attempts: map[string]int{}, outcomes: map[bool]int{},
		},
		{
			name:     "an entry whose audience matches no contact now is skipped, without an attempt",
			audience: roles(csv1alpha1.RoleBilling),
			actions:  []csv1alpha1.ActionStatus{pending("welcome", "k1", 1, time.Hour)},
			want: []csv1alpha1.ActionStatus{withReason(outcome("welcome", "k1", csv1alpha1.ActionSkipped, 1,
				"audience matches no contact (roles: Billing)"), csv1alpha1.NoMatchingContactReason)},
			attempts: map[string]int{}, outcomes: map[bool]int{},
			events: []string{"Warning NoMatchingContact Action welcome of stage Onboarding skipped: " +
				"audience matches no contact (roles: Billing) (key k1)"},
		},
		{
			name: "a suspended account keeps its entries", suspend: true,
			actions:  []csv1alpha1.ActionStatus{pending("welcome", "k1", 0, time.Minute)},
			want:     []csv1alpha1.ActionStatus{pending("welcome", "k1", 0, time.Minute)},
			attempts: map[string]int{}, outcomes: map[bool]int{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rcv := newReceiver(t, "s3cret")
			for k, v := range tc.failures {
				rcv.failures[k] = v
			}
			p := lifecyclePlan(ns, rcv.URL)
			p.Name = fmt.Sprintf("plan-%d", i)
			for j := range p.Spec.Stages[0].Actions {
				a := &p.Spec.Stages[0].Actions[j]
				a.Audience = tc.audience
				if tc.secret != "" {
					a.Webhook.SecretRef.Name = tc.secret
				}
			}
			create(t, p)
			a := newAccount(ns, fmt.Sprintf("acme-%d", i), "smb")
			a.Spec.Contacts = []csv1alpha1.Contact{ada}
			a.Spec.Suspend = tc.suspend
			create(t, a)
			a.Status = csv1alpha1.CustomerAccountStatus{Plan: p.Name, Actions: tc.actions,
				Health: &csv1alpha1.HealthStatus{Score: 80, Band: csv1alpha1.BandGreen}}
			g.Expect(k8sClient.Status().Update(context.Background(), a)).To(Succeed())
			obs := newCountingObserver()
			rec := events.NewFakeRecorder(10)
			d := &Dispatcher{Client: k8sClient, Accounts: k8sClient, Secrets: k8sClient, Recorder: rec, Metrics: obs,
				Sender: &actions.Sender{Client: outbound.NewClient(outbound.Options{})}, Clock: testingclock.NewFakeClock(now)}
			d.prepare()

			retryAfter, err := d.dispatch(context.Background(), client.ObjectKeyFromObject(a))

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(retryAfter).To(Equal(tc.retryAfter))
			g.Expect(storedActions(g, ns, a.Name)).To(Equal(tc.want))
			for _, name := range []string{"welcome", "flaky"} {
				keys, once := rcv.delivered(name)
				g.Expect(keys).To(Equal(tc.delivered[name]), name)
				g.Expect(once).To(BeTrue(), "each key once, every signature valid")
			}
			rcv.mu.Lock()
			g.Expect(rcv.attempts).To(Equal(tc.attempts))
			rcv.mu.Unlock()
			g.Expect(obs.deliveries).To(Equal(tc.outcomes))
			g.Expect(recordedEvents(rec)).To(Equal(tc.events))
		})
	}
}

// TestHostLimiter: at most limit accounts hold a host's slots, each host
// its own; the others wait in line, once each. A freed slot wakes the
// first account in line; one woken that does not take the slot passes it
// on, and one that took a slot otherwise leaves the line.
func TestHostLimiter(t *testing.T) {
	g := NewWithT(t)
	key := func(name string) types.NamespacedName {
		return types.NamespacedName{Namespace: "customers", Name: name}
	}
	a, b, c, d := key("a"), key("b"), key("c"), key("d")
	h := newHostLimiter(1)

	g.Expect(h.acquire("x", a)).To(BeTrue())
	g.Expect(h.acquire("x", b)).To(BeFalse())
	g.Expect(h.acquire("x", c)).To(BeFalse())
	g.Expect(h.acquire("x", b)).To(BeFalse())
	g.Expect(h.acquire("y", d)).To(BeTrue(), "another host has slots of its own")

	next, ok := h.release("x")
	g.Expect(ok).To(BeTrue())
	g.Expect(next).To(Equal(b), "the first in line, queued once")
	g.Expect(h.finish(a)).To(BeEmpty())
	// b had nothing left to send there: its wake goes on to c.
	g.Expect(h.finish(b)).To(Equal([]types.NamespacedName{c}))
	g.Expect(h.acquire("x", c)).To(BeTrue())
	g.Expect(h.finish(c)).To(BeEmpty())
	_, ok = h.release("x")
	g.Expect(ok).To(BeFalse(), "nobody waits")

	// c took a free slot while b was woken: c leaves the line, b joins it.
	g.Expect(h.acquire("x", a)).To(BeTrue())
	g.Expect(h.acquire("x", b)).To(BeFalse())
	g.Expect(h.acquire("x", c)).To(BeFalse())
	next, _ = h.release("x")
	g.Expect(next).To(Equal(b))
	g.Expect(h.acquire("x", c)).To(BeTrue())
	g.Expect(h.acquire("x", b)).To(BeFalse())
	g.Expect(h.finish(b)).To(BeEmpty(), "b tried the slot: nothing to pass on")
	next, ok = h.release("x")
	g.Expect(ok).To(BeTrue())
	g.Expect(next).To(Equal(b), "c's old place in line is skipped")
	_, ok = h.release("y")
	g.Expect(ok).To(BeFalse())
}

// withReason sets an entry's reason.
func withReason(e csv1alpha1.ActionStatus, reason string) csv1alpha1.ActionStatus {
	e.Reason = reason
	return e
}
