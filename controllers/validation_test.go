package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

const validAccount = `
apiVersion: customersuccess.dev/v1alpha1
kind: CustomerAccount
metadata: {name: acme}
spec:
  contract:
    seats: 50
    currency: EUR
    startDate: "2026-03-01"
    renewalDate: "2027-03-01"
    acquisitionCost: "10000"
    revenue:
    - {date: "2026-03-01", type: New, amount: "2700"}
  overrides:
  - {measure: sentiment, value: "2", reason: "exec sponsor left", expires: "2026-12-31T00:00:00Z"}
  signals:
    values: {sentiment: "4"}
    surveys:
      nps: [0, 0, 0, 0, 0, 1, 1, 2, 1, 3, 4]
      csat: [0, 1, 1, 5, 6]
      ces: [4, 5, 2, 1, 0, 1, 0]
  contacts:
  - {name: Ada Byrne, email: ada.byrne@acme.example, role: ExecutiveSponsor}
  - {name: Tomás Ruiz, email: tomas.ruiz@acme.example, role: Champion, persona: data-engineer}
`

const validPlan = `
apiVersion: customersuccess.dev/v1alpha1
kind: SuccessPlan
metadata: {name: smb}
spec:
  accountSelector: {matchLabels: {customersuccess.dev/segment: smb}}
  interval: 5m
  grossMargin: "0.80"
  sources:
  - {name: telemetry, prometheus: {url: "http://prometheus:9090"}}
  - {name: csm, static: {}}
  measures:
  - {name: activeSeats, source: telemetry, query: "max by (account) (active_users_7d)", thresholds: {bad: 0.2, good: 0.7}, weight: 40}
  - {name: sentiment, source: csm, key: sentiment, thresholds: {bad: 1, good: 5}, weight: 15}
  health: {bands: {green: 70, yellow: 40}, hysteresis: 2}
  stages:
  - name: Onboarding
    maxDuration: 720h
    exitWhen: "stage.days >= 7"
    actions:
    - {name: kickoff, audience: {roles: [Champion, Admin], personas: [data-engineer]}}
  - {name: Adoption}
  targets:
  - {kpi: customerChurnRate, operator: AtMost, value: "5"}
  - {kpi: nps, operator: AtLeast, value: "50"}
`

