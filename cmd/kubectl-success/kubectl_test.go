package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// The kubectl tests run the real kubectl of bin/k8s (`make envtest`)
// against the local control plane; kubectl finds the plugin, built into a
// temporary directory, on PATH, as it would on a user's machine. No
// operator runs: the tests write the status they want through the status
// subresource. The control plane starts with the first such test, so that
// the rendering tests need none.

// cluster is the control plane and plugin the kubectl tests share.
var cluster struct {
	once       sync.Once
	err        error
	dir        string
	env        *envtest.Environment
	client     client.Client
	kubeconfig string
	kubectl    string
}

func TestMain(m *testing.M) {
	// envtest logs nothing the tests need; without a logger
	// controller-runtime prints a warning with a stack trace instead.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if cluster.env != nil {
		if err := cluster.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	if cluster.dir != "" {
		_ = os.RemoveAll(cluster.dir)
	}
	os.Exit(code)
}

// startCluster starts the control plane and builds the plugin, once.
func startCluster(t *testing.T) client.Client {
	t.Helper()
	cluster.once.Do(func() { cluster.err = setUpCluster() })
	if cluster.err != nil {
		t.Fatal(cluster.err)
	}
	return cluster.client
}

func setUpCluster() error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	if cluster.dir, err = os.MkdirTemp("", "kubectl-success-test-"); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(cluster.dir, "bin", "kubectl-success"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the plugin: %v\n%s", err, out)
	}
	cluster.kubectl = filepath.Join(testenv.BinDir(root), "kubectl")
	cluster.kubeconfig = filepath.Join(cluster.dir, "kubeconfig")
	env, cfg, err := testenv.StartLocal(root, cluster.kubeconfig)
	if err != nil {
		return err
	}
	cluster.env = env
	cluster.client, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	return err
}

// result is what a kubectl run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// kubectl runs the real kubectl with the plugin's directory first on PATH
// and the test control plane's kubeconfig.
func kubectl(t *testing.T, args ...string) result {
	t.Helper()
	return kubectlIn(t, "", args...)
}

