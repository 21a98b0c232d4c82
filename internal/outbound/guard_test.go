package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
	hc := NewClient(Options{Timeout: time.Second})
	_, err := hc.Get("http://169.254.169.254/latest/meta-data/")
	if err == nil || !strings.Contains(Describe(err), "refused") {
		t.Fatalf("metadata address reached: %v", err)
	}
}

// TestBodyLimit: a body past MaxBody fails, unless the request was made
// with WithoutBodyLimit; only that request is spared.
func TestBodyLimit(t *testing.T) {
	body := strings.Repeat("x", 2048)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("length") == "unknown" {
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	hc := NewClient(Options{Timeout: 10 * time.Second, MaxBody: 1024})
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		query string
		err   error
	}{
		{"a declared length past the limit fails", context.Background(), "", ErrBodyTooLarge},
		{"a body that grows past the limit fails", context.Background(), "length=unknown", ErrBodyTooLarge},
		{"a stream is not held to the limit", WithoutBodyLimit(context.Background()), "", nil},
		{"a stream of unknown length is not held to the limit", WithoutBodyLimit(context.Background()), "length=unknown", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(tc.ctx, http.MethodGet, srv.URL+"/?"+tc.query, nil)
			resp, err := hc.Do(req)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && string(got) != body {
				t.Errorf("read %d bytes, want %d", len(got), len(body))
			}
		})
	}
}

// TestOptionsOf: a guarded client tells the options it was built with,
// defaults filled in, also behind credentials.
func TestOptionsOf(t *testing.T) {
	withCreds, err := Credentials{Token: "t"}.Client(Options{MaxSeries: 10})
	if err != nil {
		t.Fatal(err)
	}
	defaults := Options{Timeout: DefaultTimeout, MaxBody: DefaultMaxBody, MaxSeries: DefaultMaxSeries}
	for _, tc := range []struct {
		name   string
		client *http.Client
		want   Options
	}{
		{"a guarded client", NewClient(Options{Timeout: time.Second, MaxSeries: 5}),
			Options{Timeout: time.Second, MaxBody: DefaultMaxBody, MaxSeries: 5}},
		{"a guarded client with credentials", withCreds,
			Options{Timeout: DefaultTimeout, MaxBody: DefaultMaxBody, MaxSeries: 10}},
		{"another client gets the defaults", &http.Client{}, defaults},
	} {
		if got := OptionsOf(tc.client); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
