package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Observer records what reconciles did.
type Observer interface {
	// ObserveEvaluation counts one account evaluation.
	ObserveEvaluation(ok bool)
	// ObserveDelivery counts one webhook delivery attempt.
	ObserveDelivery(ok bool)
}

// Metrics are the operator's own health metrics: source requests,
// evaluations and webhook deliveries.
type Metrics struct {
	sourceDuration *prometheus.HistogramVec
	sourceRequests *prometheus.CounterVec
	evaluations    *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sourceDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "successoperator_source_pull_duration_seconds",
			Help:    "Duration of one pull of one measure for all the accounts of a plan, by source type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}, []string{"namespace", "plan", "source", "source_type"}),
		sourceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "successoperator_source_values_total",
			Help: "Account values pulled from sources, by source type and result (success or error).",
		}, []string{"namespace", "plan", "source", "source_type", "result"}),
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "successoperator_evaluations_total",
			Help: "Account evaluations, by result (success or error).",
		}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "successoperator_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by result (success or error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.sourceDuration, m.sourceRequests, m.evaluations, m.deliveries)
	return m
}

func result(ok bool) string {
	if ok {
		return "success"
	}
	return "error"
}

// ObservePull implements SourceObserver.
func (m *Metrics) ObservePull(plan types.NamespacedName, source, sourceType string, d time.Duration, failed, total int) {
	m.sourceDuration.WithLabelValues(plan.Namespace, plan.Name, source, sourceType).Observe(d.Seconds())
	m.sourceRequests.WithLabelValues(plan.Namespace, plan.Name, source, sourceType, "success").Add(float64(total - failed))
	m.sourceRequests.WithLabelValues(plan.Namespace, plan.Name, source, sourceType, "error").Add(float64(failed))
}

// ForgetPlan drops the source series of a deleted plan.
func (m *Metrics) ForgetPlan(plan types.NamespacedName) {
	match := prometheus.Labels{"namespace": plan.Namespace, "plan": plan.Name}
	m.sourceDuration.DeletePartialMatch(match)
	m.sourceRequests.DeletePartialMatch(match)
}

// ObserveEvaluation implements Observer.
func (m *Metrics) ObserveEvaluation(ok bool) { m.evaluations.WithLabelValues(result(ok)).Inc() }

// ObserveDelivery implements Observer.
func (m *Metrics) ObserveDelivery(ok bool) { m.deliveries.WithLabelValues(result(ok)).Inc() }