// mustKubectl runs kubectl and fails the test unless it exits 0.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := kubectl(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit code %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// wantGolden compares got with testdata/name; the rendering tests write
// the file under -update, so that the in-memory and the kubectl output
// must agree.
func wantGolden(t *testing.T, name, got string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("testdata/%s differs from kubectl's output:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// seed writes the fixtures to ns: spec first, then the status through the
// status subresource, as the operator would.
func seed(t *testing.T, c client.Client, ns string, plans ...*csv1alpha1.SuccessPlan) {
	t.Helper()
	ctx := context.Background()
	for _, p := range plans {
		status := p.Status
		p.Generation = 0
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if status.ObservedGeneration == 0 {
			continue
		}
		p.Status = status
		if err := c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct {
		acct   *csv1alpha1.CustomerAccount
		status func(types.UID) csv1alpha1.CustomerAccountStatus
	}{{acme(ns), acmeStatus}, {globex(ns), globexStatus}} {
		if err := c.Create(ctx, a.acct); err != nil {
			t.Fatal(err)
		}
		a.acct.Status = a.status(a.acct.UID)
		if err := c.Status().Update(ctx, a.acct); err != nil {
			t.Fatal(err)
		}
	}
}

// seedAll writes every fixture plan and account to a new namespace.
func seedAll(t *testing.T, prefix string) string {
	t.Helper()
	c := startCluster(t)
	ns := testenv.Namespace(t, c, prefix)
	seed(t, c, ns, enterprisePlan(ns), smbPlan(ns), startupPlan(ns))
	return ns
}

// nowFlag renders at the golden files' moment.
var nowFlag = "--now=" + fixtureNow.Format(time.RFC3339)

func TestKubectlSuccessPlans(t *testing.T) {
	t.Parallel()
	ns := seedAll(t, "plans-")
	wantGolden(t, "plans.txt", mustKubectl(t, "success", "plans", "-n", ns))
}

func TestKubectlSuccessExplain(t *testing.T) {
	t.Parallel()
	ns := seedAll(t, "explain-")
	out := mustKubectl(t, "success", "explain", "acme", "-n", ns, nowFlag)
	wantGolden(t, "explain-acme.txt", strings.ReplaceAll(out, ns+"/acme", goldenNamespace+"/acme"))
}

// TestKubectlSuccessOutput: -o yaml and -o json print the objects as a
// List that parses back, without managed fields.
func TestKubectlSuccessOutput(t *testing.T) {
	t.Parallel()
	ns := seedAll(t, "output-")

	var explained struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	out := mustKubectl(t, "success", "explain", "acme", "-n", ns, "-o", "yaml")
	if err := yaml.Unmarshal([]byte(out), &explained); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if explained.APIVersion != "v1" || explained.Kind != "List" || len(explained.Items) != 2 {
		t.Fatalf("got %s %s with %d items, want a v1 List of the account and its plan:\n%s", explained.APIVersion, explained.Kind, len(explained.Items), out)
	}
	var acct csv1alpha1.CustomerAccount
	var plan csv1alpha1.SuccessPlan
	if err := json.Unmarshal(explained.Items[0], &acct); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(explained.Items[1], &plan); err != nil {
		t.Fatal(err)
	}
	if acct.Kind != "CustomerAccount" || acct.APIVersion != csv1alpha1.GroupVersion.String() || acct.Name != "acme" ||
		acct.Status.Health == nil || acct.Status.Health.Score != 57 || len(acct.Status.Health.Measures) != 4 {
		t.Errorf("first item: %s %s %s, health %+v", acct.APIVersion, acct.Kind, acct.Name, acct.Status.Health)
	}
	if plan.Kind != "SuccessPlan" || plan.Name != "smb" || plan.Status.TargetsMet != "1/4" {
		t.Errorf("second item: %s %s, targetsMet %q", plan.Kind, plan.Name, plan.Status.TargetsMet)
	}
	if strings.Contains(out, "managedFields") {
		t.Errorf("managed fields printed:\n%s", out)
	}

	var plans struct {
		Kind  string                   `json:"kind"`
		Items []csv1alpha1.SuccessPlan `json:"items"`
	}
	out = mustKubectl(t, "success", "plans", "-n", ns, "-o", "json")
	if err := json.Unmarshal([]byte(out), &plans); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	for _, p := range plans.Items {
		names = append(names, p.Name)
	}
	if plans.Kind != "List" || strings.Join(names, ",") != "enterprise,smb,startup" {
		t.Errorf("got a %s of %v, want a List of enterprise, smb, startup", plans.Kind, names)
	}

	out = mustKubectl(t, "success", "plans", "-n", ns, "-o", "jsonpath={.items[*].status.mrr}")
	if out != "122000 13200" {
		t.Errorf("jsonpath: got %q", out)
	}
}

// TestKubectlSuccessPlansAllNamespaces compares plans across namespaces,
// each named namespace/name; -n keeps to one.
func TestKubectlSuccessPlansAllNamespaces(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	emea, apac := testenv.Namespace(t, c, "emea-"), testenv.Namespace(t, c, "apac-")
	seed(t, c, emea, smbPlan(emea))
	seed(t, c, apac, smbPlan(apac), enterprisePlan(apac))

	out := mustKubectl(t, "success", "plans", "--all-namespaces")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	for _, want := range []string{emea + "/smb", apac + "/smb", apac + "/enterprise"} {
		if !strings.Contains(strings.Join(header, " "), want) {
			t.Errorf("header %v lacks %s:\n%s", header, want, out)
		}
	}
	if !strings.Contains(out, emea+"/smb: nps is 38.5, target AtLeast 50") {
		t.Errorf("the missed targets do not name the plan by namespace:\n%s", out)
	}
	if short := mustKubectl(t, "success", "plans", "-A"); !strings.Contains(short, emea+"/smb") {
		t.Errorf("-A: %s", short)
	}
	if one := mustKubectl(t, "success", "plans", "-n", emea); strings.Contains(one, apac) || !strings.HasPrefix(one, "PLAN          smb\n") {
		t.Errorf("-n %s:\n%s", emea, one)
	}
}

// TestKubectlSuccessMissingAccount: a clear error on stderr, nothing on
// stdout, exit code 1.
func TestKubectlSuccessMissingAccount(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ns := testenv.Namespace(t, c, "missing-")
	r := kubectl(t, "success", "explain", "nope", "-n", ns)
	want := fmt.Sprintf("error: customer account \"nope\" not found in namespace %q\n", ns)
	if r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, want)
	}

	r = kubectl(t, "success", "plans", "-n", ns)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "No success plans found in "+ns+" namespace.") {
		t.Errorf("no plans: got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
