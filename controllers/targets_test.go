package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// targetsAlert is the alert of config/prometheus/rules.yaml for a missed
// target.
const targetsAlert = "SuccessPlanTargetMissed"

// TestPlanTargetsReachStatusColumnMetricsAndAlerts: a plan with the
// benchmark targets over accounts with known KPIs (those of
// TestPlanStatusSumsUpItsAccounts) reports each target, Met at the
// boundaries, Missed and Unknown; the TargetsMet condition lists the
// misses, the TARGETS column prints 2/5 through the API server's Table, and
// the metrics drive the alert rule of config/prometheus in a real
// Prometheus: pending for the misses only, and gone once a target is met.
func TestPlanTargetsReachStatusColumnMetricsAndAlerts(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.KPIPeriod = metav1.Duration{Duration: 720 * time.Hour}
	p.Spec.Targets = []csv1alpha1.KPITarget{
		{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Value: "5"},
		{KPI: "nps", Operator: csv1alpha1.AtLeast, Value: "50"},
		{KPI: "csat", Operator: csv1alpha1.AtLeast, Value: "80"},
		{KPI: "netRevenueRetention", Operator: csv1alpha1.AtLeast, Value: "100"},
		{KPI: "paybackMonths", Operator: csv1alpha1.AtMost, Value: "2.0"},
	}
	create(t, p)
	create(t, portfolioAccounts(ns)...)

	// KPIs by hand (see TestPlanStatusSumsUpItsAccounts): customer churn
	// 33.3, NPS 50, NRR 88.9, payback 2, no CSAT answers.
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.Targets).To(Equal([]csv1alpha1.TargetStatus{
			{KPI: "customerChurnRate", Operator: csv1alpha1.AtMost, Target: "5", Actual: "33.3", State: csv1alpha1.TargetMissed},
			{KPI: "nps", Operator: csv1alpha1.AtLeast, Target: "50", Actual: "50", State: csv1alpha1.TargetMet},
			{KPI: "csat", Operator: csv1alpha1.AtLeast, Target: "80", State: csv1alpha1.TargetUnknown},
			{KPI: "netRevenueRetention", Operator: csv1alpha1.AtLeast, Target: "100", Actual: "88.9", State: csv1alpha1.TargetMissed},
			{KPI: "paybackMonths", Operator: csv1alpha1.AtMost, Target: "2.0", Actual: "2", State: csv1alpha1.TargetMet},
		}))
		g.Expect(st.TargetsMet).To(Equal("2/5"))
		c := condition(st.Conditions, csv1alpha1.TargetsMetCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(csv1alpha1.TargetsMissedReason))
		g.Expect(c.Message).To(Equal("2 of 5 targets missed: customerChurnRate 33.3 > 5, netRevenueRetention 88.9 < 100; no data for csat"))
		// Missed targets are no fault of the plan.
		g.Expect(condition(st.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
	g.Expect(printedColumn(g, ns, "smb", "Targets")).To(Equal("2/5"))

	// One target series per target, and met 1/0 for the targets with data.
	body := op.scrape()
	for _, series := range []string{
		fmt.Sprintf(`successoperator_plan_target{kpi="customer_churn_rate",namespace=%q,operator="AtMost",plan="smb"} 5`, ns),
		fmt.Sprintf(`successoperator_plan_target{kpi="csat",namespace=%q,operator="AtLeast",plan="smb"} 80`, ns),
		fmt.Sprintf(`successoperator_plan_target_met{kpi="customer_churn_rate",namespace=%q,plan="smb"} 0`, ns),
		fmt.Sprintf(`successoperator_plan_target_met{kpi="nps",namespace=%q,plan="smb"} 1`, ns),
		fmt.Sprintf(`successoperator_plan_target_met{kpi="net_revenue_retention",namespace=%q,plan="smb"} 0`, ns),
		fmt.Sprintf(`successoperator_plan_target_met{kpi="payback_months",namespace=%q,plan="smb"} 1`, ns),
		"# HELP successoperator_plan_target_met 1 while the plan's KPI meets its target",
	} {
		g.Expect(body).To(ContainSubstring(series))
	}
	g.Expect(body).NotTo(ContainSubstring(`successoperator_plan_target_met{kpi="csat"`), "an Unknown target has no met series")

	// The rules of config/prometheus in a real Prometheus scraping the
	// operator's registry, evaluated every second.
	prom := startPrometheusWithRules(t, op)
	ctx := context.Background()
	alerts := func(kpi string) func() ([]float64, error) {
		return func() ([]float64, error) {
			return queryValues(prom, fmt.Sprintf(`ALERTS{alertname=%q,namespace=%q,kpi=%q}`, targetsAlert, ns, kpi))
		}
	}
	for _, kpi := range []string{"customer_churn_rate", "net_revenue_retention"} {
		g.Expect(prom.WaitForSeries(ctx, fmt.Sprintf(`ALERTS{alertname=%q,alertstate="pending",namespace=%q,plan="smb",kpi=%q,severity="warning"}`,
			targetsAlert, ns, kpi), 1)).To(Succeed())
	}
	// The misses were evaluated along with everything else they were
	// scraped with: a met target and one without data have no alert.
	for _, kpi := range []string{"nps", "payback_months", "csat"} {
		g.Expect(alerts(kpi)()).To(BeEmpty(), kpi)
	}
	g.Expect(queryValues(prom, fmt.Sprintf(`ALERTS{alertname=%q,namespace=%q}`, targetsAlert, ns))).To(HaveLen(2))
	g.Expect(activeAlert(g, prom, ns, "customer_churn_rate")).To(SatisfyAll(
		HaveField("State", promv1.AlertStatePending),
		HaveField("Value", WithTransform(func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, Equal(33.3))),
		HaveField("Annotations", HaveKeyWithValue(BeEquivalentTo("summary"),
			BeEquivalentTo(fmt.Sprintf("SuccessPlan %s/smb misses its customer_churn_rate target", ns)))),
		HaveField("Annotations", HaveKeyWithValue(BeEquivalentTo("description"),
			WithTransform(func(v any) string { return fmt.Sprint(v) }, ContainSubstring("is 33.3, the target is AtMost 5; ")))),
	))
	for _, r := range rules(g, prom) {
		g.Expect(r.Health).To(BeEquivalentTo(promv1.RuleHealthGood), "rule %s: %s", r.Name, r.LastError)
	}

	// The dashboard's panels that compare plans read the same series.
	panels := dashboardQueries(t, ns)
	g.Eventually(func(g Gomega) {
		g.Expect(vectorOf(g, prom, panels["Plans by CLV, CAC payback and target attainment"]...)).To(Equal([]string{
			`{namespace="` + ns + `", plan="smb"} => 2000`, // CLV
			`{namespace="` + ns + `", plan="smb"} => 2`,    // payback months
			`{namespace="` + ns + `", plan="smb"} => 0.4`,  // 2 of 5 targets met
			`{namespace="` + ns + `", plan="smb"} => 2000`, // MRR
		}))
		g.Expect(vectorOf(g, prom, panels["Target attainment"]...)).To(Equal([]string{`{namespace="` + ns + `", plan="smb"} => 0.4`}))
		g.Expect(vectorOf(g, prom, panels["Missed targets"]...)).To(Equal([]string{
			`{kpi="customer_churn_rate", namespace="` + ns + `", operator="AtMost", plan="smb"} => 33.3`,
			`{kpi="net_revenue_retention", namespace="` + ns + `", operator="AtLeast", plan="smb"} => 88.9`,
			`{kpi="customer_churn_rate", namespace="` + ns + `", operator="AtMost", plan="smb"} => 5`,
			`{kpi="net_revenue_retention", namespace="` + ns + `", operator="AtLeast", plan="smb"} => 100`,
		}))
	}, timeout, poll).Should(Succeed())

	// Churn at its target meets it: the alert goes, the other stays.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Targets[0].Value = "33.3" })
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.TargetsMet).To(Equal("3/5"))
		g.Expect(condition(st.Conditions, csv1alpha1.TargetsMetCondition).Message).
			To(Equal("1 of 5 targets missed: netRevenueRetention 88.9 < 100; no data for csat"))
	}, timeout, poll).Should(Succeed())
	g.Eventually(alerts("customer_churn_rate"), timeout, poll).Should(BeEmpty())
	g.Expect(alerts("net_revenue_retention")()).To(HaveLen(1))

	// Without a miss, missing data makes the condition Unknown.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Targets = p.Spec.Targets[:3] })
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.TargetsMet).To(Equal("2/3"))
		c := condition(st.Conditions, csv1alpha1.TargetsMetCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionUnknown))
		g.Expect(c.Reason).To(Equal(csv1alpha1.NoKPIDataReason))
		g.Expect(c.Message).To(Equal("No data for csat"))
	}, timeout, poll).Should(Succeed())

	// Every target met.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Targets = p.Spec.Targets[:2] })
	g.Eventually(func(g Gomega) {
		c := condition(plan(g, ns, "smb").Status.Conditions, csv1alpha1.TargetsMetCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(csv1alpha1.AllTargetsMetReason))
		g.Expect(c.Message).To(Equal("All targets met (2/2)"))
	}, timeout, poll).Should(Succeed())
	g.Expect(printedColumn(g, ns, "smb", "Targets")).To(Equal("2/2"))

	// No targets: no condition, an empty column, no series.
	update(t, plan(g, ns, "smb"), func(p *csv1alpha1.SuccessPlan) { p.Spec.Targets = nil })
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.Targets).To(BeEmpty())
		g.Expect(st.TargetsMet).To(BeEmpty())
		g.Expect(st.Conditions).NotTo(ContainElement(HaveField("Type", csv1alpha1.TargetsMetCondition)))
	}, timeout, poll).Should(Succeed())
	g.Expect(printedColumn(g, ns, "smb", "Targets")).To(BeEmpty())
	g.Expect(op.scrape()).NotTo(ContainSubstring("successoperator_plan_target"))
	g.Eventually(alerts("net_revenue_retention"), timeout, poll).Should(BeEmpty())
}

