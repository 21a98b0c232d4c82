package demo

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"customersuccess.dev/success-operator/internal/actions"
)

func TestRamp(t *testing.T) {
	r := Ramp{From: 10, To: 30, Over: metav1.Duration{Duration: 20 * time.Second}}
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		want    float64
	}{
		{"a ramp starts at from", 0, 10},
		{"halfway is halfway", 10 * time.Second, 20},
		{"after over it holds at to", time.Minute, 30},
	} {
		if got := r.at(tc.elapsed); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := (Ramp{From: 1, To: 5}).at(0); got != 5 {
		t.Errorf("a ramp without duration is at to: got %v", got)
	}
}

func TestDemoManifestsRenderAndMatchTheTelemetry(t *testing.T) {
	dir := filepath.Join("..", "..", "config", "demo")
	out, err := Render(dir, Values{PrometheusURL: "http://prom:9090", WebhookURL: "http://sink/hooks",
		Now: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if n := strings.Count(text, "kind: CustomerAccount"); n != 20 {
		t.Errorf("%d accounts, want 20", n)
	}
	if strings.Contains(text, "{{") || !strings.Contains(text, "http://prom:9090") || !strings.Contains(text, "http://sink/hooks") {
		t.Error("templates not fully rendered")
	}
	tele, err := LoadTelemetry(filepath.Join(dir, "telemetry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every account's telemetry id has a profile, so no series is missing.
	for _, p := range tele.Profiles {
		if !strings.Contains(text, "telemetry: "+p.Account+"}") {
			t.Errorf("profile %s matches no account", p.Account)
		}
	}
	if len(tele.Profiles) != 20 {
		t.Errorf("%d profiles, want 20", len(tele.Profiles))
	}
}

func TestSinkVerifiesAndDeduplicates(t *testing.T) {
	sink := NewSink([]byte("k"), nil)
	srv := httptest.NewServer(sink)
	defer srv.Close()
	post := func(body, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewBufferString(body))
		req.Header.Set(actions.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"key":"abc","account":"acme","action":"welcome"}`
	if code := post(body, actions.Sign([]byte("k"), []byte(body))); code != http.StatusAccepted {
		t.Errorf("signed delivery: HTTP %d", code)
	}
	if code := post(body, actions.Sign([]byte("k"), []byte(body))); code != http.StatusAccepted {
		t.Errorf("repeated delivery: HTTP %d", code)
	}
	if code := post(body, "sha256=00"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: HTTP %d", code)
	}
	d := sink.Deliveries()
	if len(d) != 3 || !d[0].Signed || d[0].Duplicate || !d[1].Duplicate || d[2].Signed {
		t.Errorf("deliveries = %+v", d)
	}
}
