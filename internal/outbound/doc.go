// Package outbound is the one home of outbound HTTP to user-written URLs:
// the metric sources of a SuccessPlan and the webhooks of its stage
// actions.
//
// # The guard
//
// NewClient returns the only client such a URL is reached with:
//
//   - a timeout on the whole request, body included (Options.Timeout,
//     DefaultTimeout), and bounds of their own on the dial and the TLS
//     handshake;
//   - a limit on the response body (Options.MaxBody, DefaultMaxBody): a
//     longer body fails with ErrBodyTooLarge instead of being truncated.
//     A caller that reads a body as a stream lifts it for one request
//     (WithoutBodyLimit) and bounds what it reads by other means: the
//     Prometheus source counts series (Options.MaxSeries, read back from
//     its client with OptionsOf);
//   - TLS verification always on, against the system roots or a Secret's
//     ca.crt, TLS 1.2 at least; no proxy from the environment;
//   - an address policy checked at dial time, on the address actually
//     dialled after name resolution, so that a DNS name cannot smuggle one
//     in: unspecified and multicast addresses are refused, and so are
//     link-local addresses and cloud metadata endpoints unless
//     Options.AllowLinkLocal is set. An IPv4-mapped or NAT64
//     (64:ff9b::/96) address is judged as the IPv4 address it reaches;
//   - no redirect to another host or scheme, and at most five redirects, so
//     that credentials never leave the host they were written for. The
//     webhook sender follows no redirect at all.
//
// # Credentials
//
// Credentials (a bearer token, or a username and password, and optionally
// a CA bundle) come only from a Secret in the namespace of the resource
// that names it, read directly from the API server when they are used:
// CredentialsFor for a source, SigningKey for a webhook's signing key, both
// through ReadSecret. A Secret that cannot be read is reported by its name
// and the API reason only.
//
// # Errors
//
// A transport failure reaches a status, an Event or a log only as its
// category: Describe reduces an error to one of the ErrText constants (a
// caller adds "HTTP <code>" for an answer that is not a success). A
// category never carries a URL, an address, a port, a response body or a
// credential.
package outbound
