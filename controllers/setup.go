// Package controllers holds the reconcilers of CustomerAccount and
// SuccessPlan and the collectors that pull their sources. They stay thin:
// inputs are gathered here, decisions are made by the pure packages under
// internal/.
package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"customersuccess.dev/success-operator/internal/sources"
)

// Options configure the reconcilers.
type Options struct {
	// AccountConcurrency and PlanConcurrency bound parallel reconciles.
	AccountConcurrency, PlanConcurrency int
	// Clock is the time source; nil means the real clock.
	Clock clock.WithTicker
	// Client overrides the manager's client, for instance to count writes in
	// tests; nil means the manager's.
	Client client.Client
	// Guard configures outbound HTTP to sources.
	Guard sources.GuardOptions
}

// SetupWithManager registers the reconcilers and the collectors with the
// manager.
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
	store := sources.NewStore()
	// Buffered so that a collection rarely waits for the account queue.
	changed := make(chan event.GenericEvent, 1024)
	collectors := &Collectors{
		Client:  opts.Client,
		Secrets: mgr.GetAPIReader(),
		Store:   store,
		Clock:   opts.Clock,
		Guard:   opts.Guard,
		Changed: changed,
	}
	if err := mgr.Add(collectors); err != nil {
		return err
	}
	if err := (&SuccessPlanReconciler{
		Client:      opts.Client,
		Models:      models,
		Collectors:  collectors,
		Concurrency: opts.PlanConcurrency,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&CustomerAccountReconciler{
		Client:      opts.Client,
		Models:      models,
		Clock:       opts.Clock,
		Store:       store,
		Collectors:  collectors,
		Recorder:    mgr.GetEventRecorder("success-operator"),
		Changed:     changed,
		Concurrency: opts.AccountConcurrency,
	}).SetupWithManager(mgr)
}
