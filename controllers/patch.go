package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusPatcher writes an object's status as merge patches against the
// last version it read or wrote, one after another (a serial patcher): a
// checkpoint in the middle of a reconcile moves the base, so that the final
// patch carries only what changed since.
type statusPatcher struct {
	client client.Client
	base   client.Object
}

// newStatusPatcher starts from obj as read.
func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	return &statusPatcher{client: c, base: obj.DeepCopyObject().(client.Object)}
}

// patchOptions say how one status patch is written.
type patchOptions struct {
	// lock carries the base's resourceVersion: a newer stored object fails
	// the patch with a Conflict instead of being overwritten by a stale
	// computation.
	lock bool
	// always writes even when nothing changed; with lock, the API server
	// then proves that the base is the latest version.
	always bool
}

// patch writes obj's status when it differs semantically from the base (an
// unchanged world causes no API write), and makes obj, as stored, the new
// base.
func (p *statusPatcher) patch(ctx context.Context, obj client.Object, o patchOptions) error {
	if !o.always && equality.Semantic.DeepEqual(p.base, obj) {
		return nil
	}
	mergeFrom := client.MergeFrom(p.base)
	if o.lock {
		mergeFrom = client.MergeFromWithOptions(p.base, client.MergeFromWithOptimisticLock{})
	}
	if err := p.client.Status().Patch(ctx, obj, mergeFrom); err != nil {
		return err
	}
	p.base = obj.DeepCopyObject().(client.Object)
	return nil
}