// dashboardQueries returns the queries of the Grafana dashboard's panels
// by title, with the variables set to select the namespace ns.
func dashboardQueries(t *testing.T, ns string) map[string][]string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "config", "grafana", "success-operator-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$namespace", ns, "$plan", ".*", "$job", "exporter")
	out := map[string][]string{}
	for _, p := range dashboard.Panels {
		for _, q := range p.Targets {
			out[p.Title] = append(out[p.Title], vars.Replace(q.Expr))
		}
	}
	return out
}

// vectorOf runs instant queries and returns their samples, "labels =>
// value", each query's sorted by labels, in the order of the queries.
func vectorOf(g Gomega, prom *testenv.Prometheus, queries ...string) []string {
	g.Expect(queries).NotTo(BeEmpty())
	var out []string
	for _, q := range queries {
		v, _, _, err := prom.API().Query(context.Background(), q, time.Now())
		g.Expect(err).NotTo(HaveOccurred(), q)
		vec, ok := v.(model.Vector)
		g.Expect(ok).To(BeTrue(), q)
		var samples []string
		for _, s := range vec {
			samples = append(samples, fmt.Sprintf("%s => %s", s.Metric, s.Value))
		}
		slices.Sort(samples)
		out = append(out, samples...)
	}
	return out
}

