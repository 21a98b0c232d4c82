package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
)

func TestHTTPSource(t *testing.T) {
	// The 50 MiB answer is built once: formatting it per request would
	// make the server, not the client, the slow side.
	huge := []byte(`{"open": 1, "pad": "` + strings.Repeat("x", 50<<20) + `"}`)
	mux := http.NewServeMux()
	mux.HandleFunc("/accounts/{id}/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch id := r.PathValue("id"); id {
		case "down":
			http.Error(w, "upstream said: internal detail", http.StatusServiceUnavailable)
		case "slow":
			time.Sleep(2 * time.Second)
			fmt.Fprint(w, `{"open": 1}`)
		case "garbage":
			fmt.Fprint(w, `<html>oops`)
		case "huge":
			_, _ = w.Write(huge)
		case "string":
			fmt.Fprint(w, `{"open": "7"}`)
		case "text":
			fmt.Fprint(w, `{"open": "many"}`)
		case "nan":
			fmt.Fprint(w, `{"open": "NaN"}`)
		case "missing":
			fmt.Fprint(w, `{"closed": 3}`)
		case "redirect":
			http.Redirect(w, r, "http://example.invalid/elsewhere", http.StatusFound)
		default:
			fmt.Fprintf(w, `{"open": %s}`, id)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	hc, err := outbound.Credentials{Token: "s3cret"}.Client(outbound.Options{Timeout: time.Second, MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	src := &HTTP{URL: srv.URL + "/accounts/{{ .ExternalIDs.support }}/stats", Client: hc}
	cases := []struct {
		name, id string
		want     float64
		wantErr  string
	}{
		{"a number is read with the JSONPath", "12", 12, ""},
		{"a numeric string is a number", "string", 7, ""},
		{"a source that is down reports its status only", "down", 0, "HTTP 503"},
		{"a slow source times out", "slow", 0, "timed out"},
		{"garbage is not JSON", "garbage", 0, "response is not JSON"},
		{"a 50 MiB body is refused", "huge", 0, "exceeds the size limit"},
		{"text is not a number", "text", 0, "value is not a number"},
		{"NaN is not finite", "nan", 0, "not a finite number"},
		{"a missing key matches nothing", "missing", 0, "open is not found"},
		{"a redirect to another host is refused", "redirect", 0, "redirect refused"},
	}
	targets := make([]Target, 0, len(cases)+1)
	for _, tc := range cases {
		targets = append(targets, Target{Name: tc.name, ExternalIDs: map[string]string{"support": tc.id}})
	}
	targets = append(targets, Target{Name: "an account without the id", ExternalIDs: map[string]string{}})
	m := &csv1alpha1.Measure{Name: "openTickets", JSONPath: "{.open}"}
	got := pullOne(context.Background(), src, m, targets)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := got[tc.name]
			if tc.wantErr == "" {
				if s.Err != "" || s.Value != tc.want {
					t.Fatalf("got %+v, want %v", s, tc.want)
				}
				return
			}
			if !strings.Contains(s.Err, tc.wantErr) {
				t.Fatalf("error %q does not contain %q", s.Err, tc.wantErr)
			}
			for _, leak := range []string{srv.URL, "s3cret", "internal detail", "oops", "127.0.0.1"} {
				if strings.Contains(s.Err, leak) {
					t.Fatalf("error %q leaks %q", s.Err, leak)
				}
			}
		})
	}
	if s := got["an account without the id"]; !strings.Contains(s.Err, "template") {
		t.Errorf("missing external id: got %+v", s)
	}
}

// TestHTTPMeasuresShareOneDocumentPerAccount: the measures of one http
// source cost one request per account, counted at the server.
func TestHTTPMeasuresShareOneDocumentPerAccount(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, `{"open": 4, "csat": {"score": 81.5}}`)
	}))
	defer srv.Close()
	src := &HTTP{URL: srv.URL + "/accounts/{{ .Name }}", Client: outbound.NewClient(outbound.Options{Timeout: time.Second})}
	measures := []*csv1alpha1.Measure{
		{Name: "openTickets", JSONPath: "{.open}"},
		{Name: "csat", JSONPath: "{.csat.score}"},
		{Name: "broken", JSONPath: "{.open"},
	}
	targets := []Target{{Name: "acme"}, {Name: "globex"}, {Name: "hooli"}}
	got := src.Pull(context.Background(), measures, targets)
	if n := requests.Load(); n != int32(len(targets)) {
		t.Errorf("requests = %d, want one per account (%d)", n, len(targets))
	}
	for _, a := range targets {
		if s := got["openTickets"][a.Name]; s.Err != "" || s.Value != 4 {
			t.Errorf("%s openTickets = %+v", a.Name, s)
		}
		if s := got["csat"][a.Name]; s.Err != "" || s.Value != 81.5 {
			t.Errorf("%s csat = %+v", a.Name, s)
		}
		if s := got["broken"][a.Name]; !strings.Contains(s.Err, "jsonPath") {
			t.Errorf("%s broken = %+v, want a jsonPath error", a.Name, s)
		}
	}
}

