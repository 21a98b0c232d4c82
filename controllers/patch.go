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
	base   client.Object
}

// newStatusPatcher starts from obj as read.
func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	return &statusPatcher{client: c, base: obj.DeepCopyObject().(client.Object)}
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patch writes obj's status when it differs semantically from the base (an
// unchanged world causes no API write), and makes obj, with the
// resourceVersion the write stored, the new base.
func (p *statusPatcher) patch(ctx context.Context, obj client.Object) error {
	if equality.Semantic.DeepEqual(p.base, obj) {
		return nil
	}
	var status any
	switch o := obj.(type) {
	case *csv1alpha1.CustomerAccount:
		status = &o.Status
	case *csv1alpha1.SuccessPlan:
		status = &o.Status
	default:
		return fmt.Errorf("no status to write for %T", obj)
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
	p.base = obj.DeepCopyObject().(client.Object)
	return nil
}
