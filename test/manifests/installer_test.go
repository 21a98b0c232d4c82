package manifests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"customersuccess.dev/success-operator/internal/testenv"
)

// readObjects decodes a multi-document YAML file of the repository.
func readObjects(t *testing.T, path string) []unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make build-installer`", err)
	}
	return decodeObjects(t, data)
}

// makeVersion reads VERSION from the Makefile.
func makeVersion(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no VERSION")
	}
	return string(m[1])
}

// TestInstallerIsConfigDefault: dist/install.yaml is what `make
// build-installer` writes today: config/default's objects, the manager's
// image tagged with the Makefile's VERSION.
func TestInstallerIsConfigDefault(t *testing.T) {
	root := repoRoot(t)
	want := kustomize(t, root, "config/default")
	got := readObjects(t, filepath.Join(root, "dist", "install.yaml"))
	image := "success-operator:v" + makeVersion(t, root)
	for i := range want {
		if want[i].GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(want[i].Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			if c.(map[string]any)["image"] == "success-operator:latest" {
				c.(map[string]any)["image"] = image
			}
		}
		if err := unstructured.SetNestedSlice(want[i].Object, containers, "spec", "template", "spec", "containers"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("dist/install.yaml holds %d objects, config/default %d: run `make build-installer`", len(got), len(want))
	}
	for i := range want {
		if !equality.Semantic.DeepEqual(got[i].Object, want[i].Object) {
			t.Errorf("dist/install.yaml's %s %s differs from config/default's with the image %s: run `make build-installer`",
				want[i].GetKind(), want[i].GetName(), image)
		}
	}
}

// TestInstallerAppliesToAnAPIServer: every object of dist/install.yaml
// passes a server-side dry-run apply on the local API server (its
// namespace created first, as the apply itself would).
func TestInstallerAppliesToAnAPIServer(t *testing.T) {
	root := repoRoot(t)
	c := startAPIServer(t, root)
	applyDryRun(t, c, readObjects(t, filepath.Join(root, "dist", "install.yaml")))
}

// startAPIServer starts the local control plane for the test.
func startAPIServer(t *testing.T, root string) client.Client {
	t.Helper()
	env, cfg, err := testenv.StartLocal(root, filepath.Join(t.TempDir(), "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyDryRun applies objs with a server-side dry run; Namespaces are
// created for real, so that the objects in them can be tried.
func applyDryRun(t *testing.T, c client.Client, objs []unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for i := range objs {
		obj := &objs[i]
		opts := []client.ApplyOption{client.FieldOwner("installer-test"), client.ForceOwnership}
		if obj.GetKind() != "Namespace" {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), opts...); err != nil {
			t.Errorf("applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}
