package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// ledgerAccount returns an account of segment smb whose ledger entries are
// dated days before epoch, where the clocks start.
func ledgerAccount(ns, name, sentiment string, entries ...any) *csv1alpha1.CustomerAccount {
	a := newAccount(ns, name, "smb")
	a.Spec.Contract.StartDate, a.Spec.Contract.RenewalDate = "2020-01-01", "2030-01-01"
	a.Spec.Contract.Revenue = nil
	for i := 0; i < len(entries); i += 3 {
		a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue, csv1alpha1.LedgerEntry{
			Date:   csv1alpha1.Date(epoch.AddDate(0, 0, -entries[i].(int)).Format(time.DateOnly)),
			Type:   entries[i+1].(csv1alpha1.LedgerEntryType),
			Amount: csv1alpha1.Decimal(entries[i+2].(string)),
		})
	}
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": csv1alpha1.Decimal(sentiment)}
	return a
}

// portfolioAccounts are four smb accounts whose KPIs over 30 days are
// worked out by hand in TestPlanStatusSumsUpItsAccounts: a grower, a
// shrinker, a leaver and a newcomer.
func portfolioAccounts(ns string) []client.Object {
	grower := ledgerAccount(ns, "grower", "5", 100, csv1alpha1.LedgerNew, "1000", 10, csv1alpha1.LedgerExpansion, "200")
	grower.Spec.Contract.AcquisitionCost = "2400"
	grower.Spec.Signals.Surveys.NPS = []int32{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	shrinker := ledgerAccount(ns, "shrinker", "1", 100, csv1alpha1.LedgerNew, "500", 5, csv1alpha1.LedgerContraction, "100")
	shrinker.Spec.Signals.Surveys.NPS = []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0}
	return []client.Object{grower, shrinker,
		ledgerAccount(ns, "leaver", "5", 200, csv1alpha1.LedgerNew, "300", 3, csv1alpha1.LedgerChurn, "300"),
		ledgerAccount(ns, "newcomer", "5", 2, csv1alpha1.LedgerNew, "400"),
	}
}

