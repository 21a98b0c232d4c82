package testenv

import (
	"context"
	"net/http/httptest"
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
