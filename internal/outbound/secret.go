package outbound

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReadSecret returns the data of the Secret name in namespace, the
// namespace of the resource that names it: a source's plan or a webhook's
// account. r should read directly from the API server (the manager's API
// reader): the operator keeps no cache of Secrets.
//
// Its error names the Secret and the API reason only ("secret hook:
// NotFound", or "get failed" when the reason is unknown), never the API
// server's message, so that it can be written to a status or an Event.
func ReadSecret(ctx context.Context, r client.Reader, namespace, name string) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		return nil, fmt.Errorf("secret %s: %s", name, reasonOf(err))
	}
	return secret.Data, nil
}

// SigningKey returns the key "key" of the Secret name in namespace, the
// HMAC key that signs a webhook's deliveries. A Secret without it, or with
// an empty one, is an error: a webhook that names a Secret is never sent
// unsigned.
func SigningKey(ctx context.Context, r client.Reader, namespace, name string) ([]byte, error) {
	data, err := ReadSecret(ctx, r, namespace, name)
	if err != nil {
		return nil, err
	}
	key := data["key"]
	if len(key) == 0 {
		return nil, fmt.Errorf("secret %s has no key \"key\"", name)
	}
	return key, nil
}

// CredentialsFor reads the source credentials of the Secret name in
// namespace (see CredentialsFromSecret).
func CredentialsFor(ctx context.Context, r client.Reader, namespace, name string) (Credentials, error) {
	data, err := ReadSecret(ctx, r, namespace, name)
	if err != nil {
		return Credentials{}, err
	}
	creds, err := CredentialsFromSecret(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("secret %s: %w", name, err)
	}
	return creds, nil
}

// reasonOf names an API error without its message.
func reasonOf(err error) string {
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return string(r)
	}
	return "get failed"
}
