package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchStatus writes obj's status as a merge patch against before, and only
// when the two statuses differ semantically: an unchanged world causes no
// API write. With lock the patch carries before's resourceVersion, and a
// newer stored object fails it with a Conflict instead of being
// overwritten by a stale computation.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, oldStatus, newStatus any, lock bool) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
	if lock {
		return c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	return c.Status().Patch(ctx, obj, client.MergeFrom(before))
}
