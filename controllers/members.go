package controllers

import (
	"context"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/collect"
)

// planIndex is the account informer's index on status.plan. Its keys are
// "namespace/plan", and "namespace/" for the accounts not resolved yet.
const planIndex = "customersuccess.dev/plan"

// planIndexKey is the key of planIndex for the accounts of namespace ns
// whose status.plan is plan.
func planIndexKey(ns, plan string) string { return ns + "/" + plan }

// indexPlans adds planIndex to the cache's account informer.
func indexPlans(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &csv1alpha1.CustomerAccount{}, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{planIndex: func(obj any) ([]string, error) {
		a, ok := obj.(*csv1alpha1.CustomerAccount)
		if !ok {
			return nil, nil
		}
		return []string{planIndexKey(a.Namespace, a.Status.Plan)}, nil
	}})
}

// members reads the accounts of a plan, and those not resolved yet, from
// the cache, for the collectors. Where the account informer has an indexer
// of its own (a cache of all namespaces), they are the objects planIndex
// holds, the cache's own pointers: a collection of 100,000 accounts copies
// none. A cache of several namespaces has one informer per namespace
// behind an informer without an indexer; there the namespace is listed
// once (without deep copies) and split by status.plan.
func members(c cache.Cache) collect.Members {
	return func(ctx context.Context, ns, plan string) (managed, unresolved []*csv1alpha1.CustomerAccount, err error) {
		inf, err := c.GetInformer(ctx, &csv1alpha1.CustomerAccount{})
		if err != nil {
			return nil, nil, err
		}
		if indexed, ok := inf.(interface{ GetIndexer() toolscache.Indexer }); ok {
			idx := indexed.GetIndexer()
			if managed, err = byIndex(idx, ns, plan); err == nil {
				unresolved, err = byIndex(idx, ns, "")
			}
			return managed, unresolved, err
		}
		list := &csv1alpha1.CustomerAccountList{}
		if err := c.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, err
		}
		for i := range list.Items {
			switch a := &list.Items[i]; a.Status.Plan {
			case plan:
				managed = append(managed, a)
			case "":
				unresolved = append(unresolved, a)
			}
		}
		return managed, unresolved, nil
	}
}

// byIndex returns the accounts of namespace ns whose status.plan is plan,
// as planIndex holds them.
func byIndex(idx toolscache.Indexer, ns, plan string) ([]*csv1alpha1.CustomerAccount, error) {
	objs, err := idx.ByIndex(planIndex, planIndexKey(ns, plan))
	if err != nil {
		return nil, err
	}
	out := make([]*csv1alpha1.CustomerAccount, 0, len(objs))
	for _, o := range objs {
		if a, ok := o.(*csv1alpha1.CustomerAccount); ok {
			out = append(out, a)
		}
	}
	return out, nil
}
