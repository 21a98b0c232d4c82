package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
	kpis "customersuccess.dev/success-operator/internal/kpi"
)

// edgePlanManifest scores adoption as is from 0 to 1, Green from 73 with no
// hysteresis, and reads adoption's value at the same edge in a stage exit
// and the risk signal: 0.725 is on every edge.
const edgePlanManifest = `apiVersion: customersuccess.dev/v1alpha1
kind: SuccessPlan
metadata:
  name: smb
  namespace: customers
spec:
  accountSelector:
    matchLabels: {customersuccess.dev/segment: smb}
  sources:
  - name: telemetry
    prometheus: {url: "http://prometheus.monitoring:9090", accountLabel: account}
  measures:
  - {name: adoption, source: telemetry, query: "max by (account) (adoption)", thresholds: {bad: 0, good: 1}, weight: 40}
  health:
    bands: {green: 73, yellow: 40}
    hysteresis: 0
  stages:
  - {name: Adoption, exitWhen: "measures.adoption.value >= 0.725"}
  - {name: Nurturing}
  signals:
    atRisk: "measures.adoption.value < 0.725"
`

// operatorStatus gives acct the status the operator writes when the
// adoption source serves pulled at evaluatedAt: the account reconciler's
// steps (evaluate.Measures, Health, Stage, Signals).
func operatorStatus(t *testing.T, acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, model *evaluate.Model, pulled float64, evaluatedAt time.Time) {
	t.Helper()
	mrr, _, err := kpis.MRR(acct.Spec.Contract.Revenue, evaluatedAt)
	if err != nil {
		t.Fatal(err)
	}
	a := evaluate.Account{Object: acct, MRR: mrr, Now: evaluatedAt}
	in := evaluate.Measures(a, plan, model, func(string) (health.Observation, bool) {
		return health.Observation{Value: pulled, Has: true, At: evaluatedAt.Add(-time.Minute)}, true
	})
	res := evaluate.Health(evaluatedAt, plan, in.Measures, acct.Status.Health)
	step := evaluate.Stage(a, plan, model, &res)
	conds, failed := evaluate.Signals(a, model, &res, step)
	if len(failed) > 0 || len(step.Errors) > 0 {
		t.Fatalf("evaluation failed: %v %v", failed, step.Errors)
	}
	entered := metav1.NewTime(step.EnteredAt)
	acct.Status.Plan, acct.Status.MRR = plan.Name, money(mrr)
	acct.Status.Health = &res.Status
	acct.Status.Stage, acct.Status.StageEnteredAt, acct.Status.Objectives = step.Stage, &entered, step.Objectives
	acct.Status.Conditions = conds
}

// TestPreviewAppliedPlanOnBandEdge: a source served 0.72499951 with a band
// edge at 73; the status records 0.725. Previewing the plan as applied
// against that status is "No change." and passes --fail-on
// band-changes=0: the operator scored, banded, staged and flagged the
// value it recorded. Scored as pulled, the status said 72 Yellow, at risk,
// in Adoption, and the preview of the unchanged plan moved it to 73 Green
// in Nurturing.
func TestPreviewAppliedPlanOnBandEdge(t *testing.T) {
	plan := &csv1alpha1.SuccessPlan{}
	if err := yaml.UnmarshalStrict([]byte(edgePlanManifest), plan); err != nil {
		t.Fatal(err)
	}
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	model := evaluate.Compile(c, plan)
	if !model.Valid() {
		t.Fatal(model.Message())
	}

	dir := t.TempDir()
	planFile := filepath.Join(dir, "smb.yaml")
	if err := os.WriteFile(planFile, []byte(edgePlanManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	served := []struct {
		name   string
		pulled float64
	}{{"acme", 0.72499951}, {"globex", 0.7250004}, {"hooli", 0.72500049}, {"initech", 0.7244996}}
	var docs []string
	for _, s := range served {
		name, pulled := s.name, s.pulled
		acct := &csv1alpha1.CustomerAccount{
			TypeMeta: metav1.TypeMeta{APIVersion: csv1alpha1.GroupVersion.String(), Kind: "CustomerAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: goldenNamespace,
				Labels: map[string]string{"customersuccess.dev/segment": "smb"}},
			Spec: csv1alpha1.CustomerAccountSpec{Contract: csv1alpha1.Contract{Seats: 50, Currency: "EUR",
				StartDate: "2026-01-01", RenewalDate: "2027-01-01",
				Revenue: []csv1alpha1.LedgerEntry{{Date: "2026-01-01", Type: csv1alpha1.LedgerNew, Amount: "3000"}}}},
		}
		operatorStatus(t, acct, plan, model, pulled, fixtureNow.Add(-5*time.Minute))
		if name == "acme" {
			h := acct.Status.Health
			if h.Measures[0].Value != "0.725" || h.Score != 73 || h.Band != csv1alpha1.BandGreen || acct.Status.Stage != "Nurturing" ||
				evaluate.AtRisk(acct.Status.Conditions, h) {
				t.Errorf("acme's status: %+v, stage %s, conditions %+v; want 0.725 scoring 73, Green, Nurturing, not at risk",
					h, acct.Status.Stage, acct.Status.Conditions)
			}
		}
		b, err := yaml.Marshal(acct)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.yaml"), []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	r := runPlugin(t, "", "preview", "-f", planFile, "--accounts", dir, nowFlag, "--fail-on", "band-changes=0,stage-changes=0")
	want := "Preview of SuccessPlan customers/smb (offline) at 2026-04-01 12:00 UTC: 4 accounts, 0 changing.\n\nNo change.\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("exit code %d, got:\n%s%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
}
