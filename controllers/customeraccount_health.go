package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/sources"
)

// reconcileHealth gathers each measure's latest value (remote ones from
// the Store, static ones from spec.signals) and scores the account with the
// plan's model (evaluate.Measures and evaluate.Health), and sets
// status.health; the result feeds the conditions MetricsAvailable and
// Healthy. It records an Event when the band changes (not for the first
// score), the remote measures
// the evaluation still waits for, the normalize expressions that failed,
// and when the result changes by itself.
func (r *CustomerAccountReconciler) reconcileHealth(_ context.Context, s *accountScope) (stepResult, error) {
	acct, plan := s.acct, s.plan
	planKey := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	prev := acct.Status.Health

	// A measure not pulled since the operator started counts with the value
	// the status recorded: a restart re-evaluates to the same status.
	recorded := evaluate.Recorded(acct, s.now)
	in := evaluate.Measures(s.account(), plan, s.model, func(measure string) (health.Observation, bool) {
		if obs, ok := r.Store.Get(planKey, acct.Name, measure); ok {
			return obs, true
		}
		return recorded(measure)
	})
	if len(in.Awaited) > 0 {
		s.out.waiting = "Waiting for the first values of " + strings.Join(in.Awaited, ", ")
		if r.Collectors != nil {
			r.Collectors.Wake(planKey, sources.Target{Name: acct.Name, Namespace: acct.Namespace, ExternalIDs: acct.Spec.ExternalIDs})
		}
	}
	res := evaluate.Health(s.now, plan, in.Measures, prev)
	status := res.Status
	acct.Status.Health = &status
	s.health = &res
	s.requeueAt(res.NextChange)

	s.bandChanged = res.Scored && (prev == nil || prev.Band != status.Band)
	if s.bandChanged && prev != nil && prev.Band != "" {
		// The first score is no change a person acts on: no Event.
		s.record(bandChangeEvent(prev, &status))
	}
	s.failed = append(s.failed, in.NormalizeErrors()...)
	return proceed, nil
}

// account is the account as the pure evaluation reads it, its expression
// variable built once per reconcile: the steps that read it run after
// reconcileRevenue set the MRR, and change only the status, which the
// variable does not read.
func (s *accountScope) account() evaluate.Account {
	a := evaluate.Account{Object: s.acct, MRR: s.mrr, Now: s.now}
	if s.accountVar == nil {
		s.accountVar = a.AccountVar()
	}
	a.Var = s.accountVar
	return a
}

// bandChangeEvent is the Event of a change from a band to another;
// evaluate adds the history entry once the stage is known.
func bandChangeEvent(prev, cur *csv1alpha1.HealthStatus) *accountEvent {
	eventType := corev1.EventTypeNormal
	if health.Rank(cur.Band) < health.Rank(prev.Band) {
		eventType = corev1.EventTypeWarning
	}
	return &accountEvent{eventType, csv1alpha1.BandChangedReason, eventAction("Score", string(prev.Band), string(cur.Band)),
		fmt.Sprintf("Health band %s -> %s (score %d)", prev.Band, cur.Band, cur.Score)}
}

// timeOf returns the time of t, zero when t is nil.
func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
