// Package demo runs the bundled demo's moving parts: a telemetry simulator
// that Prometheus scrapes, a webhook sink that logs what it receives, and
// the rendering of the demo manifests. The demo program and the end-to-end
// test share it.
package demo

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Ramp is a value moving linearly from From to To over Over, starting when
// the simulator starts.
type Ramp struct {
	From float64         `json:"from"`
	To   float64         `json:"to"`
	Over metav1.Duration `json:"over"`
}

// at returns the ramp's value after elapsed.
func (r Ramp) at(elapsed time.Duration) float64 {
	if r.Over.Duration <= 0 || elapsed >= r.Over.Duration {
		return r.To
	}
	return r.From + (r.To-r.From)*float64(elapsed)/float64(r.Over.Duration)
}

// Profile is the usage of one account, by its telemetry id.
type Profile struct {
	Account     string `json:"account"`
	ActiveUsers Ramp   `json:"activeUsers"`
	Adoption    Ramp   `json:"adoption"`
}

// Telemetry is the simulator's scenario file.
type Telemetry struct {
	Profiles []Profile `json:"profiles"`
	// Customers are the warehouse's and the support desk's.
	Customers []Customer `json:"customers"`
}

// LoadTelemetry reads a scenario file.
func LoadTelemetry(path string) (*Telemetry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{}
	if err := yaml.UnmarshalStrict(data, t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Simulator exposes per-account usage that evolves over time:
// active_users_7d and feature_adoption_ratio, labelled by account, for
// Prometheus; the support desk's export of CSAT per customer; and, synced
// into a PostgreSQL database, the warehouse's tickets and invoices.
type Simulator struct {
	start time.Time
	now   func() time.Time

	mu        sync.Mutex
	profiles  map[string]Profile
	customers []Customer
	overrides map[string]map[string]float64 // account -> metric -> value

	registry *prometheus.Registry
}

// NewSimulator returns a simulator over the scenario, starting now.
func NewSimulator(t *Telemetry, now func() time.Time) *Simulator {
	s := &Simulator{start: now(), now: now, profiles: map[string]Profile{}, customers: t.Customers,
		overrides: map[string]map[string]float64{}, registry: prometheus.NewRegistry()}
	for _, p := range t.Profiles {
		s.profiles[p.Account] = p
	}
	s.registry.MustRegister(s)
	return s
}

// Set pins a metric of an account to a value, replacing its ramp.
func (s *Simulator) Set(account, metric string, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overrides[account] == nil {
		s.overrides[account] = map[string]float64{}
	}
	s.overrides[account][metric] = v
}

// Metric names the simulator exposes.
const (
	MetricActiveUsers = "active_users_7d"
	MetricAdoption    = "feature_adoption_ratio"
)

var (
	descActiveUsers = prometheus.NewDesc(MetricActiveUsers, "Users active over the last 7 days.", []string{"account"}, nil)
	descAdoption    = prometheus.NewDesc(MetricAdoption, "Share of the product's key features in use, 0 to 1.", []string{"account"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Simulator) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActiveUsers
	ch <- descAdoption
}

// Collect implements prometheus.Collector.
func (s *Simulator) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsed := s.now().Sub(s.start)
	for id, p := range s.profiles {
		users, adoption := p.ActiveUsers.at(elapsed), p.Adoption.at(elapsed)
		if v, ok := s.overrides[id][MetricActiveUsers]; ok {
			users = v
		}
		if v, ok := s.overrides[id][MetricAdoption]; ok {
			adoption = v
		}
		ch <- prometheus.MustNewConstMetric(descActiveUsers, prometheus.GaugeValue, float64(int64(users)), id)
		ch <- prometheus.MustNewConstMetric(descAdoption, prometheus.GaugeValue, float64(int64(adoption*100))/100, id)
	}
}

// SupportDeskPath is where Handler serves the support desk's export.
const SupportDeskPath = "/supportdesk/customers"

// Handler serves the metrics on /metrics and the support desk's export on
// SupportDeskPath.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+SupportDeskPath, s.supportDesk)
	return mux
}
