// Package controllers holds the reconcilers of CustomerAccount and
// SuccessPlan, the operator's metrics, and the wiring that hands the plans'
// source collection to package collect. The reconcilers stay thin: inputs
// are gathered here, decisions are made by the pure packages under
// internal/.
package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/collect"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/portfolio"
	"customersuccess.dev/success-operator/internal/sources"
)

// Options configure the reconcilers.
type Options struct {
	// AccountConcurrency and PlanConcurrency bound parallel reconciles.
	AccountConcurrency, PlanConcurrency int
	// Clock is the time source; nil means the real clock.
	Clock clock.WithTicker
	// Client overrides the client, for instance to count writes in tests;
	// nil means one like the manager's (see newClient).
	Client client.Client
	// Guard configures outbound HTTP to sources and webhooks.
	Guard outbound.Options
	// Backoff overrides the webhook retry backoff (tests); nil is the default.
	Backoff func(failedAttempts int32) time.Duration
	// DeliveryConcurrency bounds the webhook deliveries in flight, and
	// DeliveryPerHost those to one host; zero means
	// DefaultDeliveryConcurrency and DefaultDeliveryPerHost.
	DeliveryConcurrency, DeliveryPerHost int
	// AccountMetrics adds one health series per account to the metrics.
	AccountMetrics bool
	// Registry receives the operator's metrics; nil means
	// controller-runtime's registry, served on the metrics endpoint.
	Registry prometheus.Registerer
}

// SetupWithManager registers the reconcilers, the collectors and the
// delivery dispatcher with the manager.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	_, err := setup(mgr, opts)
	return err
}

// shared is the state the reconcilers and the collectors share.
type shared struct {
	// Models are the compiled plans, one per plan generation.
	Models *PlanModels
	// Store holds the values the collectors pulled.
	Store *sources.Store
	// Collectors pull the plans' remote sources.
	Collectors *collect.Collectors
}

// setup is SetupWithManager, returning what it wired.
func setup(mgr ctrl.Manager, opts Options) (*shared, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Client == nil {
		c, err := newClient(mgr)
		if err != nil {
			return nil, err
		}
		opts.Client = c
	}
	models, err := NewPlanModels()
	if err != nil {
		return nil, err
	}
	if err := indexPlans(context.Background(), mgr.GetCache()); err != nil {
		return nil, err
	}
	if opts.Registry == nil {
		opts.Registry = ctrlmetrics.Registry
	}
	metrics := NewMetrics(opts.Registry)
	if err := opts.Registry.Register(&PortfolioCollector{Reader: mgr.GetCache(), PerAccount: opts.AccountMetrics}); err != nil {
		return nil, err
	}
	store := sources.NewStore()
	// Buffered so that a collection rarely waits for the account queue.
	changed := make(chan event.GenericEvent, 1024)
	collectors := &collect.Collectors{
		Client:  opts.Client,
		Members: members(mgr.GetCache()),
		Secrets: mgr.GetAPIReader(),
		Store:   store,
		Clock:   opts.Clock,
		Guard:   opts.Guard,
		Changed: changed,
		Metrics: metrics,
	}
	if err := mgr.Add(collectors); err != nil {
		return nil, err
	}
	if err := (&SuccessPlanReconciler{
		Client:      opts.Client,
		Models:      models,
		Collectors:  collectors,
		Book:        portfolio.NewBook(),
		Clock:       opts.Clock,
		Concurrency: opts.PlanConcurrency,
	}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	dispatcher := &Dispatcher{
		Client:      opts.Client,
		Accounts:    mgr.GetAPIReader(),
		Secrets:     mgr.GetAPIReader(),
		Sender:      &actions.Sender{Client: outbound.NewClient(opts.Guard)},
		Recorder:    mgr.GetEventRecorder("success-operator"),
		Metrics:     metrics,
		Clock:       opts.Clock,
		Backoff:     opts.Backoff,
		Concurrency: opts.DeliveryConcurrency,
		PerHost:     opts.DeliveryPerHost,
	}
	if err := dispatcher.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	err = (&CustomerAccountReconciler{
		Client:      opts.Client,
		Models:      models,
		Clock:       opts.Clock,
		Store:       store,
		Collectors:  collectors,
		Recorder:    mgr.GetEventRecorder("success-operator"),
		Changed:     changed,
		Metrics:     metrics,
		Concurrency: opts.AccountConcurrency,
	}).SetupWithManager(mgr)
	return &shared{Models: models, Store: store, Collectors: collectors}, err
}
