package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// TestAnSQLSourceScoresTheFleetWithOneQueryPerMeasure: a plan of 1,000
// accounts with three measures of a PostgreSQL warehouse is scored with
// one query per measure per collection, counted by pg_stat_statements.
// Each fault fails only its own measures, and the accounts stay scored by
// the others: a text column, a query past the statement timeout, and the
// server down.
func TestAnSQLSourceScoresTheFleetWithOneQueryPerMeasure(t *testing.T) {
	const n = 1000
	g := NewWithT(t)
	ctx := context.Background()
	pg, err := testenv.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	g.Expect(pg.Exec(ctx, "postgres", "CREATE DATABASE warehouse", "CREATE ROLE cs_reader LOGIN PASSWORD 'reader-pw'")).To(Succeed())
	g.Expect(pg.Exec(ctx, "warehouse",
		"CREATE EXTENSION pg_stat_statements",
		"CREATE TABLE tickets (account_id text PRIMARY KEY, open integer, satisfaction text)",
		"CREATE TABLE invoices (account_id text PRIMARY KEY, overdue_days integer)",
		"CREATE TABLE knobs (delay double precision)",
		"INSERT INTO knobs VALUES (0)",
		fmt.Sprintf("INSERT INTO tickets SELECT 'acct-' || i, 2, 'high' FROM generate_series(0, %d) i", n-1),
		fmt.Sprintf("INSERT INTO invoices SELECT 'acct-' || i, 0 FROM generate_series(0, %d) i", n-1),
		"GRANT SELECT ON tickets, invoices, knobs TO cs_reader",
	)).To(Succeed())

	op := startOperator(t)
	ns := op.ns
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "warehouse"},
		Data: map[string][]byte{"dsn": []byte(strings.Replace(pg.DSN("cs_reader", "x", "warehouse"), ":x@", "@", 1)), "password": []byte("reader-pw")}})
	createFleet(t, ns, n, "warehouse", "acct-%d")
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "warehouse",
		SQL: &csv1alpha1.SQLSource{SecretRef: csv1alpha1.LocalObjectReference{Name: "warehouse"}, Timeout: &metav1.Duration{Duration: time.Second}}})
	p.Spec.Measures = append(p.Spec.Measures,
		csv1alpha1.Measure{Name: "openTickets", Source: "warehouse", Query: "SELECT account_id, open FROM tickets",
			Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 20},
		csv1alpha1.Measure{Name: "overdue", Source: "warehouse",
			Query:      "SELECT account_id, overdue_days FROM invoices, knobs WHERE pg_sleep(knobs.delay) IS NOT NULL",
			Thresholds: csv1alpha1.Thresholds{Bad: 60, Good: 0}, Weight: 30},
		// A text column: an error of this measure only.
		csv1alpha1.Measure{Name: "satisfaction", Source: "warehouse", Query: "SELECT account_id, satisfaction FROM tickets",
			Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 5}, Weight: 10})
	create(t, p)
	interval := p.Spec.GetInterval()

	// every reports whether every account's measures are as want says: a
	// value, or an error containing the text; and the score.
	type state struct {
		value, err string
	}
	every := func(score int32, want map[string]state) bool {
		list := &csv1alpha1.CustomerAccountList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err != nil || len(list.Items) != n {
			return false
		}
		for _, a := range list.Items {
			h := a.Status.Health
			if h == nil || h.Score != score {
				return false
			}
			for _, m := range h.Measures {
				w, ok := want[m.Name]
				if ok && (string(m.Value) != w.value || !strings.Contains(m.Error, w.err) || (w.err == "") != (m.Error == "")) {
					return false
				}
			}
		}
		return true
	}

	// openTickets 2 -> 80, overdue 0 -> 100, sentiment 5 -> 100, over the
	// weights that have values: (80*20 + 100*30 + 100*10) / 60.
	healthy := map[string]state{"openTickets": {value: "2"}, "overdue": {value: "0"}, "sentiment": {value: "5"},
		"satisfaction": {err: "value is not a number"}}
	op.collectUntil(g, interval, func() bool { return every(93, healthy) })
	// A collection may still be under way: the counts agree once it is over.
	g.Eventually(func(g Gomega) {
		pulls := op.pulls(g, "warehouse")
		tickets, err := pg.Calls(ctx, "warehouse", "open FROM tickets")
		g.Expect(err).NotTo(HaveOccurred())
		invoices, err := pg.Calls(ctx, "warehouse", "FROM invoices")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pulls%3).To(BeZero(), "a collection pulls the three measures")
		g.Expect(tickets).To(Equal(pulls/3), "one query per measure per collection, for 1,000 accounts")
		g.Expect(invoices).To(Equal(pulls / 3))
	}, timeout, poll).Should(Succeed())

	// A query past its statement timeout fails overdue alone:
	// (80*20 + 100*10) / 30.
	g.Expect(pg.Exec(ctx, "warehouse", "UPDATE knobs SET delay = 5")).To(Succeed())
	slow := map[string]state{"openTickets": {value: "2"}, "overdue": {value: "", err: "statement timeout"}, "sentiment": {value: "5"}}
	op.stepCollectionWithin(g, interval, fleetTimeout, func() bool { return every(87, slow) })
	g.Expect(pg.Exec(ctx, "warehouse", "UPDATE knobs SET delay = 0")).To(Succeed())
	op.stepCollectionWithin(g, interval, fleetTimeout, func() bool { return every(93, healthy) })

	// The server down fails the warehouse's measures; sentiment still
	// scores every account.
	g.Expect(pg.Stop()).To(Succeed())
	down := map[string]state{"openTickets": {err: "connection refused"}, "overdue": {err: "connection refused"},
		"satisfaction": {err: "connection refused"}, "sentiment": {value: "5"}}
	op.stepCollectionWithin(g, interval, fleetTimeout, func() bool { return every(100, down) })
}
