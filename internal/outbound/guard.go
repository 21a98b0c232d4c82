package outbound

import (
	"context"
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
	// DefaultMaxBody bounds a response body read whole: an http source
	// answers with one document per account.
	DefaultMaxBody = 8 << 20
	// DefaultMaxSeries bounds the series of a Prometheus answer, which is
	// read as a stream: one vector for all the accounts of a plan, about
	// 70 bytes a series, so 2,000,000 series are about 140 MB on the wire.
	DefaultMaxSeries = 2_000_000
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
	// DefaultMaxBody. A request made with WithoutBodyLimit is not held to
	// it.
	MaxBody int64
	// MaxSeries is the most series a Prometheus answer may hold; zero or
	// less means DefaultMaxSeries. The Prometheus source reads its answers as
	// a stream (WithoutBodyLimit) and bounds them by this count instead
	// of MaxBody.
	MaxSeries int
	// AllowLinkLocal permits link-local addresses and cloud metadata
	// endpoints (169.254.169.254, fd00:ec2::254, 100.100.100.200,
	// 192.0.0.192, 168.63.129.16), also when written as IPv4-mapped or
	// NAT64 (64:ff9b::/96) IPv6 addresses. Off by default.
	AllowLinkLocal bool
	// RootCAs, when set, replaces the system roots (a Secret's ca.crt).
	RootCAs *x509.CertPool
}

// NewClient returns a client for user-written URLs: a timeout, a body
// size limit, TLS verification on, the resolved address checked at dial
// time, and no redirect to another host.
func NewClient(o Options) *http.Client {
	o = o.withDefaults()
	dialer := Dialer(o)
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
		Transport: &limitTransport{next: transport, opts: o},
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

// Dialer returns the dialer of every outbound connection (HTTP clients,
// database sources): a connect timeout, and the address policy checked on
// the address actually dialled, after name resolution, so that a DNS name
// cannot smuggle in a forbidden address.
func Dialer(o Options) *net.Dialer {
	return &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			return checkAddress(address, o.AllowLinkLocal)
		},
	}
}

// withDefaults fills in the zero limits.
func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	return o
}

// OptionsOf returns the options a client of NewClient or
// Credentials.Client was built with, defaults filled in, so that a caller
// handed only the client applies the same limits; for any other client,
// the defaults.
func OptionsOf(hc *http.Client) Options {
	if g, ok := hc.Transport.(guarded); ok {
		return g.options()
	}
	return Options{}.withDefaults()
}

// guarded is a transport of this package, which knows its options.
type guarded interface {
	options() Options
}

// noBodyLimit marks the context of a request made with WithoutBodyLimit.
type noBodyLimit struct{}

// WithoutBodyLimit returns a context whose requests a guarded client does
// not hold to Options.MaxBody: for a caller that reads the body as a
// stream and bounds what it reads and keeps by other means (the Prometheus
// source: a count of series, and a size per series). The timeout, TLS
// verification, the address policy and the redirect rules still apply.
func WithoutBodyLimit(ctx context.Context) context.Context {
	return context.WithValue(ctx, noBodyLimit{}, true)
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
	// An IPv4 address written as IPv6 (IPv4-mapped, or behind the NAT64
	// gateway of an IPv6-only network) reaches the IPv4 host, so it is
	// judged as that host.
	ip = embeddedIPv4(ip.WithZone(""))
	switch {
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s", errAddressRefused, ip)
	case !allowLinkLocal && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || metadataAddrs[ip]):
		return fmt.Errorf("%w: link-local or metadata address %s", errAddressRefused, ip)
	}
	return nil
}

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d is the
// IPv4 host a.b.c.d, reached through the network's NAT64 gateway.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// embeddedIPv4 returns the IPv4 address an IPv4-mapped or NAT64 address
// stands for, and any other address unchanged.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if ip.Is4In6() {
		return ip.Unmap()
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return ip
}

// metadataAddrs are cloud metadata endpoints outside the link-local ranges
// (169.254.0.0/16 and fe80::/10, where AWS, GCP and Azure serve theirs).
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud metadata
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle Cloud metadata
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer (guest agent, instance configuration)
}

// limitTransport caps response bodies.
type limitTransport struct {
	next http.RoundTripper
	opts Options
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if req.Context().Value(noBodyLimit{}) != nil {
		return resp, nil
	}
	if resp.ContentLength > t.opts.MaxBody {
		_ = resp.Body.Close()
		return nil, ErrBodyTooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.opts.MaxBody}
	return resp, nil
}

func (t *limitTransport) options() Options { return t.opts }

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
