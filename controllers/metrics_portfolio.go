package controllers

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
)

// PortfolioCollector exposes plans and accounts as gauges computed at
// scrape time from the informer cache, so that no series outlives its
// object and nothing is kept between scrapes. It reads the cached objects
// without copying them, and only reads them.
type PortfolioCollector struct {
	// Reader is the manager's cache.
	Reader client.Reader
	// PerAccount adds one health series per account; very large fleets turn
	// it off.
	PerAccount bool
}

var (
	planLabels        = []string{"namespace", "plan"}
	descPlanAccounts  = prometheus.NewDesc("successoperator_plan_accounts", "Accounts managed by the plan.", planLabels, nil)
	descPlanByBand    = prometheus.NewDesc("successoperator_plan_accounts_by_band", "Accounts of the plan per health band.", append(planLabels, "band"), nil)
	descPlanByStage   = prometheus.NewDesc("successoperator_plan_accounts_by_stage", "Accounts of the plan per lifecycle stage.", append(planLabels, "stage"), nil)
	descPlanMRR       = prometheus.NewDesc("successoperator_plan_mrr", "Monthly recurring revenue of the plan's accounts.", planLabels, nil)
	descPlanMRRAtRisk = prometheus.NewDesc("successoperator_plan_mrr_at_risk", "MRR of the plan's accounts that are AtRisk or Red.", planLabels, nil)
	descPlanKPI       = prometheus.NewDesc("successoperator_plan_kpi", "Portfolio KPI of the plan over its kpiPeriod (rates in percent).", append(planLabels, "kpi"), nil)
	descPlanTarget    = prometheus.NewDesc("successoperator_plan_target", "Target of a KPI of the plan, from spec.targets, in the KPI's unit; operator is AtLeast or AtMost.", append(planLabels, "kpi", "operator"), nil)
	descPlanTargetMet = prometheus.NewDesc("successoperator_plan_target_met", "1 while the plan's KPI meets its target, 0 while it misses it; absent while the KPI has no value (Unknown).", append(planLabels, "kpi"), nil)
	descAccountScore  = prometheus.NewDesc("successoperator_account_health_score", "Health score of the account, 0 to 100.", []string{"namespace", "account", "plan"}, nil)
	descAccountBand   = prometheus.NewDesc("successoperator_account_health_band", "1 for the account's current health band, 0 for the others.", []string{"namespace", "account", "plan", "band"}, nil)
)

// Describe implements prometheus.Collector.
func (c *PortfolioCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPlanAccounts, descPlanByBand, descPlanByStage, descPlanMRR,
		descPlanMRRAtRisk, descPlanKPI, descPlanTarget, descPlanTargetMet, descAccountScore, descAccountBand} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PortfolioCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plans := &csv1alpha1.SuccessPlanList{}
	if err := c.Reader.List(ctx, plans, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range plans.Items {
		collectPlan(ch, &plans.Items[i])
	}
	if !c.PerAccount {
		return
	}
	accts := &csv1alpha1.CustomerAccountList{}
	if err := c.Reader.List(ctx, accts, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range accts.Items {
		a := &accts.Items[i]
		h := a.Status.Health
		if h == nil || h.Band == "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descAccountScore, prometheus.GaugeValue, float64(h.Score), a.Namespace, a.Name, a.Status.Plan)
		for _, b := range []csv1alpha1.Band{csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed} {
			v := 0.0
			if h.Band == b {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descAccountBand, prometheus.GaugeValue, v, a.Namespace, a.Name, a.Status.Plan, string(b))
		}
	}
}

func collectPlan(ch chan<- prometheus.Metric, p *csv1alpha1.SuccessPlan) {
	st := &p.Status
	ch <- prometheus.MustNewConstMetric(descPlanAccounts, prometheus.GaugeValue, float64(st.Accounts), p.Namespace, p.Name)
	for _, b := range []csv1alpha1.Band{csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed} {
		ch <- prometheus.MustNewConstMetric(descPlanByBand, prometheus.GaugeValue, float64(st.Bands.Of(b)), p.Namespace, p.Name, string(b))
	}
	for stage, n := range st.Stages {
		ch <- prometheus.MustNewConstMetric(descPlanByStage, prometheus.GaugeValue, float64(n), p.Namespace, p.Name, stage)
	}
	gauge(ch, descPlanMRR, st.MRR, p.Namespace, p.Name)
	gauge(ch, descPlanMRRAtRisk, st.MRRAtRisk, p.Namespace, p.Name)
	for _, name := range kpi.Names {
		gauge(ch, descPlanKPI, kpi.Value(st.KPIs, name), p.Namespace, p.Name, kpiLabel(name))
	}
	for _, t := range st.Targets {
		gauge(ch, descPlanTarget, t.Target, p.Namespace, p.Name, kpiLabel(t.KPI), string(t.Operator))
		switch t.State {
		case csv1alpha1.TargetMet:
			ch <- prometheus.MustNewConstMetric(descPlanTargetMet, prometheus.GaugeValue, 1, p.Namespace, p.Name, kpiLabel(t.KPI))
		case csv1alpha1.TargetMissed:
			ch <- prometheus.MustNewConstMetric(descPlanTargetMet, prometheus.GaugeValue, 0, p.Namespace, p.Name, kpiLabel(t.KPI))
		}
	}
}

// kpiLabel is the kpi label of a KPI: its JSON name in snake case
// (netRevenueRetention is net_revenue_retention), the same in every series
// so that KPIs and targets join on it.
func kpiLabel(name csv1alpha1.KPIName) string {
	var b strings.Builder
	for _, r := range string(name) {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// gauge emits a decimal; an empty (undefined) one emits nothing.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v csv1alpha1.Decimal, labels ...string) {
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, f, labels...)
}
