package outbound

import (
	"crypto/x509"
	"errors"
	"net/http"
)

// Credentials authenticate requests to a source. They come only from a
// Secret in the plan's namespace (see CredentialsFor).
type Credentials struct {
	Token              string
	Username, Password string
	// CA is a PEM bundle that replaces the system roots.
	CA []byte
}

// CredentialsFromSecret reads the keys token, or username and password,
// and optionally ca.crt.
func CredentialsFromSecret(data map[string][]byte) (Credentials, error) {
	c := Credentials{
		Token:    string(data["token"]),
		Username: string(data["username"]),
		Password: string(data["password"]),
		CA:       data["ca.crt"],
	}
	switch {
	case c.Token != "" && (c.Username != "" || c.Password != ""):
		return Credentials{}, errors.New("secret has both token and username/password")
	case c.Token == "" && c.Username == "" && len(c.CA) == 0:
		return Credentials{}, errors.New("secret has none of the keys token, username and password, ca.crt")
	case (c.Username == "") != (c.Password == ""):
		return Credentials{}, errors.New("secret needs both username and password")
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
	if c.Token != "" || c.Username != "" {
		hc.Transport = &authTransport{next: hc.Transport, creds: c}
	}
	return hc, nil
}

// authTransport adds the Authorization header. Redirects stay on the same
// host (see NewClient), so credentials never leave it.
type authTransport struct {
	next  http.RoundTripper
	creds Credentials
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if t.creds.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.creds.Token)
	} else {
		req.SetBasicAuth(t.creds.Username, t.creds.Password)
	}
	return t.next.RoundTrip(req)
}

func (t *authTransport) options() Options {
	if g, ok := t.next.(guarded); ok {
		return g.options()
	}
	return Options{}.withDefaults()
}
