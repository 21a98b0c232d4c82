// Package watch says what a manager watches and how lean its cache is: the
// namespaces it is restricted to (--watch-namespaces), the shard label
// selector of its accounts and plans (--watch-label-selector), and a
// transform that drops from every cached object what the operator never
// reads.
package watch

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// lastApplied is the annotation kubectl apply writes: a second copy of the
// object's spec that the operator never reads.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Scope is what one manager watches.
type Scope struct {
	// Namespaces restricts the manager to these namespaces; empty watches
	// all.
	Namespaces []string
	// Selector restricts the CustomerAccounts and SuccessPlans the manager
	// sees to those it matches (a shard); nil sees all.
	Selector labels.Selector
}

// Parse reads the values of --watch-namespaces (comma-separated) and
// --watch-label-selector (a label selector).
func Parse(namespaces, selector string) (Scope, error) {
	var s Scope
	for _, ns := range strings.Split(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			s.Namespaces = append(s.Namespaces, ns)
		}
	}
	if strings.TrimSpace(selector) != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return Scope{}, fmt.Errorf("--watch-label-selector: %w", err)
		}
		s.Selector = sel
	}
	return s, nil
}

// Cache returns the manager cache options of the scope, with the lean
// transform on every object.
func (s Scope) Cache() cache.Options {
	opts := cache.Options{DefaultTransform: Lean}
	if len(s.Namespaces) > 0 {
		opts.DefaultNamespaces = make(map[string]cache.Config, len(s.Namespaces))
		for _, ns := range s.Namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if s.Selector != nil && !s.Selector.Empty() {
		opts.ByObject = map[client.Object]cache.ByObject{
			&csv1alpha1.CustomerAccount{}: {Label: s.Selector},
			&csv1alpha1.SuccessPlan{}:     {Label: s.Selector},
		}
	}
	return opts
}

// Lean drops managedFields and the last-applied annotation from an object
// before the cache stores it: together they are often larger than the rest
// of the object, and the operator reads neither (status is written with
// merge patches, not server-side apply).
func Lean(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		// Not an object (a tombstone): keep it as it is.
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[lastApplied]; ok {
			delete(a, lastApplied)
			if len(a) == 0 {
				a = nil
			}
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}
