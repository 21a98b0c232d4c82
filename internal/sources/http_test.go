package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
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

	hc, err := Credentials{Token: "s3cret"}.Client(GuardOptions{Timeout: time.Second, MaxBody: 1 << 20})
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

func TestGuardRefusesLinkLocal(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allow   bool
		refused bool
	}{
		{"169.254.169.254:80", false, true},
		{"[fe80::1]:80", false, true},
		{"[fd00:ec2::254]:80", false, true},
		{"0.0.0.0:80", false, true},
		{"169.254.169.254:80", true, false},
		{"127.0.0.1:9090", false, false},
		{"10.0.0.7:9090", false, false},
	} {
		err := checkAddress(tc.addr, tc.allow)
		if (err != nil) != tc.refused {
			t.Errorf("checkAddress(%s, allow=%v) = %v, want refused=%v", tc.addr, tc.allow, err, tc.refused)
		}
	}
	// The check runs at dial time, on the resolved address.
	hc := NewHTTPClient(GuardOptions{Timeout: time.Second})
	_, err := hc.Get("http://169.254.169.254/latest/meta-data/")
	if err == nil || !strings.Contains(Describe(err), "refused") {
		t.Fatalf("metadata address reached: %v", err)
	}
}

func TestCredentialsFromSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		ok   bool
	}{
		{"a token", map[string][]byte{"token": []byte("t")}, true},
		{"basic auth", map[string][]byte{"username": []byte("u"), "password": []byte("p")}, true},
		{"a CA bundle only", map[string][]byte{"ca.crt": []byte("pem")}, true},
		{"a username without password", map[string][]byte{"username": []byte("u")}, false},
		{"both kinds", map[string][]byte{"token": []byte("t"), "username": []byte("u"), "password": []byte("p")}, false},
		{"nothing useful", map[string][]byte{"other": []byte("x")}, false},
	} {
		if _, err := CredentialsFromSecret(tc.data); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
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
	src := &HTTP{URL: srv.URL + "/accounts/{{ .Name }}", Client: NewHTTPClient(GuardOptions{Timeout: time.Second})}
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

// TestDescribeKeepsOnlyTheCategory: real transport failures become their
// category, with no address, port or URL left in the text.
func TestDescribeKeepsOnlyTheCategory(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer hangup.Close()

	// Generous, so that a busy machine does not turn a failure into a
	// timeout; only the server that never answers meets the short one.
	hc := NewHTTPClient(GuardOptions{Timeout: 30 * time.Second})
	impatient := NewHTTPClient(GuardOptions{Timeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name, url, want string
		client          *http.Client
	}{
		{"a closed port is a refused connection", closedURL + "/x", ErrTextRefused, hc},
		{"a self-signed certificate is not trusted", tlsSrv.URL + "/x", ErrTextCertificate, hc},
		{"a server that never answers times out", slow.URL + "/x", ErrTextTimeout, impatient},
		{"a server that hangs up resets the connection", hangup.URL + "/x", ErrTextReset, hc},
		{"an unknown host fails its lookup", "http://no-such-host.invalid/x", ErrTextDNS, hc},
		{"a metadata address is refused by policy", "http://169.254.169.254/latest", ErrTextAddressRefused, hc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Get(tc.url)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("request succeeded")
			}
			got := Describe(err)
			if got != tc.want {
				t.Errorf("Describe(%v) = %q, want %q", err, got, tc.want)
			}
			if addressPattern.MatchString(got) {
				t.Errorf("%q holds an address", got)
			}
		})
	}
}

// addressPattern matches IPv4 addresses, host:port pairs and URLs.
var addressPattern = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+|:\d{2,5}\b|://|\[[0-9a-f:]+\]`)

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
