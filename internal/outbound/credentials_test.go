package outbound

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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

// TestOAuth2ClientCredentials: a client with OAuth2 credentials asks the
// token endpoint once, with the client's id and secret, and sends the
// token as a bearer token until it expires; a refused token request is
// described by its category and status, never by the endpoint's answer.
func TestOAuth2ClientCredentials(t *testing.T) {
	var tokenRequests atomic.Int32
	var refuse atomic.Bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenRequests.Add(1)
		if refuse.Load() {
			http.Error(w, `{"error": "invalid_client", "detail": "client s3cret-id is locked"}`, http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" ||
			r.Form.Get("client_id") != "crm-sync" || r.Form.Get("client_secret") != "s3cret" || r.Form.Get("scope") != "read:accounts read:tickets" {
			http.Error(w, "bad grant", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}`)
	}))
	t.Cleanup(tokens.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(api.Close)

	secret := map[string][]byte{"tokenURL": []byte(tokens.URL + "/oauth/token"), "clientID": []byte("crm-sync"),
		"clientSecret": []byte("s3cret"), "scopes": []byte("read:accounts read:tickets")}
	creds, err := CredentialsFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := creds.Client(Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := hc.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d with the token", resp.StatusCode)
		}
	}
	if n := tokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests for 3 requests, want 1: the token is reused until it expires", n)
	}

	refuse.Store(true)
	hc, err = creds.Client(Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = hc.Get(api.URL)
	if got, want := Describe(err), ErrTextToken+": HTTP 401"; got != want {
		t.Errorf("Describe = %q, want %q (error %v)", got, want, err)
	}
}

func TestCredentialsFromSecretOAuth2(t *testing.T) {
	full := func() map[string][]byte {
		return map[string][]byte{"tokenURL": []byte("https://login.example/token"), "clientID": []byte("id"), "clientSecret": []byte("s")}
	}
	for _, tc := range []struct {
		name string
		edit func(map[string][]byte)
		want string
	}{
		{"complete", func(map[string][]byte) {}, ""},
		{"no secret", func(m map[string][]byte) { delete(m, "clientSecret") }, "secret needs tokenURL, clientID and clientSecret together"},
		{"no token URL", func(m map[string][]byte) { delete(m, "tokenURL") }, "secret needs tokenURL, clientID and clientSecret together"},
		{"a token too", func(m map[string][]byte) { m["token"] = []byte("t") }, "secret has more than one of"},
		{"not a URL", func(m map[string][]byte) { m["tokenURL"] = []byte("login.example/token") }, "tokenURL is not an http(s) URL"},
	} {
		m := full()
		tc.edit(m)
		_, err := CredentialsFromSecret(m)
		if (err == nil) != (tc.want == "") || err != nil && !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
