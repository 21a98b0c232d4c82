package v1alpha1

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestGettersAgreeWithTheCRDDefaults: what the API server fills in from
// the markers and what the getters return for an unset field are the same.
func TestGettersAgreeWithTheCRDDefaults(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "customersuccess.dev_successplans.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	spec := walk(t, crd, "spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties")
	duration := func(path ...any) time.Duration {
		d, err := time.ParseDuration(walk(t, spec, path...).(string))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	plan := &SuccessPlanSpec{}
	health := &HealthModel{}
	green, yellow := health.GetBands()
	bands := walk(t, spec, "health", "properties", "bands", "default").(map[string]any)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"spec.interval", plan.GetInterval(), duration("interval", "default")},
		{"spec.kpiPeriod", plan.GetKPIPeriod(), duration("kpiPeriod", "default")},
		{"spec.sources[].prometheus.accountLabel", (&PrometheusSource{}).GetAccountLabel(),
			walk(t, spec, "sources", "items", "properties", "prometheus", "properties", "accountLabel", "default")},
		{"spec.health.hysteresis", float64(health.GetHysteresis()), walk(t, spec, "health", "properties", "hysteresis", "default")},
		{"spec.health.trendWindow", health.GetTrendWindow(), duration("health", "properties", "trendWindow", "default")},
		{"spec.health.bands.green", float64(green), bands["green"]},
		{"spec.health.bands.yellow", float64(yellow), bands["yellow"]},
		{"spec.measures[].staleAfter", (&Measure{}).GetStaleAfter(time.Minute), StaleIntervals * time.Minute},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: getter %v, CRD default %v", tc.name, tc.got, tc.want)
		}
	}
}

// walk follows map keys and list indexes through decoded YAML.
func walk(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	if v == nil {
		t.Fatalf("%v: nothing there", path)
	}
	return v
}