// startPrometheusWithRules starts a Prometheus of the test's own that
// scrapes op's metrics and evaluates config/prometheus/rules.yaml every
// second. It stops when the test ends.
func startPrometheusWithRules(t *testing.T, op *operator) *testenv.Prometheus {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := testenv.RuleFileFromPrometheusRule(filepath.Join(root, "config", "prometheus", "rules.yaml"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	exporter := httptest.NewServer(promhttp.HandlerFor(op.registry, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)
	prom, err := testenv.StartPrometheus(root, []string{strings.TrimPrefix(exporter.URL, "http://")}, time.Second,
		testenv.WithRuleFiles(rules))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prom.Stop(); err != nil {
			t.Error(err)
		}
	})
	return prom
}

// activeAlert returns the target alert of a plan's KPI, as Prometheus's
// alerts API lists it.
func activeAlert(g Gomega, prom *testenv.Prometheus, ns, kpi string) promv1.Alert {
	res, err := prom.API().Alerts(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	for _, a := range res.Alerts {
		if a.Labels["alertname"] == targetsAlert && string(a.Labels["namespace"]) == ns && string(a.Labels["kpi"]) == kpi {
			return a
		}
	}
	g.Expect(res.Alerts).To(ContainElement(HaveField("Labels", HaveKeyWithValue(BeEquivalentTo("kpi"), BeEquivalentTo(kpi)))))
	return promv1.Alert{}
}

// rules returns every alerting rule Prometheus loaded.
func rules(g Gomega, prom *testenv.Prometheus) []promv1.AlertingRule {
	res, err := prom.API().Rules(context.Background(), nil)
	g.Expect(err).NotTo(HaveOccurred())
	var out []promv1.AlertingRule
	for _, group := range res.Groups {
		for _, r := range group.Rules {
			if a, ok := r.(promv1.AlertingRule); ok {
				out = append(out, a)
			}
		}
	}
	g.Expect(out).NotTo(BeEmpty())
	return out
}

// printedColumn returns a column of a plan as kubectl prints it: the
// API server's Table rendering of the CRD's additionalPrinterColumns.
func printedColumn(g Gomega, ns, name, column string) string {
	hc, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	req, err := http.NewRequest(http.MethodGet,
		fmt.Sprintf("%s/apis/%s/namespaces/%s/successplans/%s", strings.TrimSuffix(host, "/"), csv1alpha1.GroupVersion, ns, name), nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var table metav1.Table
	g.Expect(json.NewDecoder(resp.Body).Decode(&table)).To(Succeed())
	g.Expect(table.Rows).To(HaveLen(1))
	for i, c := range table.ColumnDefinitions {
		if c.Name == column {
			if v := table.Rows[0].Cells[i]; v != nil {
				return fmt.Sprint(v)
			}
			return ""
		}
	}
	g.Expect(table.ColumnDefinitions).To(ContainElement(HaveField("Name", column)))
	return ""
}
