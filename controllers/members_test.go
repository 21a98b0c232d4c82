package controllers

import (
	"context"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	toolscache "k8s.io/client-go/tools/cache"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
	"customersuccess.dev/success-operator/internal/watch"
)

// TestMembersReadThePlanIndex: the accounts the collectors read for a plan
// are those whose status.plan names it, and those without one, in the
// plan's namespace only; read from planIndex in a cache of all
// namespaces, and from a filtered list in a cache of several namespaces,
// whose informer has no indexer.
func TestMembersReadThePlanIndex(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	plans := map[string]string{"a1": "smb", "a2": "smb", "a3": "ent", "a4": ""}
	for name, plan := range plans {
		a := newAccount(ns, name, "none")
		create(t, a)
		if plan != "" {
			a.Status.Plan = plan
			if err := k8sClient.Status().Update(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := newAccount(other, "b1", "none")
	create(t, b)
	b.Status.Plan = "smb"
	if err := k8sClient.Status().Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		scope   watch.Scope
		indexed bool
	}{
		{"all namespaces", watch.Scope{}, true},
		{"several namespaces", watch.Scope{Namespaces: []string{ns, other}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			mgr := testenv.NewScopedManager(t, cfg, tc.scope)
			g.Expect(indexPlans(ctx, mgr.GetCache())).To(Succeed())
			stop := testenv.StartManager(t, mgr)
			defer stop()
			inf, err := mgr.GetCache().GetInformer(ctx, &csv1alpha1.CustomerAccount{})
			g.Expect(err).NotTo(HaveOccurred())
			_, indexed := inf.(interface{ GetIndexer() toolscache.Indexer })
			g.Expect(indexed).To(Equal(tc.indexed), "the informer has an indexer")

			read := members(mgr.GetCache())
			names := func(accts []*csv1alpha1.CustomerAccount) []string {
				var out []string
				for _, a := range accts {
					out = append(out, a.Name)
				}
				slices.Sort(out)
				return out
			}
			g.Eventually(func(g Gomega) {
				for plan, want := range map[string][]string{"smb": {"a1", "a2"}, "ent": {"a3"}, "gone": nil} {
					managed, unresolved, err := read(ctx, ns, plan)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(names(managed)).To(Equal(want), "the accounts of plan %q", plan)
					g.Expect(names(unresolved)).To(Equal([]string{"a4"}), "the accounts without a plan")
				}
			}, timeout, poll).Should(Succeed())
		})
	}
}
