// Package controllers holds the reconcilers of CustomerAccount and
// SuccessPlan. They stay thin: inputs are gathered here, decisions are made
// by the pure packages under internal/.
package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configure the reconcilers.
type Options struct {
	// AccountConcurrency and PlanConcurrency bound parallel reconciles.
	AccountConcurrency, PlanConcurrency int
	// Clock is the time source; nil means the real clock.
	Clock clock.Clock
	// Client overrides the manager's client, for instance to count writes in
	// tests; nil means the manager's.
	Client client.Client
}

// SetupWithManager registers both reconcilers with the manager.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Client == nil {
		opts.Client = mgr.GetClient()
	}
	models, err := NewPlanModels()
	if err != nil {
		return err
	}
	if err := (&SuccessPlanReconciler{
		Client:      opts.Client,
		Models:      models,
		Concurrency: opts.PlanConcurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&CustomerAccountReconciler{
		Client:      opts.Client,
		Models:      models,
		Clock:       opts.Clock,
		Concurrency: opts.AccountConcurrency,
	}).SetupWithManager(mgr)
}
