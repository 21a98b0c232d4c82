package testenv

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
)

// TestPrometheusScrapesExporter runs the real server against an in-process
// exporter and reads the exporter's values back through the query API.
func TestPrometheusScrapesExporter(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}

	registry := prometheus.NewRegistry()
	activeUsers := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "active_users_7d",
		Help: "Users active in the last 7 days.",
	}, []string{"account"})
	registry.MustRegister(activeUsers)
	activeUsers.WithLabelValues("acme").Set(42)
	activeUsers.WithLabelValues("globex").Set(7)
	exporter := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	defer exporter.Close()

	prom, err := StartPrometheus(root, []string{strings.TrimPrefix(exporter.URL, "http://")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := prom.Stop(); err != nil {
			t.Error(err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const expr = "max by (account) (active_users_7d)"
	if err := prom.WaitForSeries(ctx, expr, 2); err != nil {
		t.Fatal(err)
	}

	value, warnings, _, err := prom.API().Query(ctx, expr, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	vector, ok := value.(model.Vector)
	if !ok {
		t.Fatalf("query returned a %s, not a vector", value.Type())
	}
	got := map[string]float64{}
	for _, sample := range vector {
		got[string(sample.Metric["account"])] = float64(sample.Value)
	}
	want := map[string]float64{"acme": 42, "globex": 7}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for account, v := range want {
		if got[account] != v {
			t.Errorf("account %s: got %v, want %v", account, got[account], v)
		}
	}
}

// TestStartPrometheusNamesMakeTarget checks the error for a missing binary.
func TestStartPrometheusNamesMakeTarget(t *testing.T) {
	_, err := StartPrometheus(t.TempDir(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "make prometheus") {
		t.Fatalf("got %v, want an error naming `make prometheus`", err)
	}
}

// TestPrometheusEvaluatesRuleFiles loads the rule groups of a
// PrometheusRule manifest and watches the server evaluate them: an alert
// with a long for: is pending, one without fires, one whose expression
// matches nothing is absent.
func TestPrometheusEvaluatesRuleFiles(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	registry := prometheus.NewRegistry()
	openTickets := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "open_tickets", Help: "Open tickets."}, []string{"account"})
	registry.MustRegister(openTickets)
	openTickets.WithLabelValues("acme").Set(12)
	openTickets.WithLabelValues("globex").Set(1)
	exporter := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	defer exporter.Close()

	dir := t.TempDir()
	manifest := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: test}
spec:
  groups:
  - name: test
    rules:
    - alert: ManyTickets
      expr: open_tickets > 10
      for: 1h
      annotations: {summary: "{{ $labels.account }} has {{ $value }} open tickets"}
    - alert: AnyTickets
      expr: open_tickets > 0
    - alert: NoTickets
      expr: open_tickets == 0
`), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := RuleFileFromPrometheusRule(manifest, dir)
	if err != nil {
		t.Fatal(err)
	}
	prom, err := StartPrometheus(root, []string{strings.TrimPrefix(exporter.URL, "http://")}, time.Second, WithRuleFiles(rules))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := prom.Stop(); err != nil {
			t.Error(err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prom.WaitForSeries(ctx, `ALERTS{alertname="ManyTickets",alertstate="pending",account="acme"}`, 1); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitForSeries(ctx, `ALERTS{alertname="AnyTickets",alertstate="firing"}`, 2); err != nil {
		t.Fatal(err)
	}
	alerts, err := prom.API().Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alerts.Alerts {
		got = append(got, fmt.Sprintf("%s %s %s %q", a.Labels["alertname"], a.Labels["account"], a.State, a.Annotations["summary"]))
	}
	slices.Sort(got)
	want := []string{`AnyTickets acme firing ""`, `AnyTickets globex firing ""`, `ManyTickets acme pending "acme has 12 open tickets"`}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}

// TestRuleFileFromPrometheusRuleRefusesOtherKinds: a manifest that is no
// PrometheusRule is an error, not an empty rule file.
func TestRuleFileFromPrometheusRuleRefusesOtherKinds(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "cm.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RuleFileFromPrometheusRule(manifest, dir); err == nil || !strings.Contains(err.Error(), "not a PrometheusRule") {
		t.Fatalf("got %v, want an error", err)
	}
}
