package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// ticketServer serves {"open": N} for every account, N set by the test, and
// counts the requests.
type ticketServer struct {
	*httptest.Server
	open     atomic.Int64
	requests atomic.Int64
}

func newTicketServer(t *testing.T, open int64) *ticketServer {
	ts := &ticketServer{}
	ts.open.Store(open)
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ts.requests.Add(1)
		fmt.Fprintf(w, `{"open": %d}`, ts.open.Load())
	}))
	t.Cleanup(ts.Close)
	return ts
}

// ticketPlan is newPlan with a remote measure: open tickets from url.
func ticketPlan(ns, url string) *csv1alpha1.SuccessPlan {
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "support",
		HTTP: &csv1alpha1.HTTPSource{URL: url + "/accounts/{{ .Name }}"}})
	p.Spec.Measures = append(p.Spec.Measures, csv1alpha1.Measure{Name: "openTickets", Source: "support", JSONPath: "{.open}",
		Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 20})
	return p
}

// cached reports whether a model of the plan is kept.
func (p *PlanModels) cached(key types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.models[key]
	return ok
}

// TestADeletedPlanIsForgotten: deleting a plan stops its collector and
// drops its compiled model, its collected values and its metrics.
func TestADeletedPlanIsForgotten(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	srv := newTicketServer(t, 2)
	p := ticketPlan(ns, srv.URL)
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	create(t, p, a)
	key := types.NamespacedName{Namespace: ns, Name: "smb"}
	sourceSeries := fmt.Sprintf(`successoperator_source_values_total{namespace=%q,plan="smb"`, ns)
	planSeries := fmt.Sprintf(`successoperator_plan_accounts{namespace=%q,plan="smb"}`, ns)
	g.Eventually(func(g Gomega) {
		h := account(g, ns, "acme").Status.Health
		g.Expect(h).NotTo(BeNil())
		// 2 open tickets of 10 -> 80; sentiment 5 -> 100: (1600 + 1000) / 30.
		g.Expect(h.Score).To(Equal(int32(87)))
		g.Expect(op.scrape()).To(And(ContainSubstring(sourceSeries), ContainSubstring(planSeries)))
	}, timeout, poll).Should(Succeed())
	g.Expect(op.shared.Models.cached(key)).To(BeTrue())
	_, running := op.shared.Collectors.Running(key)
	g.Expect(running).To(BeTrue())
	_, stored := op.shared.Store.Get(key, "acme", "openTickets")
	g.Expect(stored).To(BeTrue())

	g.Expect(k8sClient.Delete(context.Background(), p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		_, running := op.shared.Collectors.Running(key)
		g.Expect(running).To(BeFalse(), "collector")
		g.Expect(op.shared.Models.cached(key)).To(BeFalse(), "model")
		_, stored := op.shared.Store.Get(key, "acme", "openTickets")
		g.Expect(stored).To(BeFalse(), "values")
		g.Expect(op.scrape()).NotTo(Or(ContainSubstring(sourceSeries), ContainSubstring(planSeries)), "metrics")
		g.Expect(condition(account(g, ns, "acme").Status.Conditions, csv1alpha1.ReadyCondition).Reason).
			To(Equal(csv1alpha1.NoPlanReason))
	}, timeout, poll).Should(Succeed())
}

// TestANewPlanGenerationReplacesTheCollector: a changed plan gets a
// collector of its new generation, which pulls with the new spec.
func TestANewPlanGenerationReplacesTheCollector(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	first, second := newTicketServer(t, 2), newTicketServer(t, 8)
	p := ticketPlan(ns, first.URL)
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	create(t, p, a)
	key := types.NamespacedName{Namespace: ns, Name: "smb"}
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Health).To(HaveField("Score", int32(87)))
	}, timeout, poll).Should(Succeed())
	gen, _ := op.shared.Collectors.Running(key)
	g.Expect(gen).To(Equal(plan(g, ns, "smb").Generation))

	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) {
		p.Spec.Sources[1].HTTP.URL = second.URL + "/accounts/{{ .Name }}"
	})
	g.Eventually(func(g Gomega) {
		current := plan(g, ns, "smb")
		gen, running := op.shared.Collectors.Running(key)
		g.Expect(running).To(BeTrue())
		g.Expect(gen).To(Equal(current.Generation))
		// 8 open tickets of 10 -> 20; sentiment 5 -> 100: (400 + 1000) / 30.
		h := account(g, ns, "acme").Status.Health
		g.Expect(h.Score).To(Equal(int32(47)))
		g.Expect(h.PlanGeneration).To(Equal(current.Generation))
	}, timeout, poll).Should(Succeed())
	// The old generation's collector is gone: the first source is not
	// asked again.
	asked := first.requests.Load()
	op.stepCollection(g, p.Spec.GetInterval(), func() bool { return second.requests.Load() >= 2 })
	op.awaitCollectors(g)
	g.Expect(first.requests.Load()).To(Equal(asked))
}

// TestTransientListFailuresAreRetried: reads that fail for a while (an API
// server briefly unavailable) are retried until the account and the plan
// are evaluated with the plan's new generation.
func TestTransientListFailuresAreRetried(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	create(t, newPlan(ns, "smb", "smb", 0), a)
	evaluated := func(stages map[string]int32) {
		g.Eventually(func(g Gomega) {
			p := plan(g, ns, "smb")
			a := account(g, ns, "acme")
			g.Expect(condition(a.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(a.Status.Health).To(HaveField("PlanGeneration", p.Generation))
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.Accounts).To(Equal(int32(1)))
			g.Expect(p.Status.Stages).To(Equal(stages))
			g.Expect(p.Status.MRR).To(Equal(csv1alpha1.Decimal("3000")))
			g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}, timeout, poll).Should(Succeed())
	}
	evaluated(map[string]int32{"Onboarding": 1, "Adoption": 0, csv1alpha1.StageChurned: 0})

	// The account reconciler lists the plans to resolve the account's plan;
	// the plan reconciler reads no list (its portfolio comes from the
	// account events).
	op.calls.failNextLists(&csv1alpha1.SuccessPlanList{}, 3)
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) {
		p.Spec.Stages = append(p.Spec.Stages, csv1alpha1.Stage{Name: "Renewal"})
	})
	evaluated(map[string]int32{"Onboarding": 1, "Adoption": 0, "Renewal": 0, csv1alpha1.StageChurned: 0})
	g.Expect(op.calls.get("failed list", &csv1alpha1.SuccessPlanList{}, client.ObjectKey{})).To(Equal(3))
}
