package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/testenv"
)

// TestPrometheusAgainstARealServer runs the source against a real
// Prometheus scraping an exporter, behind a proxy that checks the token and
// counts queries.
func TestPrometheusAgainstARealServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	users := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "active_users_7d", Help: "Active users."}, []string{"account", "region"})
	reg.MustRegister(users)
	users.WithLabelValues("acme-prod", "eu").Set(31)
	users.WithLabelValues("globex", "eu").Set(12.5)
	users.WithLabelValues("twice", "eu").Set(1)
	users.WithLabelValues("twice", "us").Set(2)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer exporter.Close()

	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	prom, err := testenv.StartPrometheus(root, []string{strings.TrimPrefix(exporter.URL, "http://")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prom.Stop() }()
	if err := prom.WaitForSeries(context.Background(), "active_users_7d", 4); err != nil {
		t.Fatal(err)
	}

	upstream, _ := url.Parse(prom.URL)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	var queries atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pr0m" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		queries.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	hc, err := outbound.Credentials{Token: "pr0m"}.Client(outbound.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewPrometheus(front.URL, "telemetry", "account", hc)
	if err != nil {
		t.Fatal(err)
	}
	targets := []Target{
		{Name: "acme", ExternalIDs: map[string]string{"telemetry": "acme-prod"}},
		{Name: "globex"}, // no id: matched by name
		{Name: "initech", ExternalIDs: map[string]string{"telemetry": "initech"}},
		{Name: "twice"},
	}
	ctx := context.Background()

	t.Run("a vector query serves every account in one request", func(t *testing.T) {
		before := queries.Load()
		got := pullOne(ctx, src, &csv1alpha1.Measure{Query: "max by (account, region) (active_users_7d)"}, targets)
		if n := queries.Load() - before; n != 1 {
			t.Errorf("%d queries, want 1", n)
		}
		want := map[string]Sample{
			"acme":    {Value: 31},
			"globex":  {Value: 12.5},
			"initech": {Err: `no series with account="initech"`},
			"twice":   {Err: `several series with account="twice"`},
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("%s: got %+v, want %+v", name, got[name], w)
			}
		}
	})
	t.Run("a templated query runs per account", func(t *testing.T) {
		before := queries.Load()
		got := pullOne(ctx, src, &csv1alpha1.Measure{Query: `sum(active_users_7d{account="{{ .Name }}"}) * 2`}, targets[1:2])
		if n := queries.Load() - before; n != 1 {
			t.Errorf("%d queries, want 1", n)
		}
		if got["globex"] != (Sample{Value: 25}) {
			t.Errorf("got %+v", got["globex"])
		}
	})
	t.Run("a query Prometheus rejects names the problem", func(t *testing.T) {
		got := pullOne(ctx, src, &csv1alpha1.Measure{Query: "max by (account) (("}, targets[:1])
		if !strings.Contains(got["acme"].Err, "bad_data") {
			t.Errorf("got %+v", got["acme"])
		}
	})
	t.Run("a wrong token is a client error without the URL", func(t *testing.T) {
		bad, _ := NewPrometheus(front.URL, "telemetry", "account", outbound.NewClient(outbound.Options{}))
		got := pullOne(ctx, bad, &csv1alpha1.Measure{Query: "up"}, targets[:1])
		if got["acme"].Err != "query failed: client error: 401" {
			t.Errorf("got %+v", got["acme"])
		}
	})
}

func TestPrometheusGarbageAndOutages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.FormValue("query") {
		case "garbage":
			fmt.Fprint(w, "secret internals, not json")
		case "down":
			http.Error(w, "secret internals", http.StatusBadGateway)
		case "nan":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"account":"acme"},"value":[1,"NaN"]}]}}`)
		case "matrix":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		}
	}))
	defer srv.Close()
	src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(outbound.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]string{
		"garbage": "query failed: bad response",
		"down":    "query failed: server error: 502",
		"nan":     "value is not a finite number",
		"matrix":  "query returned a matrix, want a vector",
	} {
		got := pullOne(context.Background(), src, &csv1alpha1.Measure{Query: query}, []Target{{Name: "acme"}})
		if got["acme"].Err != want {
			t.Errorf("%s: got %q, want %q", query, got["acme"].Err, want)
		}
	}
	// The port is closed: a transport error without the URL.
	srv.Close()
	got := pullOne(context.Background(), src, &csv1alpha1.Measure{Query: "up"}, []Target{{Name: "acme"}})
	if e := got["acme"].Err; e == "" || strings.Contains(e, srv.URL) {
		t.Errorf("got %q", e)
	}
}

// pullOne pulls a single measure.
func pullOne(ctx context.Context, src Source, m *csv1alpha1.Measure, targets []Target) map[string]Sample {
	return src.Pull(ctx, []*csv1alpha1.Measure{m}, targets)[m.Name]
}
