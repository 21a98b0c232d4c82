package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
)

func init() { verbs = append(verbs, newPlansCommand) }

// newPlansCommand returns `kubectl success plans`.
func newPlansCommand(o *rootOptions) *cobra.Command {
	var (
		printFlags    *genericclioptions.PrintFlags
		allNamespaces bool
	)
	cmd := &cobra.Command{
		Use:   "plans",
		Short: "Compare the plans of a namespace side by side",
		Long: `Plans shows the success plans of a namespace side by side, one column per
plan, for comparing segments: accounts, accounts per band, MRR, MRR at risk,
NRR, GRR, customer churn, NPS, CSAT, CLV, CAC payback and the targets met.
A figure marked * misses the plan's target; the misses are listed below
the table. The figures are the plans' status, over each plan's kpiPeriod.

With -o json or -o yaml it prints the plans as one List.`,
		Example: `  kubectl success plans -n customers
  kubectl success plans --all-namespaces
  kubectl success plans -n customers -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlans(cmd.Context(), o, printFlags, allNamespaces)
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false,
		"Compare the plans of every namespace; a plan is then named namespace/name")
	printFlags = outputFlags(cmd)
	return cmd
}

// runPlans lists the plans and prints them.
func runPlans(ctx context.Context, o *rootOptions, printFlags *genericclioptions.PrintFlags, allNamespaces bool) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	var opts []client.ListOption
	ns := ""
	if !allNamespaces {
		if ns, err = o.namespace(); err != nil {
			return err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	list := &csv1alpha1.SuccessPlanList{}
	if err := c.List(ctx, list, opts...); err != nil {
		return err
	}
	plans := list.Items
	sort.Slice(plans, func(i, j int) bool {
		if plans[i].Namespace != plans[j].Namespace {
			return plans[i].Namespace < plans[j].Namespace
		}
		return plans[i].Name < plans[j].Name
	})
	if wantsObjects(printFlags) {
		objs := make([]client.Object, len(plans))
		for i := range plans {
			objs[i] = &plans[i]
		}
		return printObjects(printFlags, o.streams.Out, objs...)
	}
	if len(plans) == 0 {
		// As kubectl get: the note on stderr, stdout empty.
		note := fmt.Sprintf("No success plans found in %s namespace.", ns)
		if allNamespaces {
			note = "No success plans found."
		}
		p := newPrinter(o.streams.ErrOut)
		p.line("%s", note)
		return p.done()
	}
	return renderPlans(o.streams.Out, plans, allNamespaces)
}

// planFigure is one row of the comparison: a label, the figure of a plan,
// and the KPI whose target judges it, if any.
type planFigure struct {
	label string
	kpi   csv1alpha1.KPIName
	value func(*csv1alpha1.SuccessPlan) string
}

// kpiFigure is the row of KPI name, printed with its unit.
func kpiFigure(label string, name csv1alpha1.KPIName, unit string) planFigure {
	return planFigure{label: label, kpi: name, value: func(p *csv1alpha1.SuccessPlan) string {
		if v := kpi.Value(p.Status.KPIs, name); v != "" {
			return string(v) + unit
		}
		return ""
	}}
}

// planFigures are the rows of `kubectl success plans`, in order.
var planFigures = []planFigure{
	{label: "ACCOUNTS", value: func(p *csv1alpha1.SuccessPlan) string { return fmt.Sprint(p.Status.Accounts) }},
	{label: "GREEN", value: func(p *csv1alpha1.SuccessPlan) string { return fmt.Sprint(p.Status.Bands.Green) }},
	{label: "YELLOW", value: func(p *csv1alpha1.SuccessPlan) string { return fmt.Sprint(p.Status.Bands.Yellow) }},
	{label: "RED", value: func(p *csv1alpha1.SuccessPlan) string { return fmt.Sprint(p.Status.Bands.Red) }},
	{label: "MRR", value: func(p *csv1alpha1.SuccessPlan) string { return string(p.Status.MRR) }},
	{label: "MRR AT RISK", value: func(p *csv1alpha1.SuccessPlan) string { return string(p.Status.MRRAtRisk) }},
	{label: "KPI PERIOD", value: func(p *csv1alpha1.SuccessPlan) string {
		if p.Status.KPIs == nil {
			return ""
		}
		return p.Status.KPIs.Period
	}},
	kpiFigure("NRR", "netRevenueRetention", "%"),
	kpiFigure("GRR", "grossRevenueRetention", "%"),
	kpiFigure("CHURN", "customerChurnRate", "%"),
	kpiFigure("NPS", "nps", ""),
	kpiFigure("CSAT", "csat", "%"),
	kpiFigure("CLV", "clv", ""),
	kpiFigure("PAYBACK", "paybackMonths", " mo"),
	{label: "TARGETS MET", value: func(p *csv1alpha1.SuccessPlan) string { return p.Status.TargetsMet }},
}

// missedTarget returns the plan's target for k when the plan misses it.
func missedTarget(p *csv1alpha1.SuccessPlan, k csv1alpha1.KPIName) *csv1alpha1.TargetStatus {
	for i, t := range p.Status.Targets {
		if t.KPI == k && t.State == csv1alpha1.TargetMissed {
			return &p.Status.Targets[i]
		}
	}
	return nil
}

// renderPlans writes the plans side by side, one column each, and the
// targets they miss. Plans are named namespace/name with allNamespaces.
func renderPlans(w io.Writer, plans []csv1alpha1.SuccessPlan, allNamespaces bool) error {
	name := func(p *csv1alpha1.SuccessPlan) string {
		if allNamespaces {
			return p.Namespace + "/" + p.Name
		}
		return p.Name
	}
	out := newPrinter(w)
	header := []string{"PLAN"}
	for i := range plans {
		header = append(header, name(&plans[i]))
	}
	out.row(header...)
	for _, f := range planFigures {
		cells := []string{f.label}
		for i := range plans {
			v := "-" // a plan the operator has not evaluated yet has no figures, not zeros
			if plans[i].Status.ObservedGeneration != 0 {
				v = orDash(f.value(&plans[i]))
			}
			if f.kpi != "" && missedTarget(&plans[i], f.kpi) != nil {
				v += "*"
			}
			cells = append(cells, v)
		}
		out.row(cells...)
	}
	var misses []string
	for i, p := range plans {
		for _, t := range p.Status.Targets {
			if t.State == csv1alpha1.TargetMissed {
				misses = append(misses, fmt.Sprintf("  %s: %s is %s, target %s %s", name(&plans[i]), t.KPI, orDash(string(t.Actual)), t.Operator, t.Target))
			}
		}
	}
	if len(misses) > 0 {
		out.line("")
		out.line("* Targets missed:")
		for _, m := range misses {
			out.line("%s", m)
		}
	}
	return out.done()
}
