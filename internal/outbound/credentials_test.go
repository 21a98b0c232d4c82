package outbound

import "testing"

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
