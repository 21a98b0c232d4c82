package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/controllers"
	"customersuccess.dev/success-operator/internal/testenv"
)

// runOperator runs the operator in-process on namespace ns, as
// controllers/suite_test.go does: a manager whose cache sees only ns, its
// own metrics registry, no metrics server. It stops when the test ends.
func runOperator(t *testing.T, ns string) {
	t.Helper()
	mgr := testenv.NewManager(t, cluster.env.Config, ns)
	if err := controllers.SetupWithManager(mgr, controllers.Options{
		AccountConcurrency: 2, PlanConcurrency: 2, Registry: prometheus.NewRegistry(),
	}); err != nil {
		t.Fatal(err)
	}
	testenv.StartManager(t, mgr)
}

// kubectlIn runs the real kubectl with the plugin's directory first on
// PATH, the test control plane's kubeconfig, and stdin.
func kubectlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	// Bounded by the test's own deadline only: a thousand manifests on a
	// busy machine take as long as they take.
	cmd := exec.CommandContext(t.Context(), cluster.kubectl, args...)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Join(cluster.dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+cluster.kubeconfig,
		"HOME="+cluster.dir, // kubectl's cache stays out of the user's home
	)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// The prediction test's plans read static measures only (spec.signals),
// and their stages depend on no elapsed time, so that what the operator
// computes does not depend on when it runs.
const predictPlanV1 = `apiVersion: customersuccess.dev/v1alpha1
kind: SuccessPlan
metadata: {name: smb}
spec:
  accountSelector: {matchLabels: {customersuccess.dev/segment: smb}}
  sources: [{name: csm, static: {}}]
  measures:
  - {name: usage, source: csm, key: usage, thresholds: {bad: 0.2, good: 0.7}, weight: 50}
  - {name: sentiment, source: csm, key: sentiment, thresholds: {bad: 1, good: 5}, weight: 50}
  health: {bands: {green: 70, yellow: 40}}
  stages:
  - {name: Onboarding, exitWhen: "measures.usage.value >= 0.2"}
  - {name: Adoption, exitWhen: "health.score >= 80"}
  - {name: Nurturing}
  signals: {atRisk: "health.score < 50"}
`

// predictPlanV2 weighs usage three times sentiment, moves the bands and
// Adoption's exit, and makes a low sentiment a risk.
var predictPlanV2 = strings.NewReplacer(
	"weight: 50}\n  - {name: sentiment", "weight: 75}\n  - {name: sentiment",
	"thresholds: {bad: 1, good: 5}, weight: 50}", "thresholds: {bad: 1, good: 5}, weight: 25}",
	"green: 70, yellow: 40", "green: 78, yellow: 50",
	"health.score >= 80", "health.score >= 75",
	`atRisk: "health.score < 50"`, `atRisk: "health.score < 50 || measures.sentiment.value <= 2.0"`,
).Replace(predictPlanV1)

// predictAccounts are usage and sentiment per account: some change band
// and stage under v2, some do not.
var predictAccounts = map[string][2]string{
	"acme": {"0.6", "4"}, "globex": {"0.8", "5"}, "hooli": {"0.4", "3"},
	"initech": {"0.24", "2"}, "wayne": {"0.7", "2"}, "stark": {"0.1", "3"},
}

