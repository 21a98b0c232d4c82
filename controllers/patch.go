package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusPatcher writes an object's status with an update of the status
// subresource, which carries the resourceVersion read as an optimistic
// lock: a newer stored object fails the write with a Conflict instead of
// being overwritten by a computation from a stale copy. The API server
// takes only the status from it, so the fields the lean cache dropped
// (managedFields, the last-applied annotation) are kept as stored; an
// update costs one encoding of the object where a merge patch costs two
// and a diff.
type statusPatcher struct {
	client client.Client
	base   client.Object
}

// newStatusPatcher starts from obj as read.
func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	return &statusPatcher{client: c, base: obj.DeepCopyObject().(client.Object)}
}

// patch writes obj's status when it differs semantically from the base (an
// unchanged world causes no API write), and makes obj, as stored, the new
// base.
func (p *statusPatcher) patch(ctx context.Context, obj client.Object) error {
	if equality.Semantic.DeepEqual(p.base, obj) {
		return nil
	}
	if err := p.client.Status().Update(ctx, obj); err != nil {
		return err
	}
	p.base = obj.DeepCopyObject().(client.Object)
	return nil
}
