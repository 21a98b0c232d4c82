package outbound

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// secretReader is a client.Reader that holds Secrets of one namespace by
// name, or fails every get with err.
type secretReader struct {
	namespace string
	secrets   map[string]map[string][]byte
	err       error
	// got is the key of the last get.
	got client.ObjectKey
}

func (r *secretReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.got = key
	if r.err != nil {
		return r.err
	}
	data, ok := r.secrets[key.Name]
	if !ok || key.Namespace != r.namespace {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return errors.New("not a Secret")
	}
	secret.Data = data
	return nil
}

func (r *secretReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not implemented")
}

// apiMessage is the text of the API errors below that must never reach an
// error of ReadSecret: the API server's message.
const apiMessage = "internal detail of the API server"

// TestSecretErrorsNameTheSecretAndTheReasonOnly: every failure of
// ReadSecret, SigningKey and CredentialsFor names the Secret and the API
// reason, in the exact words statuses and Events carry.
func TestSecretErrorsNameTheSecretAndTheReasonOnly(t *testing.T) {
	stored := map[string]map[string][]byte{
		"hook":     {"key": []byte("k3y")},
		"empty":    {"key": {}},
		"other":    {"token": []byte("t")},
		"basic":    {"username": []byte("u"), "password": []byte("p")},
		"half":     {"username": []byte("u")},
		"unusable": {"unrelated": []byte("x")},
	}
	inTeamA := func() *secretReader { return &secretReader{namespace: "team-a", secrets: stored} }
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "hook", errors.New(apiMessage))
	for _, tc := range []struct {
		name      string
		reader    *secretReader
		secret    string
		read      func(context.Context, client.Reader, string, string) error
		wantError string
	}{
		{"a Secret is read", inTeamA(), "hook", readSecret, ""},
		{"a missing Secret is NotFound", inTeamA(), "gone", readSecret, "secret gone: NotFound"},
		{"a Secret of another namespace is not found", &secretReader{namespace: "elsewhere", secrets: stored}, "hook", readSecret, "secret hook: NotFound"},
		{"a forbidden get is Forbidden, without the message", &secretReader{err: forbidden}, "hook", readSecret, "secret hook: Forbidden"},
		{"an error without a reason is a failed get", &secretReader{err: errors.New(apiMessage)}, "hook", readSecret, "secret hook: get failed"},

		{"a signing key is read", inTeamA(), "hook", signingKey, ""},
		{"a missing signing Secret is NotFound", inTeamA(), "gone", signingKey, "secret gone: NotFound"},
		{"a forbidden signing Secret is Forbidden", &secretReader{err: forbidden}, "hook", signingKey, "secret hook: Forbidden"},
		{"an empty signing key is refused", inTeamA(), "empty", signingKey, `secret empty has no key "key"`},
		{"a Secret without a signing key is refused", inTeamA(), "other", signingKey, `secret other has no key "key"`},

		{"a token is read", inTeamA(), "other", credentialsFor, ""},
		{"basic auth is read", inTeamA(), "basic", credentialsFor, ""},
		{"a missing credentials Secret is NotFound", inTeamA(), "gone", credentialsFor, "secret gone: NotFound"},
		{"a forbidden credentials Secret is Forbidden", &secretReader{err: forbidden}, "hook", credentialsFor, "secret hook: Forbidden"},
		{"a username without password is refused", inTeamA(), "half", credentialsFor, "secret half: secret needs both username and password"},
		{"a Secret without credentials is refused", inTeamA(), "unusable", credentialsFor,
			"secret unusable: secret has none of the keys token, username and password, tokenURL, ca.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(context.Background(), tc.reader, "team-a", tc.secret)
			if want := (client.ObjectKey{Namespace: "team-a", Name: tc.secret}); tc.reader.got != want {
				t.Errorf("read %v, want %v", tc.reader.got, want)
			}
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("error %q, want none", err)
			case tc.wantError == "":
			case err == nil:
				t.Fatalf("no error, want %q", tc.wantError)
			case err.Error() != tc.wantError:
				t.Fatalf("error %q, want %q", err, tc.wantError)
			}
			if err != nil && strings.Contains(err.Error(), apiMessage) {
				t.Fatalf("error %q holds the API server's message", err)
			}
		})
	}
}

// TestSecretValues: what the helpers return from a Secret they could read.
func TestSecretValues(t *testing.T) {
	ctx := context.Background()
	r := &secretReader{namespace: "team-a", secrets: map[string]map[string][]byte{
		"hook":  {"key": []byte("k3y"), "other": []byte("x")},
		"token": {"token": []byte("t0k"), "ca.crt": []byte("pem")},
	}}
	if data, err := ReadSecret(ctx, r, "team-a", "hook"); err != nil || string(data["key"]) != "k3y" || string(data["other"]) != "x" {
		t.Errorf("ReadSecret = %q, %v", data, err)
	}
	if key, err := SigningKey(ctx, r, "team-a", "hook"); err != nil || string(key) != "k3y" {
		t.Errorf("SigningKey = %q, %v", key, err)
	}
	creds, err := CredentialsFor(ctx, r, "team-a", "token")
	if err != nil || creds.Token != "t0k" || string(creds.CA) != "pem" || creds.Username != "" || creds.Password != "" {
		t.Errorf("CredentialsFor = %+v, %v", creds, err)
	}
}

func readSecret(ctx context.Context, r client.Reader, ns, name string) error {
	_, err := ReadSecret(ctx, r, ns, name)
	return err
}

func signingKey(ctx context.Context, r client.Reader, ns, name string) error {
	_, err := SigningKey(ctx, r, ns, name)
	return err
}

func credentialsFor(ctx context.Context, r client.Reader, ns, name string) error {
	_, err := CredentialsFor(ctx, r, ns, name)
	return err
}
