package controllers

import (
	"context"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
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
// reconciles of an account with a due webhook action, some from a copy
// that has not seen the latest status (before the action was recorded,
// and after it was recorded but before it was delivered): the receiver
// gets exactly one POST per key.
func TestADueActionIsPostedOncePerKeyWhateverTheCache(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	rcv := hookedPlan(t, ns, 2) // welcome and flaky, both due at once
	a := newAccount(ns, "acme", "smb")
	create(t, a)
	key := client.ObjectKeyFromObject(a)
	req := ctrl.Request{NamespacedName: types.NamespacedName(key)}
	fresh := account(g, ns, "acme") // no status yet

	models, err := NewPlanModels()
	g.Expect(err).NotTo(HaveOccurred())
	clock := testingclock.NewFakeClock(epoch)
	snap := &snapshotTransport{key: key}
	hc := outbound.NewClient(outbound.Options{})
	hc.Transport = snap
	newReconciler := func(c client.Client) *CustomerAccountReconciler {
		return &CustomerAccountReconciler{Client: c, Models: models, Clock: clock, Store: sources.NewStore(),
			Secrets: k8sClient, Sender: &actions.Sender{Client: hc}}
	}
	reconcile := func(c client.Client) {
		t.Helper()
		_, err := newReconciler(c).Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
	}

	reconcile(k8sClient)
	g.Expect(snap.snapshot).NotTo(BeNil(), "no delivery left")
	g.Expect(snap.snapshot.Status.Actions).To(HaveEach(HaveField("State", csv1alpha1.ActionPending)))
	for i := 0; i < 5; i++ {
		reconcile(k8sClient)                                             // back to back, current copy
		reconcile(&staleReader{Client: k8sClient, stale: fresh})         // a copy from before the action was recorded
		reconcile(&staleReader{Client: k8sClient, stale: snap.snapshot}) // Pending, before the outcome was written
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
