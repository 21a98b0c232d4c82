package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// createFleet creates n accounts of segment smb, customer-0000 and on,
// with sentiment 5 and the external id of system formatted from idFormat
// and the account's number.
func createFleet(t *testing.T, ns string, n int, system, idFormat string) {
	t.Helper()
	for i := range n {
		a := newAccount(ns, fmt.Sprintf("customer-%04d", i), "smb")
		a.Spec.ExternalIDs = map[string]string{system: fmt.Sprintf(idFormat, i)}
		a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
		create(t, a)
	}
}

// TestABulkHTTPSourceMakesOneRequestPerInterval: a plan of 1,000 accounts
// whose http source is one export for all of them (itemsPath, keyPath):
// the server counts one request per collection, every account is scored
// from its item, and a changed export reaches every account with one more
// request.
func TestABulkHTTPSourceMakesOneRequestPerInterval(t *testing.T) {
	const n = 1000
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	var open, requests atomic.Int64
	open.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, `{"accounts": [`)
		for i := range n {
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, `{"id": "crm-%d", "open": %d}`, i, open.Load())
		}
		fmt.Fprint(w, `]}`)
	}))
	t.Cleanup(srv.Close)

	createFleet(t, ns, n, "crm", "crm-%d")
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "crm",
		HTTP: &csv1alpha1.HTTPSource{URL: srv.URL + "/export", ItemsPath: "{.accounts[*]}", KeyPath: "{.id}"}})
	p.Spec.Measures = append(p.Spec.Measures, csv1alpha1.Measure{Name: "openTickets", Source: "crm", JSONPath: "{.open}",
		Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 20})
	create(t, p)
	interval := p.Spec.GetInterval()

	scored := func(score int32) bool {
		list := &csv1alpha1.CustomerAccountList{}
		if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil || len(list.Items) != n {
			return false
		}
		for _, a := range list.Items {
			if a.Status.Health == nil || a.Status.Health.Score != score {
				return false
			}
		}
		return true
	}
	// 2 open tickets of 10 -> 80; sentiment 5 -> 100: (1600 + 1000) / 30.
	op.collectUntil(g, interval, func() bool { return scored(87) })
	// A collection may still be under way: the counts agree once it is over.
	var pulls int64
	g.Eventually(func(g Gomega) {
		pulls = op.pulls(g, "crm")
		g.Expect(pulls).To(BeNumerically(">=", 1))
		g.Expect(requests.Load()).To(Equal(pulls), "one request per collection")
	}, timeout, poll).Should(Succeed())

	// 8 open tickets -> 20: (400 + 1000) / 30.
	open.Store(8)
	op.stepCollectionWithin(g, interval, fleetTimeout, func() bool { return scored(47) })
	g.Eventually(func(g Gomega) {
		g.Expect(requests.Load()).To(Equal(pulls + 1))
		g.Expect(op.pulls(g, "crm")).To(Equal(pulls + 1))
	}, timeout, poll).Should(Succeed())
}
