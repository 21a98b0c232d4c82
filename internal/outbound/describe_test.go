package outbound

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"
)

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
	hc := NewClient(Options{Timeout: 30 * time.Second})
	impatient := NewClient(Options{Timeout: 200 * time.Millisecond})
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