func TestAdmissionRejectsBadManifests(t *testing.T) {
	ns := newNamespace(t)
	type obj = map[string]any
	spec := func(u obj) obj { return u["spec"].(obj) }
	contract := func(u obj) obj { return spec(u)["contract"].(obj) }
	surveys := func(u obj) obj { return spec(u)["signals"].(obj)["surveys"].(obj) }
	item := func(list any, i int) obj { return list.([]any)[i].(obj) }
	action := func(u obj) obj { return item(item(spec(u)["stages"], 0)["actions"], 0) }
	contacts := func(n int) []any {
		l := make([]any, n)
		for i := range l {
			l[i] = obj{"name": fmt.Sprintf("Contact %d", i), "email": fmt.Sprintf("c%d@acme.example", i), "role": "User"}
		}
		return l
	}

	cases := []struct {
		name    string
		base    string
		mutate  func(obj)
		message string
	}{
		{"an unknown ledger type", validAccount, func(u obj) { item(contract(u)["revenue"], 0)["type"] = "Refund" },
			`spec.contract.revenue[0].type: Unsupported value: "Refund"`},
		{"a negative ledger amount", validAccount, func(u obj) { item(contract(u)["revenue"], 0)["amount"] = "-5" },
			"spec.contract.revenue[0].amount: Invalid value"},
		{"an amount that is not a decimal", validAccount, func(u obj) { item(contract(u)["revenue"], 0)["amount"] = "2,700" },
			"spec.contract.revenue[0].amount in body should match"},
		{"an impossible date", validAccount, func(u obj) { item(contract(u)["revenue"], 0)["date"] = "2026-13-01" },
			"spec.contract.revenue[0].date in body must be of type date"},
		{"a renewal before the start", validAccount, func(u obj) { contract(u)["renewalDate"] = "2025-01-01" },
			"spec.contract.renewalDate: Invalid value"},
		{"an NPS survey with 10 counts", validAccount, func(u obj) { surveys(u)["nps"] = []any{1, 1, 1, 1, 1, 1, 1, 1, 1, 1} },
			"spec.signals.surveys.nps: Invalid value"},
		{"a CSAT survey with 6 counts", validAccount, func(u obj) { surveys(u)["csat"] = []any{1, 1, 1, 1, 1, 1} },
			"spec.signals.surveys.csat: Too many"},
		{"a negative survey count", validAccount, func(u obj) { surveys(u)["ces"] = []any{-1, 0, 0, 0, 0, 0, 0} },
			"spec.signals.surveys.ces[0]"},
		{"a currency that is not ISO 4217", validAccount, func(u obj) { contract(u)["currency"] = "euro" },
			"spec.contract.currency in body should match"},
		{"negative seats", validAccount, func(u obj) { contract(u)["seats"] = -1 },
			"spec.contract.seats: Invalid value: -1"},
		{"two overrides of one measure", validAccount, func(u obj) {
			spec(u)["overrides"] = append(spec(u)["overrides"].([]any), item(spec(u)["overrides"], 0))
		}, "spec.overrides[1]: Duplicate value"},
		{"an override expiry that is not a time", validAccount, func(u obj) { item(spec(u)["overrides"], 0)["expires"] = "tomorrow" },
			"spec.overrides[0].expires"},
		{"both accountSelector and accounts", validPlan, func(u obj) { spec(u)["accounts"] = []any{"acme"} },
			"exactly one of spec.accountSelector and spec.accounts must be set"},
		{"neither accountSelector nor accounts", validPlan, func(u obj) { delete(spec(u), "accountSelector") },
			"exactly one of spec.accountSelector and spec.accounts must be set"},
		{"two measures with one name", validPlan, func(u obj) { item(spec(u)["measures"], 1)["name"] = "activeSeats" },
			"spec.measures[1]: Duplicate value"},
		{"a negative weight", validPlan, func(u obj) { item(spec(u)["measures"], 0)["weight"] = -1 },
			"spec.measures[0].weight: Invalid value: -1"},
		{"equal thresholds", validPlan, func(u obj) { item(spec(u)["measures"], 0)["thresholds"] = obj{"bad": 1, "good": 1} },
			"spec.measures[0].thresholds: Invalid value: bad and good must differ"},
		{"an unknown missing policy", validPlan, func(u obj) { item(spec(u)["measures"], 0)["missing"] = "Ignore" },
			`spec.measures[0].missing: Unsupported value: "Ignore"`},
		{"a source of two kinds", validPlan, func(u obj) { item(spec(u)["sources"], 0)["static"] = obj{} },
			"spec.sources[0]: Invalid value: exactly one of prometheus, http, sql and static must be set"},
		{"a source of no kind", validPlan, func(u obj) { delete(item(spec(u)["sources"], 1), "static") },
			"spec.sources[1]: Invalid value: exactly one of prometheus, http, sql and static must be set"},
		{"two sources with one name", validPlan, func(u obj) { item(spec(u)["sources"], 1)["name"] = "telemetry" },
			"spec.sources[1]: Duplicate value"},
		{"two stages with one name", validPlan, func(u obj) { item(spec(u)["stages"], 1)["name"] = "Onboarding" },
			"spec.stages[1]: Duplicate value"},
		{"a stage named Churned", validPlan, func(u obj) { item(spec(u)["stages"], 1)["name"] = "Churned" },
			"spec.stages[1].name: Invalid value: \"Churned\": Churned is reserved"},
		{"an interval that is not a duration", validPlan, func(u obj) { spec(u)["interval"] = "5 minutes" },
			"spec.interval in body should match"},
		{"an interval under 10s", validPlan, func(u obj) { spec(u)["interval"] = "1s" },
			"spec.interval: Invalid value: \"1s\": must be at least 10s"},
		{"a maxDuration that is not a duration", validPlan, func(u obj) { item(spec(u)["stages"], 0)["maxDuration"] = "30d" },
			"spec.stages[0].maxDuration in body should match"},
		{"a gross margin above 1", validPlan, func(u obj) { spec(u)["grossMargin"] = "1.5" },
			"spec.grossMargin: Invalid value: \"1.5\": must be a fraction greater than 0 and at most 1"},
		{"a green band under the yellow one", validPlan, func(u obj) { spec(u)["health"].(obj)["bands"] = obj{"green": 30, "yellow": 40} },
			"spec.health.bands: Invalid value: green must be greater than yellow"},
		{"a source URL that is not http", validPlan, func(u obj) {
			item(spec(u)["sources"], 0)["prometheus"] = obj{"url": "file:///etc/passwd"}
		}, "spec.sources[0].prometheus.url in body should match"},
		{"a contact email that is not an address", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["email"] = "ada.byrne" },
			`spec.contacts[0].email: Invalid value: "ada.byrne"`},
		{"a contact email without a domain", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["email"] = "ada@" },
			`spec.contacts[0].email: Invalid value: "ada@"`},
		{"a contact email with two at signs", validAccount, func(u obj) { item(spec(u)["contacts"], 1)["email"] = "tomas@ruiz@acme.example" },
			`spec.contacts[1].email: Invalid value: "tomas@ruiz@acme.example"`},
		{"a contact email with a display name", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["email"] = "Ada <ada.byrne@acme.example>" },
			`spec.contacts[0].email: Invalid value: "Ada <ada.byrne@acme.example>": must be a bare lowercase address`},
		{"a contact email in capitals, which would duplicate its lowercase form", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["email"] = "ADA.BYRNE@acme.example" },
			`spec.contacts[0].email: Invalid value: "ADA.BYRNE@acme.example": must be a bare lowercase address`},
		{"an unknown contact role", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["role"] = "CEO" },
			`spec.contacts[0].role: Unsupported value: "CEO"`},
		{"a contact without a role", validAccount, func(u obj) { delete(item(spec(u)["contacts"], 1), "role") },
			"spec.contacts[1].role: Required value"},
		{"a contact without a name", validAccount, func(u obj) { item(spec(u)["contacts"], 0)["name"] = "" },
			"spec.contacts[0].name in body should be at least 1 chars long"},
		{"two contacts with one email", validAccount, func(u obj) {
			item(spec(u)["contacts"], 1)["email"] = item(spec(u)["contacts"], 0)["email"]
		}, `spec.contacts[1]: Duplicate value: {"email":"ada.byrne@acme.example"}`},
		{"51 contacts", validAccount, func(u obj) { spec(u)["contacts"] = contacts(51) },
			"spec.contacts: Too many: 51: must have at most 50 items"},
		{"an unknown target KPI", validPlan, func(u obj) { item(spec(u)["targets"], 0)["kpi"] = "churn" },
			`spec.targets[0].kpi: Unsupported value: "churn"`},
		{"an unknown target operator", validPlan, func(u obj) { item(spec(u)["targets"], 0)["operator"] = "Below" },
			`spec.targets[0].operator: Unsupported value: "Below"`},
		{"two targets for one KPI", validPlan, func(u obj) { item(spec(u)["targets"], 1)["kpi"] = "customerChurnRate" },
			`spec.targets[1]: Duplicate value: {"kpi":"customerChurnRate"}`},
		{"a target value that is not a decimal", validPlan, func(u obj) { item(spec(u)["targets"], 0)["value"] = "5%" },
			"spec.targets[0].value in body should match"},
		{"an audience naming nothing", validPlan, func(u obj) { action(u)["audience"] = obj{} },
			"spec.stages[0].actions[0].audience: Invalid value: audience must name at least one role or persona"},
		{"an audience with an unknown role", validPlan, func(u obj) { action(u)["audience"] = obj{"roles": []any{"CEO"}} },
			`spec.stages[0].actions[0].audience.roles[0]: Unsupported value: "CEO"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := &unstructured.Unstructured{}
			g.Expect(yaml.Unmarshal([]byte(tc.base), &u.Object)).To(Succeed())
			u.SetNamespace(ns)
			// The base itself is valid; the mutation alone makes it bad.
			g.Expect(k8sClient.Create(context.Background(), u.DeepCopy(), client.DryRunAll)).To(Succeed())
			tc.mutate(u.Object)
			err := k8sClient.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

// TestAdmissionKeepsContactsTargetsAndAudience proves that valid contacts,
// targets and audiences are accepted and stored as written, not pruned.
func TestAdmissionKeepsContactsTargetsAndAudience(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	for _, m := range []string{validAccount, validPlan} {
		u := &unstructured.Unstructured{}
		g.Expect(yaml.Unmarshal([]byte(m), &u.Object)).To(Succeed())
		u.SetNamespace(ns)
		g.Expect(k8sClient.Create(context.Background(), u)).To(Succeed(), u.GetKind())
	}

	a := &csv1alpha1.CustomerAccount{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "acme"}, a)).To(Succeed())
	g.Expect(a.Spec.Contacts).To(Equal([]csv1alpha1.Contact{
		{Name: "Ada Byrne", Email: "ada.byrne@acme.example", Role: csv1alpha1.RoleExecutiveSponsor},
		{Name: "Tomás Ruiz", Email: "tomas.ruiz@acme.example", Role: csv1alpha1.RoleChampion, Persona: "data-engineer"},
	}))

	p := &csv1alpha1.SuccessPlan{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "smb"}, p)).To(Succeed())
	g.Expect(p.Spec.Targets).To(Equal([]csv1alpha1.KPITarget{
		{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Value: "5"},
		{KPI: "nps", Operator: csv1alpha1.AtLeast, Value: "50"},
	}))
	g.Expect(p.Spec.Stages[0].Actions).To(HaveLen(1))
	g.Expect(p.Spec.Stages[0].Actions[0].Audience).To(Equal(&csv1alpha1.Audience{
		Roles:    []csv1alpha1.ContactRole{csv1alpha1.RoleChampion, csv1alpha1.RoleAdmin},
		Personas: []string{"data-engineer"},
	}))
}

func TestSamplesAreAcceptedAndResolved(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(root, "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var accounts int
	var docs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		for _, doc := range strings.Split(string(data), "\n---") {
			u := &unstructured.Unstructured{}
			g.Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), f)
			if len(u.Object) == 0 {
				continue
			}
			if u.GetKind() == "CustomerAccount" {
				accounts++
			}
			// Namespaces first, as kubectl apply orders them.
			if u.GetKind() == "Namespace" {
				docs = append([]*unstructured.Unstructured{u}, docs...)
			} else {
				docs = append(docs, u)
			}
		}
	}
	for _, u := range docs {
		g.Expect(k8sClient.Create(context.Background(), u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
	}
	g.Expect(accounts).To(BeNumerically(">=", 4))
	runOperator(t, "customers")

	want := map[string]string{"acme": "smb", "globex": "enterprise", "initech": "enterprise", "hooli": "enterprise", "vandelay": "smb"}
	g.Eventually(func(g Gomega) {
		list := &csv1alpha1.CustomerAccountList{}
		g.Expect(k8sClient.List(context.Background(), list, client.InNamespace("customers"))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(accounts))
		for _, a := range list.Items {
			if p, ok := want[a.Name]; ok {
				g.Expect(a.Status.Plan).To(Equal(p), a.Name)
			}
			g.Expect(a.Status.MRR).NotTo(BeEmpty(), a.Name)
		}
		for _, name := range []string{"smb", "enterprise"} {
			g.Expect(condition(plan(g, "customers", name).Status.Conditions, csv1alpha1.ValidCondition).Status).
				To(Equal(metav1.ConditionTrue), name)
		}
	}, timeout, poll).Should(Succeed())
	g.Expect(account(g, "customers", "acme").Status.MRR).To(Equal(csv1alpha1.Decimal("3000")))
}