func TestPlanStatusSumsUpItsAccounts(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.KPIPeriod = metav1.Duration{Duration: 720 * time.Hour}
	create(t, p)
	create(t, portfolioAccounts(ns)...)
	create(t, newAccount(ns, "elsewhere", "enterprise")) // not this plan's

	// By hand, over the last 30 days: start MRR 1800 (grower 1000, shrinker
	// 500, leaver 300), churned 300, contraction 100, expansion 200, new 400.
	// GRR 1400/1800 = 77.8%, NRR 1600/1800 = 88.9%, revenue churn 400/1800 =
	// 22.2%, customer churn 1/3 = 33.3%, quick ratio (400+200)/400 = 1.5.
	// NPS: 3 promoters, 1 detractor of 4 = 50. Payback 2400/1200 = 2.
	// CLV: average MRR 2000/3, monthly churn 1/3: 2000.
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.Accounts).To(Equal(int32(4)))
		g.Expect(st.Bands).To(Equal(csv1alpha1.BandCounts{Green: 3, Red: 1}))
		g.Expect(st.Stages).To(Equal(map[string]int32{"Onboarding": 3, "Adoption": 0, csv1alpha1.StageChurned: 1}))
		g.Expect(st.MRR).To(Equal(csv1alpha1.Decimal("2000")))
		g.Expect(st.MRRAtRisk).To(Equal(csv1alpha1.Decimal("400")))
		g.Expect(st.KPIs).To(Equal(&csv1alpha1.KPIs{
			Period: "720h", CustomerChurnRate: "33.3", RevenueChurnRate: "22.2", GrossRevenueRetention: "77.8",
			NetRevenueRetention: "88.9", QuickRatio: "1.5", NPS: "50", CLV: "2000", PaybackMonths: "2",
		}))
	}, timeout, poll).Should(Succeed())

	// The newcomer expands: new business grows, the cohort's figures stay.
	update(t, account(g, ns, "newcomer"), func(a *csv1alpha1.CustomerAccount) {
		a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue, csv1alpha1.LedgerEntry{
			Date: csv1alpha1.Date(op.clock.Now().AddDate(0, 0, -1).Format(time.DateOnly)), Type: csv1alpha1.LedgerExpansion, Amount: "100"})
	})
	g.Eventually(func(g Gomega) {
		st := plan(g, ns, "smb").Status
		g.Expect(st.MRR).To(Equal(csv1alpha1.Decimal("2100")))
		g.Expect(st.KPIs.QuickRatio).To(Equal(csv1alpha1.Decimal("1.75")))
		g.Expect(st.KPIs.NetRevenueRetention).To(Equal(csv1alpha1.Decimal("88.9")))
	}, timeout, poll).Should(Succeed())

	// The manager's metrics endpoint serves the plan and its accounts.
	g.Eventually(func(g Gomega) {
		body := op.scrape()
		for _, series := range []string{
			fmt.Sprintf(`successoperator_plan_accounts{namespace=%q,plan="smb"} 4`, ns),
			fmt.Sprintf(`successoperator_plan_accounts_by_band{band="Red",namespace=%q,plan="smb"} 1`, ns),
			fmt.Sprintf(`successoperator_plan_accounts_by_stage{namespace=%q,plan="smb",stage="Churned"} 1`, ns),
			fmt.Sprintf(`successoperator_plan_mrr{namespace=%q,plan="smb"} 2100`, ns),
			fmt.Sprintf(`successoperator_plan_mrr_at_risk{namespace=%q,plan="smb"} 400`, ns),
			fmt.Sprintf(`successoperator_plan_kpi{kpi="net_revenue_retention",namespace=%q,plan="smb"} 88.9`, ns),
			fmt.Sprintf(`successoperator_plan_kpi{kpi="quick_ratio",namespace=%q,plan="smb"} 1.75`, ns),
			fmt.Sprintf(`successoperator_account_health_score{account="grower",namespace=%q,plan="smb"} 100`, ns),
			fmt.Sprintf(`successoperator_account_health_band{account="shrinker",band="Red",namespace=%q,plan="smb"} 1`, ns),
			`successoperator_evaluations_total{result="success"}`,
		} {
			g.Expect(body).To(ContainSubstring(series))
		}
	}, timeout, poll).Should(Succeed())
}

func TestABurstOfAccountChangesMakesFewPlanWrites(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "smb", "smb", 0))
	const accounts = 20
	for i := range accounts {
		create(t, ledgerAccount(ns, fmt.Sprintf("a%02d", i), "3", 50, csv1alpha1.LedgerNew, "100"))
	}
	// Converged: every account evaluated and counted, the plan Ready.
	converged := func(mrr string) {
		g.Eventually(func(g Gomega) {
			p := plan(g, ns, "smb")
			g.Expect(p.Status.MRR).To(Equal(csv1alpha1.Decimal(mrr)))
			g.Expect(p.Status.Stages).To(Equal(map[string]int32{"Onboarding": accounts, "Adoption": 0, csv1alpha1.StageChurned: 0}))
			g.Expect(condition(p.Status.Conditions, csv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}, timeout, poll).Should(Succeed())
	}
	converged("2000")
	before := op.planWrites()

	// 100 changes: every account's ledger grows five times.
	for round := range 5 {
		for i := range accounts {
			update(t, account(g, ns, fmt.Sprintf("a%02d", i)), func(a *csv1alpha1.CustomerAccount) {
				a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue, csv1alpha1.LedgerEntry{
					Date: csv1alpha1.Date(op.clock.Now().AddDate(0, 0, -40+round).Format(time.DateOnly)), Type: csv1alpha1.LedgerExpansion, Amount: "1"})
			})
		}
	}
	converged("2100")
	writes := op.planWrites() - before
	t.Logf("100 account changes made %d plan status writes", writes)
	// One write per aggregation window at most: the burst takes a few
	// seconds here, each window is 2s.
	g.Expect(writes).To(And(BeNumerically(">=", 1), BeNumerically("<=", 10)))
}
