// Package testenv starts the local control plane that tests and `make dev`
// share: etcd and kube-apiserver built from source into bin/k8s by
// `make envtest`, with the operator's CRDs installed.
package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// RepoRoot returns the repository root: the first parent of the working
// directory that holds the operator's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "config", "crd", "bases")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no repository root above the working directory")
		}
		dir = parent
	}
}

// BinDir is where `make envtest` puts kube-apiserver, etcd and kubectl.
func BinDir(root string) string { return filepath.Join(root, "bin", "k8s") }

// New returns an environment over the binaries in bin/k8s and the CRDs in
// config/crd/bases. It fails, naming the make target, when a binary is
// missing.
func New(root string) (*envtest.Environment, error) {
	bin := BinDir(root)
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make envtest` to build the control plane", filepath.Join(bin, name))
		}
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: bin,
		Scheme:                Scheme(),
	}, nil
}

// Scheme returns the built-in kinds and the operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(csv1alpha1.AddToScheme(s))
	return s
}

// WriteKubeconfig writes a kubeconfig for a cluster-admin user of env.
func WriteKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// StartLocal starts the local control plane of root with the CRDs
// installed, and writes a cluster-admin kubeconfig for it. The caller
// stops the environment.
func StartLocal(root, kubeconfig string) (*envtest.Environment, *rest.Config, error) {
	env, err := New(root)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if err := WriteKubeconfig(env, kubeconfig); err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	return env, cfg, nil
}

// Serve runs h on a loopback port, as the demo's and the scale benchmark's
// simulated services do, and returns its address and a stop function.
func Serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}