// TestParseTemplateAllowsOnlyFieldReferences: URL and query templates
// expand in time linear in their size: no loops, functions or pipelines.
func TestParseTemplateAllowsOnlyFieldReferences(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"plain text", "https://support.example/stats", true},
		{"an external id", "https://support.example/api/{{ .ExternalIDs.support }}/stats", true},
		{"name and namespace", `sum(x{account="{{ .Name }}", ns="{{.Namespace}}"})`, true},
		{"a loop", "{{ range 1000000000 }}x{{ end }}", false},
		{"a function", `{{ printf "%099999999d" 1 }}`, false},
		{"a pipeline", "{{ .Name | html }}", false},
		{"a condition", "{{ if .Name }}x{{ end }}", false},
		{"a variable", "{{ $x := .Name }}{{ $x }}", false},
		{"a syntax error", "{{ .Name ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTemplate("t", tc.text)
			if (err == nil) != tc.ok {
				t.Errorf("ParseTemplate(%q) = %v, want ok=%v", tc.text, err, tc.ok)
			}
		})
	}
}

// TestHTTPBulkSourceReadsEveryAccountFromOneDocument: a bulk source makes
// one request per pull, whatever the number of accounts, and reads each
// account's item by its key; what an item lacks is that account's error.
func TestHTTPBulkSourceReadsEveryAccountFromOneDocument(t *testing.T) {
	const accounts = 1000
	var doc strings.Builder
	doc.WriteString(`{"exported": "2026-12-01", "accounts": [`)
	for i := range accounts {
		fmt.Fprintf(&doc, `{"id": "crm-%d", "open": %d, "csat": "%d.5"},`, i, i%7, i%5)
	}
	// A numeric key, an item without a key, a repeated key, an item
	// without the field, and one whose field is not a number.
	doc.WriteString(`{"id": 424242, "open": 3}, {"open": 9}, {"id": "twice", "open": 1}, {"id": "twice", "open": 2},
		{"id": "no-open", "csat": "1"}, {"id": "text", "open": "many"}]}`)
	body := doc.String()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)

	var targets []Target
	for i := range accounts {
		targets = append(targets, Target{Name: fmt.Sprintf("customer-%d", i), ExternalIDs: map[string]string{"crm": fmt.Sprintf("crm-%d", i)}})
	}
	targets = append(targets,
		Target{Name: "numeric", ExternalIDs: map[string]string{"crm": "424242"}},
		Target{Name: "twice"}, // no crm id: matched by its name
		Target{Name: "no-open"}, Target{Name: "text"}, Target{Name: "absent"})
	open := &csv1alpha1.Measure{Name: "open", JSONPath: "{.open}"}
	csat := &csv1alpha1.Measure{Name: "csat", JSONPath: "{.csat}"}
	for _, itemsPath := range []string{"{.accounts[*]}", "{.accounts}"} {
		t.Run(itemsPath, func(t *testing.T) {
			requests.Store(0)
			src := &HTTP{URL: srv.URL + "/export", ItemsPath: itemsPath, KeyPath: "{.id}", SourceName: "crm",
				Client: outbound.NewClient(outbound.Options{Timeout: 5 * time.Second, MaxBody: 1 << 20})}
			got := src.Pull(context.Background(), []*csv1alpha1.Measure{open, csat}, targets)
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests for %d accounts, want 1", n, len(targets))
			}
			for i := range accounts {
				name := fmt.Sprintf("customer-%d", i)
				if s := got["open"][name]; s != (Sample{Value: float64(i % 7)}) {
					t.Fatalf("%s open = %+v, want %d", name, s, i%7)
				}
				if s := got["csat"][name]; s != (Sample{Value: float64(i%5) + 0.5}) {
					t.Fatalf("%s csat = %+v", name, s)
				}
			}
			for name, want := range map[string]Sample{
				"numeric": {Value: 3},
				"twice":   {Err: `2 items with key "twice"`},
				"no-open": {Err: "jsonPath: open is not found"},
				"text":    {Err: "value is not a number"},
				"absent":  {Err: `no item with key "absent"`},
			} {
				if s := got["open"][name]; s != want {
					t.Errorf("%s open = %+v, want %+v", name, s, want)
				}
			}
		})
	}

	t.Run("a document the items path does not apply to fails every account", func(t *testing.T) {
		src := &HTTP{URL: srv.URL + "/export", ItemsPath: "{.customers[*]}", KeyPath: "{.id}", SourceName: "crm",
			Client: outbound.NewClient(outbound.Options{Timeout: 5 * time.Second, MaxBody: 1 << 20})}
		got := src.Pull(context.Background(), []*csv1alpha1.Measure{open}, targets[:2])
		for _, tg := range targets[:2] {
			if s := got["open"][tg.Name]; s.Err != "itemsPath does not apply to the document" {
				t.Errorf("%s = %+v", tg.Name, s)
			}
		}
	})
}
