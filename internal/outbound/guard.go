package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Limits of every outbound request to a user-written URL.
const (
	// DefaultTimeout bounds a whole request, body included.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBody bounds a response body: a source answers with one
	// number per account, or one vector for all accounts.
	DefaultMaxBody = 8 << 20
)

// ErrBodyTooLarge is returned when a response exceeds the body limit.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")

var (
	// errAddressRefused wraps a dial the address check refused.
	errAddressRefused = errors.New("address refused")
	// errRedirectRefused wraps a redirect the client does not follow.
	errRedirectRefused = errors.New("redirect refused")
)

// Options configure outbound HTTP.
type Options struct {
	// Timeout of a whole request; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxBody is the largest response body accepted; zero means
	// DefaultMaxBody.
	MaxBody int64
	// AllowLinkLocal permits link-local addresses, which include cloud
	// metadata endpoints such as 169.254.169.254. Off by default.
	AllowLinkLocal bool
	// RootCAs, when set, replaces the system roots (a Secret's ca.crt).
	RootCAs *x509.CertPool
}

// NewClient returns a client for user-written URLs: a timeout, a body
// size limit, TLS verification on, the resolved address checked at dial
// time, and no redirect to another host.
func NewClient(o Options) *http.Client {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		// Control runs after name resolution, on the address actually
		// dialled, so a DNS name cannot smuggle in a forbidden address.
		Control: func(_, address string, _ syscall.RawConn) error {
			return checkAddress(address, o.AllowLinkLocal)
		},
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: &limitTransport{next: transport, max: o.MaxBody},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return fmt.Errorf("%w: too many redirects", errRedirectRefused)
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("%w: to another host", errRedirectRefused)
			}
			return nil
		},
	}
}

// checkAddress refuses addresses no source or webhook should reach.
func checkAddress(address string, allowLinkLocal bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP", errAddressRefused, host)
	}
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s", errAddressRefused, ip)
	case !allowLinkLocal && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || metadataAddrs[ip]):
		return fmt.Errorf("%w: link-local or metadata address %s", errAddressRefused, ip)
	}
	return nil
}

// metadataAddrs are cloud metadata endpoints outside the link-local ranges.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"): true, // AWS IMDS over IPv6
}

// limitTransport caps response bodies.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		_ = resp.Body.Close()
		return nil, ErrBodyTooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody fails a read past the limit instead of truncating silently.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells an exact-size body from an oversized one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
