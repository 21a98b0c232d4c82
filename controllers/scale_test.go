package controllers

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
	"customersuccess.dev/success-operator/internal/watch"
)

// scoredAccount is newAccount with a sentiment, so that it is scored at
// once.
func scoredAccount(ns, name, seg, sentiment string) *csv1alpha1.CustomerAccount {
	a := newAccount(ns, name, seg)
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": csv1alpha1.Decimal(sentiment)}
	return a
}

// countEvents counts the Events of the namespace.
func countEvents(g Gomega, ns string) int {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	return len(list.Items)
}

// TestRestartOverAnEvaluatedFleetWritesNothing: a new fleet's first
// evaluation creates no Event (a first score and a first stage are no
// transitions a person acts on), and an operator restarted over the
// evaluated fleet re-evaluates every account and plan and writes nothing
// and records no Event.
func TestRestartOverAnEvaluatedFleetWritesNothing(t *testing.T) {
	g := NewWithT(t)
	first := startOperator(t)
	ns := first.ns
	create(t, newPlan(ns, "smb", "smb", 0))
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("acct-%d", i)
		names = append(names, name)
		create(t, scoredAccount(ns, name, "smb", []string{"1", "3", "5"}[i%3]))
	}
	g.Eventually(func(g Gomega) {
		for _, name := range names {
			a := account(g, ns, name)
			g.Expect(a.Status.Health).NotTo(BeNil())
			g.Expect(a.Status.Health.Band).NotTo(BeEmpty())
			g.Expect(a.Status.Stage).To(Equal("Onboarding"))
		}
		p := plan(g, ns, "smb")
		g.Expect(p.Status.Accounts).To(Equal(int32(len(names))))
		g.Expect(p.Status.Bands).To(Equal(csv1alpha1.BandCounts{Green: 2, Yellow: 2, Red: 2}))
		g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
	first.settle(t, g, names...)
	g.Expect(first.accountWrites()).To(BeNumerically(">=", len(names)), "the counter sees the first writes")
	first.stop()
	g.Expect(countEvents(g, ns)).To(BeZero(), "a new fleet's first evaluation records no Event")

	second := runOperator(t, ns)
	// Every account and the plan are reconciled again: the accounts once
	// for the manager's start and twice to settle.
	second.settle(t, g, names...)
	g.Eventually(func() int {
		return second.calls.get("get", &csv1alpha1.SuccessPlan{}, client.ObjectKey{Namespace: ns, Name: "smb"})
	}, timeout, poll).Should(BeNumerically(">=", 1))
	g.Expect(second.accountWrites()).To(BeZero())
	g.Expect(second.planWrites()).To(BeZero())
	g.Expect(countEvents(g, ns)).To(BeZero())
}

// TestShardsServeOnlyTheirOwnObjects runs two managers on one API server
// with disjoint --watch-label-selector shards. Both plans select the same
// segment, so without shards the plan that sorts first would take every
// account; with shards each plan manages its shard's accounts, and neither
// manager writes an object of the other shard.
func TestShardsServeOnlyTheirOwnObjects(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	shard := func(obj client.Object, name string) client.Object {
		l := obj.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l["sharding.customersuccess.dev/key"] = name
		obj.SetLabels(l)
		return obj
	}
	ops := map[string]*operator{}
	for _, name := range []string{"one", "two"} {
		sel, err := labels.Parse("sharding.customersuccess.dev/key=" + name)
		g.Expect(err).NotTo(HaveOccurred())
		ops[name] = runScoped(t, ns, sel)
	}
	create(t, shard(newPlan(ns, "alpha", "smb", 0), "one"), shard(newPlan(ns, "beta", "smb", 0), "two"))
	members := map[string][]string{"alpha": {"a1", "a2"}, "beta": {"b1", "b2", "b3"}}
	for _, name := range members["alpha"] {
		create(t, shard(scoredAccount(ns, name, "smb", "5"), "one"))
	}
	for _, name := range members["beta"] {
		create(t, shard(scoredAccount(ns, name, "smb", "5"), "two"))
	}
	g.Eventually(func(g Gomega) {
		for planName, names := range members {
			for _, name := range names {
				a := account(g, ns, name)
				g.Expect(a.Status.Plan).To(Equal(planName), name)
				g.Expect(a.Status.Health).NotTo(BeNil(), name)
			}
			g.Expect(plan(g, ns, planName).Status.Accounts).To(Equal(int32(len(names))), planName)
		}
	}, timeout, poll).Should(Succeed())

	for shardName, own := range map[string]string{"one": "alpha", "two": "beta"} {
		op := ops[shardName]
		g.Expect(op.calls.get("status", &csv1alpha1.SuccessPlan{}, client.ObjectKey{Namespace: ns, Name: own})).
			To(BeNumerically(">=", 1), "shard %s writes its plan", shardName)
		for planName, names := range members {
			if planName == own {
				continue
			}
			g.Expect(op.calls.get("status", &csv1alpha1.SuccessPlan{}, client.ObjectKey{Namespace: ns, Name: planName})).
				To(BeZero(), "shard %s wrote plan %s", shardName, planName)
			for _, name := range names {
				g.Expect(op.calls.get("status", &csv1alpha1.CustomerAccount{}, client.ObjectKey{Namespace: ns, Name: name})).
					To(BeZero(), "shard %s wrote account %s", shardName, name)
			}
		}
	}
}

// TestTheLeanCacheLosesNothingStored: the cache drops managedFields and
// the last-applied annotation, and the status writes made from cached
// objects leave both as stored.
func TestTheLeanCacheLosesNothingStored(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "smb", "smb", 0))
	a := scoredAccount(ns, "acme", "smb", "5")
	a.Annotations = map[string]string{lastAppliedAnnotation: `{"kind":"CustomerAccount"}`, "team": "emea"}
	create(t, a)
	g.Eventually(func(g Gomega) {
		h := account(g, ns, "acme").Status.Health
		g.Expect(h).NotTo(BeNil())
		g.Expect(h.Band).To(Equal(csv1alpha1.BandGreen))
	}, timeout, poll).Should(Succeed())
	g.Expect(op.accountWrites()).To(BeNumerically(">=", 1))
	stored := account(g, ns, "acme")
	g.Expect(stored.Annotations).To(Equal(a.Annotations))
	g.Expect(stored.ManagedFields).NotTo(BeEmpty())
	g.Expect(stored.Spec).To(Equal(a.Spec))
}

