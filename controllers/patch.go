package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusPatcher writes an object's status as a merge patch against the
// version it read, with that version's resourceVersion as an optimistic
// lock: a newer stored object fails the patch with a Conflict instead of
// being overwritten by a computation from a stale copy.
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
	if err := p.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(p.base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	p.base = obj.DeepCopyObject().(client.Object)
	return nil
}
