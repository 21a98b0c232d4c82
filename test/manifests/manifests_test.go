// Package manifests checks what the project ships for other tools to read:
// the Argo CD health check in config/argocd, the role names the README
// promises against what config/default installs, and the namespaced
// install (config/namespaced) against config/default and the manager's
// generated role. Rendering uses the real kubectl that `make envtest`
// builds into bin/k8s.
package manifests

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"customersuccess.dev/success-operator/internal/testenv"
)

// repoRoot returns the repository root: the first parent of the working
// directory that holds the operator's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// kustomize renders dir, relative to the repository root, with the real
// `kubectl kustomize` and returns its objects. A missing kubectl fails the
// test: it is built, not skipped.
func kustomize(t *testing.T, root, dir string) []unstructured.Unstructured {
	t.Helper()
	kubectl := filepath.Join(testenv.BinDir(root), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("%s is missing: run `make envtest` to build it (%v)", kubectl, err)
	}
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return decodeObjects(t, out)
}

// decodeObjects decodes a multi-document YAML stream (kustomize's, helm's,
// a file's).
func decodeObjects(t *testing.T, data []byte) []unstructured.Unstructured {
	t.Helper()
	var objs []unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		if u.Object != nil {
			objs = append(objs, u)
		}
	}
}