// waitScored waits until the operator evaluated every account with the
// plan's current generation, and returns the accounts.
func waitScored(t *testing.T, c client.Client, ns string) map[string]csv1alpha1.CustomerAccount {
	t.Helper()
	g := NewWithT(t)
	plan := &csv1alpha1.SuccessPlan{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "smb"}, plan)).To(Succeed())
	out := map[string]csv1alpha1.CustomerAccount{}
	g.Eventually(func(g Gomega) {
		list := &csv1alpha1.CustomerAccountList{}
		g.Expect(c.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(len(predictAccounts)))
		for _, a := range list.Items {
			g.Expect(a.Status.Health).NotTo(BeNil(), a.Name)
			g.Expect(a.Status.Health.PlanGeneration).To(Equal(plan.Generation), a.Name)
			out[a.Name] = a
		}
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
	return out
}

// TestKubectlSuccessPreviewPredicts: apply a plan, let the operator score
// the accounts, preview a changed plan, apply it, and the operator's new
// scores, bands, stages and risk are the preview's prediction, for every
// account.
func TestKubectlSuccessPreviewPredicts(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ns := testenv.Namespace(t, c, "preview-")
	runOperator(t, ns)
	mustKubectlIn(t, predictPlanV1, "apply", "-n", ns, "-f", "-")
	for name, v := range predictAccounts {
		a := &csv1alpha1.CustomerAccount{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"customersuccess.dev/segment": "smb"}},
			Spec: csv1alpha1.CustomerAccountSpec{
				Contract: csv1alpha1.Contract{Currency: "EUR", Revenue: []csv1alpha1.LedgerEntry{{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "1000"}}},
				Signals:  csv1alpha1.Signals{Values: map[string]csv1alpha1.Decimal{"usage": csv1alpha1.Decimal(v[0]), "sentiment": csv1alpha1.Decimal(v[1])}},
			},
		}
		if err := c.Create(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	before := waitScored(t, c, ns)

	// The plan as applied predicts no change.
	if out := mustKubectlIn(t, predictPlanV1, "success", "preview", "-n", ns, "-f", "-"); !strings.Contains(out, "\n\nNo change.\n") {
		t.Errorf("the applied plan's preview:\n%s", out)
	}

	var prediction previewResult
	out := mustKubectlIn(t, predictPlanV2, "success", "preview", "-n", ns, "-f", "-", "-o", "json")
	if err := json.Unmarshal([]byte(out), &prediction); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if prediction.Offline || len(prediction.Accounts) != len(predictAccounts) || prediction.BandChanges == 0 || prediction.StageChanges == 0 {
		t.Fatalf("the prediction changes too little to prove anything: %s", out)
	}
	unchanged := 0
	for _, p := range prediction.Accounts {
		b := before[p.Name]
		if p.Before != recordedState(&b) {
			t.Errorf("%s: before %+v, the operator wrote %+v", p.Name, p.Before, recordedState(&b))
		}
		if len(p.Changes) == 0 {
			unchanged++
		}
	}
	if unchanged == 0 {
		t.Errorf("every account changes: %s", out)
	}

	mustKubectlIn(t, predictPlanV2, "apply", "-n", ns, "-f", "-")
	after := waitScored(t, c, ns)
	for _, p := range prediction.Accounts {
		a := after[p.Name]
		got := recordedState(&a)
		if got != p.After {
			t.Errorf("%s: the operator wrote %+v, the preview predicted %+v", p.Name, got, p.After)
		}
		if risk := meta.IsStatusConditionTrue(a.Status.Conditions, csv1alpha1.AtRiskCondition) || a.Status.Health.Band == csv1alpha1.BandRed; risk != p.After.AtRisk {
			t.Errorf("%s: at risk %v, predicted %v", p.Name, risk, p.After.AtRisk)
		}
	}
}

// mustKubectlIn runs kubectl with stdin and fails the test unless it
// exits 0.
func mustKubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := kubectlIn(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit code %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// TestKubectlSuccessPreviewRefuses: a plan the API server's schema
// refuses is refused through the dry run, naming the field; a plan only
// the operator refuses is refused with the message of its Valid
// condition, word for word. Nothing is written: the dry runs leave the
// applied plan as it was.
func TestKubectlSuccessPreviewRefuses(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ns := testenv.Namespace(t, c, "refuse-")
	runOperator(t, ns)

	negative := strings.Replace(predictPlanV1, "weight: 50}", "weight: -5}", 1)
	r := kubectlIn(t, negative, "success", "preview", "-n", ns, "-f", "-")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "spec.measures[0].weight") {
		t.Errorf("weight -5: got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	unknown := strings.Replace(predictPlanV1, "weight: 50}", "wieght: 50}", 1)
	if r := kubectlIn(t, unknown, "success", "preview", "-n", ns, "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "wieght") {
		t.Errorf("unknown field: got exit code %d, stderr %q", r.code, r.stderr)
	}

	v2 := strings.ReplaceAll(predictPlanV2, "{name: smb}", "{name: smb, namespace: "+ns+"}")
	for name, change := range invalidPlans {
		t.Run(name, func(t *testing.T) {
			manifest := change(strings.ReplaceAll(v2, "name: smb", "name: "+name))
			if manifest == v2 {
				t.Fatal("the change changed nothing")
			}
			r := kubectlIn(t, manifest, "success", "preview", "-f", "-")
			// Applied, the operator writes its Valid condition.
			mustKubectlIn(t, manifest, "apply", "-f", "-")
			var valid *metav1.Condition
			NewWithT(t).Eventually(func(g Gomega) {
				plan := &csv1alpha1.SuccessPlan{}
				g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, plan)).To(Succeed())
				valid = meta.FindStatusCondition(plan.Status.Conditions, csv1alpha1.ValidCondition)
				g.Expect(valid).NotTo(BeNil())
				g.Expect(valid.ObservedGeneration).To(Equal(plan.Generation))
			}, time.Minute, 100*time.Millisecond).Should(Succeed())
			want := "error: SuccessPlan \"" + name + "\" is not valid: " + valid.Message + "\n"
			if valid.Status != metav1.ConditionFalse || r.code != 1 || r.stdout != "" || r.stderr != want {
				t.Errorf("Valid=%s %q; preview: exit code %d, stdout %q, stderr %q, want %q", valid.Status, valid.Message, r.code, r.stdout, r.stderr, want)
			}
		})
	}
}
