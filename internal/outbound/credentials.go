package outbound

import (
	"context"
	"strings"

	"crypto/x509"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Credentials authenticate requests to a source. They come only from a
// Secret in the plan's namespace (see CredentialsFor).
type Credentials struct {
	Token              string
	Username, Password string
	// OAuth2 is an OAuth2 client-credentials grant: the client asks
	// TokenURL for a bearer token, and again when it expires.
	OAuth2 *clientcredentials.Config
	// CA is a PEM bundle that replaces the system roots.
	CA []byte
}

// CredentialsFromSecret reads the keys token; or username and password;
// or tokenURL, clientID, clientSecret and optionally scopes (separated by
// spaces) for OAuth2 client credentials; and optionally ca.crt.
func CredentialsFromSecret(data map[string][]byte) (Credentials, error) {
	c := Credentials{
		Token:    string(data["token"]),
		Username: string(data["username"]),
		Password: string(data["password"]),
		CA:       data["ca.crt"],
	}
	if tokenURL := string(data["tokenURL"]); tokenURL != "" || len(data["clientID"]) > 0 || len(data["clientSecret"]) > 0 {
		c.OAuth2 = &clientcredentials.Config{ClientID: string(data["clientID"]), ClientSecret: string(data["clientSecret"]),
			TokenURL: tokenURL, Scopes: strings.Fields(string(data["scopes"])),
			// The secret goes in the request body, which every server of
			// the grant accepts (RFC 6749 2.3.1).
			AuthStyle: oauth2.AuthStyleInParams}
	}
	kinds := 0
	for _, set := range []bool{c.Token != "", c.Username != "" || c.Password != "", c.OAuth2 != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return Credentials{}, errors.New("secret has more than one of token, username/password and tokenURL/clientID/clientSecret")
	case kinds == 0 && len(c.CA) == 0:
		return Credentials{}, errors.New("secret has none of the keys token, username and password, tokenURL, ca.crt")
	case (c.Username == "") != (c.Password == ""):
		return Credentials{}, errors.New("secret needs both username and password")
	case c.OAuth2 != nil && (c.OAuth2.TokenURL == "" || c.OAuth2.ClientID == "" || c.OAuth2.ClientSecret == ""):
		return Credentials{}, errors.New("secret needs tokenURL, clientID and clientSecret together")
	case c.OAuth2 != nil && !strings.HasPrefix(c.OAuth2.TokenURL, "https://") && !strings.HasPrefix(c.OAuth2.TokenURL, "http://"):
		return Credentials{}, errors.New("tokenURL is not an http(s) URL")
	}
	return c, nil
}

// Client returns a guarded HTTP client that authenticates with c.
func (c Credentials) Client(o Options) (*http.Client, error) {
	if len(c.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CA) {
			return nil, errors.New("ca.crt holds no PEM certificate")
		}
		o.RootCAs = pool
	}
	hc := NewClient(o)
	switch {
	case c.OAuth2 != nil:
		// Tokens are asked for through the guarded client too: its timeouts,
		// size limit, address policy and TLS verification hold for the
		// token endpoint. The source reuses a token until it expires.
		guarded := NewClient(o)
		tokens := c.OAuth2.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, guarded))
		hc.Transport = &authTransport{next: hc.Transport, tokens: tokens}
	case c.Token != "" || c.Username != "":
		hc.Transport = &authTransport{next: hc.Transport, creds: c}
	}
	return hc, nil
}

// authTransport adds the Authorization header. Redirects stay on the same
// host (see NewClient), so credentials never leave it.
type authTransport struct {
	next  http.RoundTripper
	creds Credentials
	// tokens, when set, gives the bearer token instead of creds.
	tokens oauth2.TokenSource
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	switch {
	case t.tokens != nil:
		tok, err := t.tokens.Token()
		if err != nil {
			return nil, &tokenError{err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	case t.creds.Token != "":
		req.Header.Set("Authorization", "Bearer "+t.creds.Token)
	default:
		req.SetBasicAuth(t.creds.Username, t.creds.Password)
	}
	return t.next.RoundTrip(req)
}

// tokenError is a failed OAuth2 token request. Its text may hold the
// token endpoint's answer: Describe reduces it to a category and the HTTP
// status.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "oauth2 token request: " + e.err.Error() }

func (e *tokenError) Unwrap() error { return e.err }

func (t *authTransport) options() Options {
	if g, ok := t.next.(guarded); ok {
		return g.options()
	}
	return Options{}.withDefaults()
}
