package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// statusPatcher writes an object's status as a JSON patch of the status
// subresource that sets the resourceVersion read and replaces the whole
// status:
//   - the resourceVersion is an optimistic lock: a newer stored object fails
//     the write with a Conflict instead of being overwritten by a
//     computation from a stale copy;
//   - the API server takes only the status from it, so the fields the lean
//     cache dropped (managedFields, the last-applied annotation) are kept
//     as stored;
//   - the request carries the status alone, encoded once, with no diff;
//   - the write goes through the metadata client, so the answer is the
//     object's metadata, not the whole object decoded once more: the
//     informer delivers the stored object anyway.
type statusPatcher struct {
	client client.Client
	// base is a copy of the status as read or last written.
	base any
}

// newStatusPatcher starts from obj's status as read.
func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	p := &statusPatcher{client: c}
	if _, deepCopy := statusOf(obj); deepCopy != nil {
		p.base = deepCopy()
	}
	return p
}

// statusOf returns a pointer to obj's status and a function that copies
// it; nil for a kind without a status the operator writes.
func statusOf(obj client.Object) (status any, deepCopy func() any) {
	switch o := obj.(type) {
	case *csv1alpha1.CustomerAccount:
		return &o.Status, func() any { return o.Status.DeepCopy() }
	case *csv1alpha1.SuccessPlan:
		return &o.Status, func() any { return o.Status.DeepCopy() }
	}
	return nil, nil
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patch writes obj's status when it differs semantically from the base (an
// unchanged world causes no API write; only the status is compared, as
// only the status is written), and makes obj's status the new base, and
// the resourceVersion the write stored obj's.
func (p *statusPatcher) patch(ctx context.Context, obj client.Object) error {
	status, deepCopy := statusOf(obj)
	if status == nil {
		return fmt.Errorf("no status to write for %T", obj)
	}
	if equality.Semantic.DeepEqual(p.base, status) {
		return nil
	}
	data, err := json.Marshal([]jsonPatchOp{
		{Op: "replace", Path: "/metadata/resourceVersion", Value: obj.GetResourceVersion()},
		// "add" sets a member whether or not it exists yet (RFC 6902 4.1).
		{Op: "add", Path: "/status", Value: status},
	})
	if err != nil {
		return err
	}
	gvk, err := p.client.GroupVersionKindFor(obj)
	if err != nil {
		return err
	}
	stored := &metav1.PartialObjectMetadata{}
	stored.SetGroupVersionKind(gvk)
	stored.SetNamespace(obj.GetNamespace())
	stored.SetName(obj.GetName())
	if err := p.client.Status().Patch(ctx, stored, client.RawPatch(types.JSONPatchType, data)); err != nil {
		return err
	}
	obj.SetResourceVersion(stored.GetResourceVersion())
	p.base = deepCopy()
	return nil
}
