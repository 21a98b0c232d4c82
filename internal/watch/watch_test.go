package watch

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, namespaces, selector string
		wantNamespaces             []string
		wantSelector               string
		wantErr                    bool
	}{
		{name: "nothing watches everything"},
		{name: "namespaces trimmed, empty ones dropped", namespaces: " a, b,,", wantNamespaces: []string{"a", "b"}},
		{name: "a shard selector", selector: "shard=one", wantSelector: "shard=one"},
		{name: "a set selector", selector: "shard in (one,two)", wantSelector: "shard in (one,two)"},
		{name: "a selector that does not parse", selector: "shard in one", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.namespaces, tc.selector)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(s.Namespaces) != len(tc.wantNamespaces) {
				t.Fatalf("namespaces = %q, want %q", s.Namespaces, tc.wantNamespaces)
			}
			for i := range s.Namespaces {
				if s.Namespaces[i] != tc.wantNamespaces[i] {
					t.Fatalf("namespaces = %q, want %q", s.Namespaces, tc.wantNamespaces)
				}
			}
			got := ""
			if s.Selector != nil {
				got = s.Selector.String()
			}
			if got != tc.wantSelector {
				t.Fatalf("selector = %q, want %q", got, tc.wantSelector)
			}
		})
	}
}

func TestCache(t *testing.T) {
	opts := Scope{}.Cache()
	if opts.DefaultNamespaces != nil || opts.ByObject != nil || opts.DefaultTransform == nil {
		t.Fatalf("the empty scope watches everything through the lean transform: %+v", opts)
	}
	sel, _ := labels.Parse("shard=one")
	opts = Scope{Namespaces: []string{"a", "b"}, Selector: sel}.Cache()
	if len(opts.DefaultNamespaces) != 2 {
		t.Fatalf("namespaces = %v", opts.DefaultNamespaces)
	}
	if len(opts.ByObject) != 2 {
		t.Fatalf("accounts and plans are selected, got %v", opts.ByObject)
	}
	for obj, by := range opts.ByObject {
		if by.Label.String() != "shard=one" {
			t.Fatalf("%T selected by %v", obj, by.Label)
		}
	}
}

func TestLean(t *testing.T) {
	for _, tc := range []struct {
		name            string
		annotations     map[string]string
		wantAnnotations map[string]string
	}{
		{name: "no annotations"},
		{name: "only last-applied", annotations: map[string]string{lastApplied: "{}"}},
		{name: "others kept", annotations: map[string]string{lastApplied: "{}", "team": "emea"},
			wantAnnotations: map[string]string{"team": "emea"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{
				Name: "acme", Annotations: tc.annotations,
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			}}
			out, err := Lean(a)
			if err != nil {
				t.Fatal(err)
			}
			got := out.(*csv1alpha1.CustomerAccount)
			if got.ManagedFields != nil {
				t.Fatalf("managedFields kept: %v", got.ManagedFields)
			}
			if len(got.Annotations) != len(tc.wantAnnotations) {
				t.Fatalf("annotations = %v, want %v", got.Annotations, tc.wantAnnotations)
			}
			for k, v := range tc.wantAnnotations {
				if got.Annotations[k] != v {
					t.Fatalf("annotations = %v, want %v", got.Annotations, tc.wantAnnotations)
				}
			}
		})
	}
	if out, err := Lean("not an object"); err != nil || out != "not an object" {
		t.Fatalf("a non-object passes unchanged, got %v, %v", out, err)
	}
}
