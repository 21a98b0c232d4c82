package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

const (
	timeout = 20 * time.Second
	poll    = 50 * time.Millisecond
)

// newPlan returns a valid plan selecting the accounts labelled segment=seg.
func newPlan(ns, name, seg string, priority int32) *csv1alpha1.SuccessPlan {
	return &csv1alpha1.SuccessPlan{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: csv1alpha1.SuccessPlanSpec{
			AccountSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": seg}},
			Priority:        priority,
			Sources:         []csv1alpha1.Source{{Name: "csm", Static: &csv1alpha1.StaticSource{}}},
			Measures: []csv1alpha1.Measure{{
				Name: "sentiment", Source: "csm", Key: "sentiment",
				Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 10,
			}},
			Stages: []csv1alpha1.Stage{
				{Name: "Onboarding", ExitWhen: "measures.sentiment.value >= 4.0 && stage.days >= 7"},
				{Name: "Adoption", ExitWhen: "health.score >= 70"},
			},
			Signals: csv1alpha1.PlanSignals{AtRisk: "health.scored && health.score < 40"},
		},
	}
}

// newAccount returns an account labelled segment=seg with an MRR of 3000.
func newAccount(ns, name, seg string) *csv1alpha1.CustomerAccount {
	return &csv1alpha1.CustomerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"customersuccess.dev/segment": seg}},
		Spec: csv1alpha1.CustomerAccountSpec{
			DisplayName: name,
			Contract: csv1alpha1.Contract{
				Seats: 50, Currency: "EUR", StartDate: "2026-03-01", RenewalDate: "2027-03-01",
				Revenue: []csv1alpha1.LedgerEntry{
					{Date: "2026-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"},
					{Date: "2026-09-01", Type: csv1alpha1.LedgerExpansion, Amount: "300.50"},
					{Date: "2026-10-01", Type: csv1alpha1.LedgerContraction, Amount: "0.5"},
				},
			},
		},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8sClient.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
}

// account fetches an account.
func account(g Gomega, ns, name string) *csv1alpha1.CustomerAccount {
	a := &csv1alpha1.CustomerAccount{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, a)).To(Succeed())
	return a
}

// plan fetches a plan.
func plan(g Gomega, ns, name string) *csv1alpha1.SuccessPlan {
	p := &csv1alpha1.SuccessPlan{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// condition returns the condition of type t, or an empty one.
func condition(conds []metav1.Condition, t string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// update re-reads obj and applies mutate until the write wins.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8sClient.Update(context.Background(), obj)
	}, timeout, poll).Should(Succeed())
}
