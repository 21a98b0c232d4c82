package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// ownMappings keeps the REST mappings of the operator's own kinds, which
// its CRDs fix (resource names and scope), once found: every status write
// goes through the metadata client, which asks the mapper each time, and
// the discovery mapper builds the answer anew from every API group. Other
// groups, and what fails, go to the mapper it wraps.
type ownMappings struct {
	meta.RESTMapper
	found sync.Map // schema.GroupVersionKind -> *meta.RESTMapping
}

// RESTMapping implements meta.RESTMapper.
func (m *ownMappings) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if gk.Group != csv1alpha1.GroupVersion.Group || len(versions) != 1 {
		return m.RESTMapper.RESTMapping(gk, versions...)
	}
	gvk := gk.WithVersion(versions[0])
	if found, ok := m.found.Load(gvk); ok {
		return found.(*meta.RESTMapping), nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err == nil {
		m.found.Store(gvk, mapping)
	}
	return mapping, err
}

// newClient is the manager's client (reads from its cache, writes to the
// API server) with the mappings of the operator's kinds kept.
func newClient(mgr ctrl.Manager) (client.Client, error) {
	return client.New(mgr.GetConfig(), client.Options{
		HTTPClient: mgr.GetHTTPClient(),
		Scheme:     mgr.GetScheme(),
		Mapper:     &ownMappings{RESTMapper: mgr.GetRESTMapper()},
		Cache:      &client.CacheOptions{Reader: mgr.GetCache()},
	})
}
