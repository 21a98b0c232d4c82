package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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
		{"a redirect to another host is refused", "redirect", 0, "redirect to another host refused"},
	}
	targets := make([]Target, 0, len(cases)+1)
	for _, tc := range cases {
		targets = append(targets, Target{Name: tc.name, ExternalIDs: map[string]string{"support": tc.id}})
	}
	targets = append(targets, Target{Name: "an account without the id", ExternalIDs: map[string]string{}})
	m := &csv1alpha1.Measure{Name: "openTickets", JSONPath: "{.open}"}
	got := src.Pull(context.Background(), m, targets)
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
