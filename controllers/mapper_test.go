package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// countingMapper counts the mappings asked of a mapper that knows the
// operator's accounts and core Pods.
type countingMapper struct {
	meta.RESTMapper
	asked int
}

func (m *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.asked++
	return m.RESTMapper.RESTMapping(gk, versions...)
}

func TestOwnMappingsKeepsTheOperatorsKinds(t *testing.T) {
	account := csv1alpha1.GroupVersion.WithKind("CustomerAccount")
	pod := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	known := meta.NewDefaultRESTMapper([]schema.GroupVersion{csv1alpha1.GroupVersion, pod.GroupVersion()})
	known.Add(account, meta.RESTScopeNamespace)
	known.Add(pod, meta.RESTScopeNamespace)

	for _, tc := range []struct {
		name string
		gk   schema.GroupKind
		// versions asked; want how many reach the wrapped mapper over
		// three calls, and whether they fail.
		versions []string
		asked    int
		fails    bool
	}{
		{name: "own kind, one version: asked once", gk: account.GroupKind(), versions: []string{account.Version}, asked: 1},
		{name: "own kind, any version: always asked", gk: account.GroupKind(), asked: 3},
		{name: "another group: always asked", gk: pod.GroupKind(), versions: []string{"v1"}, asked: 3},
		{name: "own group, unknown kind: failures are not kept", gk: schema.GroupKind{Group: account.Group, Kind: "Nope"},
			versions: []string{account.Version}, asked: 3, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counting := &countingMapper{RESTMapper: known}
			m := &ownMappings{RESTMapper: counting}
			for range 3 {
				mapping, err := m.RESTMapping(tc.gk, tc.versions...)
				if (err != nil) != tc.fails {
					t.Fatalf("RESTMapping(%v, %v): %v", tc.gk, tc.versions, err)
				}
				if err == nil && mapping.GroupVersionKind.GroupKind() != tc.gk {
					t.Fatalf("RESTMapping(%v) = %v", tc.gk, mapping.GroupVersionKind)
				}
			}
			if counting.asked != tc.asked {
				t.Errorf("the wrapped mapper was asked %d times, want %d", counting.asked, tc.asked)
			}
		})
	}
}
