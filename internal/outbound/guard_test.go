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

// TestGuardRefusesLinkLocal: link-local addresses and cloud metadata
// endpoints are refused by default, however they are written, and reached
// with AllowLinkLocal (--allow-link-local-sources).
func TestGuardRefusesLinkLocal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    string
		allow   bool
		refused bool
	}{
		{"the link-local metadata address of AWS, GCP and Azure is refused", "169.254.169.254:80", false, true},
		{"an IPv6 link-local address is refused", "[fe80::1]:80", false, true},
		{"an IPv6 link-local address with a zone is refused", "[fe80::1%eth0]:80", false, true},
		{"AWS's IPv6 metadata address is refused", "[fd00:ec2::254]:80", false, true},
		{"Alibaba Cloud's metadata address is refused", "100.100.100.200:80", false, true},
		{"Oracle Cloud's metadata address is refused", "192.0.0.192:80", false, true},
		{"Azure's WireServer address is refused", "168.63.129.16:80", false, true},
		{"the metadata address behind NAT64 is refused", "[64:ff9b::a9fe:a9fe]:80", false, true},
		{"the metadata address behind NAT64, in dotted form, is refused", "[64:ff9b::169.254.169.254]:80", false, true},
		{"Alibaba Cloud's metadata address behind NAT64 is refused", "[64:ff9b::6464:64c8]:80", false, true},
		{"Azure's WireServer behind NAT64 is refused", "[64:ff9b::a83f:8110]:80", false, true},
		{"a link-local address behind NAT64 is refused", "[64:ff9b::a9fe:1]:80", false, true},
		{"the IPv4-mapped metadata address is refused", "[::ffff:169.254.169.254]:80", false, true},
		{"the IPv4-mapped Oracle metadata address is refused", "[::ffff:192.0.0.192]:80", false, true},
		{"the unspecified address is refused", "0.0.0.0:80", false, true},
		{"the unspecified address behind NAT64 is refused", "[64:ff9b::]:80", false, true},
		{"the metadata address is reached when allowed", "169.254.169.254:80", true, false},
		{"Alibaba Cloud's metadata address is reached when allowed", "100.100.100.200:80", true, false},
		{"the metadata address behind NAT64 is reached when allowed", "[64:ff9b::a9fe:a9fe]:80", true, false},
		{"loopback is reached", "127.0.0.1:9090", false, false},
		{"a private address is reached", "10.0.0.7:9090", false, false},
		{"a neighbour of Alibaba Cloud's metadata address is reached", "100.100.100.201:80", false, false},
		{"a public address behind NAT64 is reached", "[64:ff9b::c000:201]:80", false, false},
		{"a public IPv6 address is reached", "[2001:db8::1]:443", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAddress(tc.addr, tc.allow)
			if (err != nil) != tc.refused {
				t.Errorf("checkAddress(%s, allow=%v) = %v, want refused=%v", tc.addr, tc.allow, err, tc.refused)
			}
		})
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
