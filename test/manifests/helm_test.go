package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"customersuccess.dev/success-operator/internal/testenv"
)

// helm runs bin/helm, which `make helm` builds; a missing helm fails the
// test.
func helm(t *testing.T, root string, args ...string) string {
	t.Helper()
	bin := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make helm` to build it (%v)", bin, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// render is `helm template` of the chart in the release namespace, with
// args, as objects.
func render(t *testing.T, root string, args ...string) []unstructured.Unstructured {
	t.Helper()
	args = append([]string{"template", "success-operator", "dist/chart", "--namespace", releaseNamespace}, args...)
	return decodeObjects(t, []byte(helm(t, root, args...)))
}

// byKindName indexes objects as "Kind/name".
func byKindName(objs []unstructured.Unstructured) map[string]unstructured.Unstructured {
	out := map[string]unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = o
	}
	return out
}

const releaseNamespace = "success-operator-system"

func TestHelmChartLints(t *testing.T) {
	root := repoRoot(t)
	helm(t, root, "lint", "--strict", "dist/chart")
	helm(t, root, "lint", "--strict", "dist/chart", "--set", "prometheus.enable=true,grafana.enable=true,metrics.enable=false")
}

// TestHelmChartRendersConfigDefault: with its defaults the chart renders
// config/default's objects (but the namespace, which is the release's):
// the same RBAC and CRDs (kept on uninstall), the manager with the same
// arguments and the chart's image; its options add the ServiceMonitor
// and the dashboard.
func TestHelmChartRendersConfigDefault(t *testing.T) {
	root := repoRoot(t)
	want := byKindName(kustomize(t, root, "config/default"))
	got := byKindName(render(t, root))
	delete(want, "Namespace/"+releaseNamespace)
	for key, w := range want {
		g, ok := got[key]
		if !ok {
			t.Errorf("the chart renders no %s", key)
			continue
		}
		switch w.GetKind() {
		case "Deployment":
			wc, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
			gc, _, _ := unstructured.NestedSlice(g.Object, "spec", "template", "spec", "containers")
			if len(gc) != 1 || !equality.Semantic.DeepEqual(gc[0].(map[string]any)["args"], wc[0].(map[string]any)["args"]) {
				t.Errorf("the manager's arguments differ from config/default's:\n%v\n%v", gc, wc)
			}
			if img := gc[0].(map[string]any)["image"]; img != "success-operator:v0.1.0" {
				t.Errorf("the manager's image is %v, want the chart's appVersion", img)
			}
		case "Service":
			if !equality.Semantic.DeepEqual(g.Object["spec"], w.Object["spec"]) {
				t.Errorf("%s: spec differs from config/default's", key)
			}
		case "CustomResourceDefinition":
			if g.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
				t.Errorf("%s is not kept on uninstall", key)
			}
			if !equality.Semantic.DeepEqual(g.Object["spec"], w.Object["spec"]) {
				t.Errorf("%s: spec differs from config/default's: run `make helm-chart`", key)
			}
		default: // RBAC: the same object
			if !equality.Semantic.DeepEqual(g.Object, w.Object) {
				t.Errorf("%s differs from config/default's: run `make helm-chart`\n%v\n%v", key, g.Object, w.Object)
			}
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s, which config/default has not", key)
		}
	}

	extra := byKindName(render(t, root, "--set", "prometheus.enable=true,grafana.enable=true,grafana.namespace=monitoring"))
	if _, ok := extra["ServiceMonitor/success-operator-controller-manager-metrics"]; !ok {
		t.Error("prometheus.enable renders no ServiceMonitor")
	}
	cm, ok := extra["ConfigMap/success-operator-dashboard"]
	dashboard, err := os.ReadFile(filepath.Join(root, "config", "grafana", "success-operator-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if data, _, _ := unstructured.NestedString(cm.Object, "data", "success-operator-dashboard.json"); !ok ||
		cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "1" || data != strings.TrimRight(string(dashboard), "\n") {
		t.Errorf("grafana.enable renders %v, want config/grafana's dashboard for the sidecar", cm.Object["metadata"])
	}
}

// TestHelmChartIsCurrent: the chart's generated parts are what `make
// helm-chart` writes from config/ today.
func TestHelmChartIsCurrent(t *testing.T) {
	root := repoRoot(t)
	kubectl := filepath.Join(testenv.BinDir(root), "kubectl")
	rendered, err := exec.Command(kubectl, "kustomize", filepath.Join(root, "config", "default")).Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/helmchart", "-chart", dir, "-dashboard", "config/grafana/success-operator-dashboard.json")
	cmd.Dir, cmd.Stdin = root, bytes.NewReader(rendered)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/helmchart: %v\n%s", err, out)
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(root, "dist", "chart", rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("dist/chart/%s is not what make helm-chart writes: run it", rel)
		}
		return nil
	})
}

// TestHelmChartAppliesToAnAPIServer: the chart's default rendering passes
// a server-side dry-run apply on the local API server.
func TestHelmChartAppliesToAnAPIServer(t *testing.T) {
	root := repoRoot(t)
	c := startAPIServer(t, root)
	objs := render(t, root)
	ns := unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": releaseNamespace}}}
	applyDryRun(t, c, append([]unstructured.Unstructured{ns}, objs...))
}
