package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"golang.org/x/oauth2"
)

// Categories of transport failures. A source or webhook failure reaches a
// status, an Event or a log only as one of these (or as "HTTP <code>"),
// never as the error text: that text embeds URLs, addresses and ports.
const (
	ErrTextTimeout        = "request timed out"
	ErrTextCanceled       = "request canceled"
	ErrTextRefused        = "connection refused"
	ErrTextReset          = "connection reset"
	ErrTextUnreachable    = "host unreachable"
	ErrTextDNS            = "DNS lookup failed"
	ErrTextTLS            = "TLS handshake failed"
	ErrTextCertificate    = "TLS certificate not trusted"
	ErrTextTooLarge       = "response body exceeds the size limit"
	ErrTextAddressRefused = "address refused by policy"
	ErrTextRedirect       = "redirect refused"
	ErrTextRequest        = "request failed"
	ErrTextToken          = "OAuth2 token request failed"
)

// Describe turns a transport error into its category (the ErrText
// constants): no URL, address, port or body survives.
func Describe(err error) string {
	var (
		netErr    net.Error
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
	)
	var (
		tokenErr    *tokenError
		retrieveErr *oauth2.RetrieveError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &retrieveErr) && retrieveErr.Response != nil:
		return fmt.Sprintf("%s: HTTP %d", ErrTextToken, retrieveErr.Response.StatusCode)
	case errors.As(err, &tokenErr):
		if cause := Describe(tokenErr.err); cause != ErrTextRequest {
			return ErrTextToken + ": " + cause
		}
		return ErrTextToken
	case errors.Is(err, ErrBodyTooLarge):
		return ErrTextTooLarge
	case errors.Is(err, errAddressRefused):
		return ErrTextAddressRefused
	case errors.Is(err, errRedirectRefused):
		return ErrTextRedirect
	case errors.Is(err, context.Canceled):
		return ErrTextCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrTextTimeout
	case errors.As(err, &dnsErr):
		return ErrTextDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrTextRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrTextReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ErrTextUnreachable
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return ErrTextCertificate
	case errors.As(err, &recordErr), errors.As(err, &alertErr):
		return ErrTextTLS
	default:
		return ErrTextRequest
	}
}