// lastAppliedAnnotation is the annotation kubectl apply keeps.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TestWatchStreamsArriveWithoutManagedFields: the API server's watch
// events reach the manager's decoder without managedFields (LeanStreams),
// and with them otherwise.
func TestWatchStreamsArriveWithoutManagedFields(t *testing.T) {
	ns := testenv.Namespace(t, k8sClient, "lean-")
	create(t, newAccount(ns, "acme", "smb"))
	firstEvent := func(c *rest.Config) string {
		t.Helper()
		hc, err := rest.HTTPClientFor(c)
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("%s/apis/%s/namespaces/%s/customeraccounts?watch=true&timeoutSeconds=10",
			strings.TrimSuffix(c.Host, "/"), csv1alpha1.GroupVersion, ns)
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	plain := firstEvent(cfg)
	if !strings.Contains(plain, `"type":"ADDED"`) || !strings.Contains(plain, `"managedFields":[`) {
		t.Fatalf("the API server sent %s, want an ADDED event with managedFields", plain)
	}
	lean := firstEvent(watch.LeanStreams(cfg))
	if want := string(watch.DropManagedFields([]byte(plain))); lean != want || strings.Contains(lean, "managedFields") {
		t.Errorf("the manager's client received\n%s\nwant\n%s", lean, want)
	}
}
