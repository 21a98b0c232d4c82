package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

func init() { verbs = append(verbs, newExplainCommand) }

// newExplainCommand returns `kubectl success explain ACCOUNT`.
func newExplainCommand(o *rootOptions) *cobra.Command {
	var printFlags *genericclioptions.PrintFlags
	cmd := &cobra.Command{
		Use:   "explain ACCOUNT",
		Short: "Explain an account's health, stage and next steps",
		Long: `Explain shows why a customer account's health is what it is and what comes
next: its plan, score, band, trend, stage and days in it; each measure with
its value, score, weight and contribution in points, and why it is stale,
overridden or failing; the objectives with their deadlines; the next due
action; the conditions that are not as they should be; and the last band
and stage changes. Everything comes from the account and its plan as the
operator wrote them: nothing is scored again.

With -o json or -o yaml it prints the account and its plan as one List.`,
		Example: `  kubectl success explain acme -n customers
  kubectl success explain acme -n customers -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(cmd.Context(), o, printFlags, args[0])
		},
	}
	printFlags = outputFlags(cmd)
	return cmd
}

// runExplain reads the account and its plan, and prints them.
func runExplain(ctx context.Context, o *rootOptions, printFlags *genericclioptions.PrintFlags, name string) error {
	now, err := o.clock()
	if err != nil {
		return err
	}
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	acct := &csv1alpha1.CustomerAccount{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("customer account %q not found in namespace %q", name, ns)
		}
		return err
	}
	plan, err := planOf(ctx, c, acct)
	if err != nil {
		return err
	}
	if wantsObjects(printFlags) {
		objs := []client.Object{acct}
		if plan != nil {
			objs = append(objs, plan)
		}
		return printObjects(printFlags, o.streams.Out, objs...)
	}
	return renderExplain(o.streams.Out, buildExplain(acct, plan, now), styleFor(o.streams.Out))
}

// planName is the plan that manages acct: the one its status names, else
// the one its spec references.
func planName(acct *csv1alpha1.CustomerAccount) string {
	if acct.Status.Plan != "" {
		return acct.Status.Plan
	}
	if acct.Spec.SuccessPlanRef != nil {
		return acct.Spec.SuccessPlanRef.Name
	}
	return ""
}

// planOf returns the account's plan, or nil when it has none or the plan
// does not exist.
func planOf(ctx context.Context, c client.Client, acct *csv1alpha1.CustomerAccount) (*csv1alpha1.SuccessPlan, error) {
	name := planName(acct)
	if name == "" {
		return nil, nil
	}
	plan := &csv1alpha1.SuccessPlan{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: acct.Namespace, Name: name}, plan); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return plan, nil
}

// explainView is what explain shows, gathered from an account and its
// plan at one moment.
type explainView struct {
	acct     *csv1alpha1.CustomerAccount
	plan     *csv1alpha1.SuccessPlan // nil when missing
	planName string
	now      time.Time

	measures   []measureRow
	objectives []objectiveRow
	next       *nextAction
	conditions []metav1.Condition
	bandChange *change
	stageMove  *change
}

// measureRow is one measure's part in the score.
type measureRow struct {
	name, value   string
	score, weight int32
	points        float64
	// notes say why the value is not a plain current one.
	notes []string
}

// objectiveRow is one objective with its deadline.
type objectiveRow struct {
	name, stage string
	state       csv1alpha1.ObjectiveState
	deadline    *time.Time // nil without a within
	since       *time.Time // when the state last changed
}

// nextAction is the action due first.
type nextAction struct {
	name, stage string
	due         time.Time
	// recorded is true for an action recorded Pending: due, and being
	// delivered or retried.
	recorded bool
	attempts int32
	message  string
}

// change is the last change of the band or the stage.
type change struct {
	from, to string
	at       time.Time
	score    int32
}

// buildExplain gathers the view of acct with its plan (nil when missing)
// at now. It only reads: nothing is scored again.
func buildExplain(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, now time.Time) *explainView {
	v := &explainView{acct: acct, plan: plan, planName: planName(acct), now: now}
	if h := acct.Status.Health; h != nil {
		for _, m := range h.Measures {
			v.measures = append(v.measures, measureRowOf(acct, m, now))
		}
	}
	v.objectives = objectiveRows(acct, plan)
	v.next = nextDue(acct, plan)
	for _, c := range acct.Status.Conditions {
		if !asItShouldBe(c) {
			v.conditions = append(v.conditions, c)
		}
	}
	v.bandChange = lastChange(acct.Status.History, func(e csv1alpha1.HistoryEntry) string { return string(e.Band) })
	v.stageMove = lastChange(acct.Status.History, func(e csv1alpha1.HistoryEntry) string { return e.Stage })
	return v
}

// measureRowOf explains one measure's status.
func measureRowOf(acct *csv1alpha1.CustomerAccount, m csv1alpha1.MeasureStatus, now time.Time) measureRow {
	r := measureRow{name: m.Name, value: string(m.Value), score: m.Score, weight: m.Weight, points: m.Contribution}
	if m.Error != "" {
		r.notes = append(r.notes, "error: "+m.Error)
	}
	if m.Stale {
		why := "stale: no value yet"
		if m.ObservedAt != nil {
			why = fmt.Sprintf("stale: last value %s (%s)", stamp(m.ObservedAt.Time), relative(m.ObservedAt.Time, now))
		}
		r.notes = append(r.notes, why)
	}
	if m.Overridden {
		why := "overridden"
		for _, o := range acct.Spec.Overrides {
			if o.Measure != m.Name {
				continue
			}
			why += ": " + o.Reason
			var by []string
			if o.Author != "" {
				by = append(by, "by "+o.Author)
			}
			if !o.Expires.IsZero() {
				by = append(by, "until "+stamp(o.Expires.Time))
			}
			if len(by) > 0 {
				why += " (" + strings.Join(by, ", ") + ")"
			}
		}
		r.notes = append(r.notes, why)
	}
	return r
}

// objectiveRows lists the account's objectives, each with its deadline:
// the stage's entry plus the objective's within. Objectives of the current
// stage that status does not list yet are Pending.
func objectiveRows(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan) []objectiveRow {
	var rows []objectiveRow
	seen := map[[2]string]bool{}
	for _, o := range acct.Status.Objectives {
		seen[[2]string{o.Stage, o.Name}] = true
		r := objectiveRow{name: o.Name, stage: o.Stage, state: o.State, deadline: deadline(acct, plan, o.Stage, o.Name)}
		if o.At != nil {
			r.since = &o.At.Time
		}
		rows = append(rows, r)
	}
	if stage := stageOf(plan, acct.Status.Stage); stage != nil {
		for _, o := range stage.Objectives {
			if !seen[[2]string{stage.Name, o.Name}] {
				rows = append(rows, objectiveRow{name: o.Name, stage: stage.Name, state: csv1alpha1.ObjectivePending,
					deadline: deadline(acct, plan, stage.Name, o.Name)})
			}
		}
	}
	return rows
}

// deadline returns when the objective of stage is due: the stage's entry
// plus the objective's within; nil without a within or a known entry.
func deadline(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, stageName, objective string) *time.Time {
	stage := stageOf(plan, stageName)
	if stage == nil {
		return nil
	}
	i := slices.IndexFunc(stage.Objectives, func(o csv1alpha1.Objective) bool { return o.Name == objective })
	if i < 0 || stage.Objectives[i].Within == nil {
		return nil
	}
	entered, ok := stageEntered(acct, stageName)
	if !ok {
		return nil
	}
	d := entered.Add(stage.Objectives[i].Within.Duration)
	return &d
}

// stageEntered returns when the account last entered stage: its
// stageEnteredAt for the current stage, else the history entry that
// starts its last visit.
func stageEntered(acct *csv1alpha1.CustomerAccount, stage string) (time.Time, bool) {
	if stage == acct.Status.Stage && acct.Status.StageEnteredAt != nil {
		return acct.Status.StageEnteredAt.Time, true
	}
	var at time.Time
	h := acct.Status.History
	for i, e := range h {
		if e.Stage == stage && (i == 0 || h[i-1].Stage != stage) {
			at = e.At.Time
		}
	}
	return at, !at.IsZero()
}

// stageOf returns the plan's stage of that name, or nil.
func stageOf(plan *csv1alpha1.SuccessPlan, name string) *csv1alpha1.Stage {
	if plan == nil {
		return nil
	}
	for i := range plan.Spec.Stages {
		if plan.Spec.Stages[i].Name == name {
			return &plan.Spec.Stages[i]
		}
	}
	return nil
}

// nextDue returns the action due first: an action recorded Pending (due
// at its record), or an action of the current stage not recorded for this
// visit yet, due at the stage's entry plus its after. Nil when none.
func nextDue(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan) *nextAction {
	var next *nextAction
	consider := func(a nextAction) {
		if next == nil || a.due.Before(next.due) {
			next = &a
		}
	}
	for _, e := range acct.Status.Actions {
		if e.State == csv1alpha1.ActionPending && e.At != nil {
			consider(nextAction{name: e.Name, stage: e.Stage, due: e.At.Time, recorded: true, attempts: e.Attempts, message: e.Message})
		}
	}
	stage := stageOf(plan, acct.Status.Stage)
	if stage == nil || acct.Status.StageEnteredAt == nil {
		return next
	}
	entered := acct.Status.StageEnteredAt.Time
	for _, a := range stage.Actions {
		key := actions.Key(string(acct.UID), stage.Name, entered, a.Name)
		if slices.ContainsFunc(acct.Status.Actions, func(e csv1alpha1.ActionStatus) bool { return e.Key == key }) {
			continue
		}
		due := entered
		if a.After != nil {
			due = due.Add(a.After.Duration)
		}
		consider(nextAction{name: a.Name, stage: stage.Name, due: due})
	}
	return next
}

// goodWhenTrue are the condition types that should be True; goodWhenFalse
// those that should be False (or absent). Of any other type, only Unknown
// is worth a look.
var (
	goodWhenTrue = []string{csv1alpha1.ReadyCondition, csv1alpha1.MetricsAvailableCondition,
		csv1alpha1.HealthyCondition, csv1alpha1.ValidCondition}
	goodWhenFalse = []string{csv1alpha1.AtRiskCondition, csv1alpha1.StalledCondition, csv1alpha1.ReconcilingCondition}
)

// asItShouldBe says whether a condition is in the state that needs no
// attention.
func asItShouldBe(c metav1.Condition) bool {
	switch {
	case slices.Contains(goodWhenTrue, c.Type):
		return c.Status == metav1.ConditionTrue
	case slices.Contains(goodWhenFalse, c.Type):
		return c.Status == metav1.ConditionFalse
	default:
		return c.Status != metav1.ConditionUnknown
	}
}

// lastChange returns the last change of the value of field in history,
// oldest first: the entry where it took its current value, with the value
// before. A value set by the first entry is a change from nothing.
func lastChange(history []csv1alpha1.HistoryEntry, field func(csv1alpha1.HistoryEntry) string) *change {
	var last *change
	prev := ""
	for _, e := range history {
		v := field(e)
		if v != "" && v != prev {
			last = &change{from: prev, to: v, at: e.At.Time, score: e.Score}
		}
		if v != "" {
			prev = v
		}
	}
	return last
}

// renderExplain writes the view as text.
func renderExplain(w io.Writer, v *explainView, s style) error {
	p := newPrinter(w)
	renderHeader(p, v, s)

	p.line("")
	if len(v.measures) == 0 {
		p.line("Measures: none scored yet")
	} else {
		cell := "#"
		if s.unicode {
			cell = "█"
		}
		p.line("Measures (POINTS add up to the score; each %s is %d points):", cell, pointsPerCell)
		p.row("MEASURE", "VALUE", "SCORE", "WEIGHT", "POINTS", "BAR", "STATE")
		for _, m := range v.measures {
			p.row(m.name, orDash(m.value), fmt.Sprint(m.score), fmt.Sprint(m.weight),
				fmt.Sprintf("%.1f", m.points), s.bar(m.points), paintNotes(s, m.notes))
		}
	}

	p.line("")
	if len(v.objectives) == 0 {
		p.line("Objectives: none")
	} else {
		p.line("Objectives:")
		p.row("OBJECTIVE", "STAGE", "STATE", "DEADLINE", "SINCE")
		for _, o := range v.objectives {
			dl := "-"
			if o.deadline != nil {
				dl = stamp(*o.deadline)
				if o.state == csv1alpha1.ObjectivePending {
					dl += " (" + relative(*o.deadline, v.now) + ")"
				}
			}
			since := "-"
			if o.since != nil {
				since = stamp(*o.since)
			}
			p.row(o.name, o.stage, string(o.state), dl, since)
		}
	}

	p.line("")
	p.line("Next action: %s", describeNext(v.next, v.now))

	p.line("")
	if len(v.conditions) == 0 {
		p.line("Conditions: all as they should be")
	} else {
		p.line("Conditions that need attention:")
		p.row("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE")
		for _, c := range v.conditions {
			p.row(c.Type, string(c.Status), c.Reason, stamp(c.LastTransitionTime.Time), orDash(c.Message))
		}
	}

	p.line("")
	p.line("Last changes:")
	p.row("  Band:", describeChange(v.bandChange, v.now, true))
	p.row("  Stage:", describeChange(v.stageMove, v.now, false))
	return p.done()
}

// renderHeader writes the account's summary lines.
func renderHeader(p *printer, v *explainView, s style) {
	a := v.acct
	name := a.Namespace + "/" + a.Name
	if a.Spec.DisplayName != "" {
		name += " (" + a.Spec.DisplayName + ")"
	}
	p.row("Account:", name)
	if a.Spec.Owner != "" {
		p.row("Owner:", a.Spec.Owner)
	}
	plan := "none"
	switch {
	case v.planName == "":
	case v.plan == nil:
		plan = v.planName + " (not found)"
	default:
		plan = v.planName
		if h := a.Status.Health; h != nil && h.PlanGeneration != 0 && h.PlanGeneration != v.plan.Generation {
			plan += fmt.Sprintf(" (scored with generation %d; the plan is at %d)", h.PlanGeneration, v.plan.Generation)
		}
	}
	p.row("Plan:", plan)
	health := "not scored yet"
	if h := a.Status.Health; h != nil {
		health = fmt.Sprintf("%d %s", h.Score, paintBand(s, h.Band))
		if h.Trend != "" {
			health += ", trend " + string(h.Trend)
		}
	}
	p.row("Health:", health)
	stage := orDash(a.Status.Stage)
	if t := a.Status.StageEnteredAt; t != nil && a.Status.Stage != "" {
		days := int(v.now.Sub(t.Time) / (24 * time.Hour))
		unit := "days"
		if days == 1 {
			unit = "day"
		}
		stage += fmt.Sprintf(", %d %s in it (since %s)", days, unit, stamp(t.Time))
	}
	p.row("Stage:", stage)
	mrr := orDash(string(a.Status.MRR))
	if a.Status.MRR != "" && a.Spec.Contract.Currency != "" {
		mrr += " " + a.Spec.Contract.Currency
	}
	if a.Spec.Contract.RenewalDate != "" {
		mrr += ", renewal " + string(a.Spec.Contract.RenewalDate)
	}
	p.row("MRR:", mrr)
	if a.Spec.Suspend {
		p.row("Suspended:", "yes: the status keeps its last values")
	}
}

// paintBand colours a band in its own colour.
func paintBand(s style, b csv1alpha1.Band) string {
	switch b {
	case csv1alpha1.BandGreen:
		return s.paint(green, string(b))
	case csv1alpha1.BandYellow:
		return s.paint(yellow, string(b))
	case csv1alpha1.BandRed:
		return s.paint(red, string(b))
	}
	return orDash(string(b))
}

// paintNotes joins a measure's notes, errors in red, stale values in
// yellow, overrides in cyan.
func paintNotes(s style, notes []string) string {
	if len(notes) == 0 {
		return "ok"
	}
	out := make([]string, len(notes))
	for i, n := range notes {
		switch {
		case strings.HasPrefix(n, "error"):
			out[i] = s.paint(red, n)
		case strings.HasPrefix(n, "stale"):
			out[i] = s.paint(yellow, n)
		default:
			out[i] = s.paint(cyan, n)
		}
	}
	return strings.Join(out, "; ")
}

// describeNext says which action is due next and when.
func describeNext(n *nextAction, now time.Time) string {
	if n == nil {
		return "none due in this stage"
	}
	what := fmt.Sprintf("%s (stage %s)", n.name, n.stage)
	if !n.recorded {
		return fmt.Sprintf("%s, due %s (%s)", what, stamp(n.due), relative(n.due, now))
	}
	s := fmt.Sprintf("%s, pending delivery since %s (%s)", what, stamp(n.due), relative(n.due, now))
	if n.attempts > 0 {
		s += fmt.Sprintf(", %d attempts", n.attempts)
	}
	if n.message != "" {
		s += ": " + n.message
	}
	return s
}

// describeChange says what a change was and when.
func describeChange(c *change, now time.Time, withScore bool) string {
	if c == nil {
		return "none recorded"
	}
	s := c.to
	if c.from != "" {
		s = c.from + " -> " + c.to
	}
	s += fmt.Sprintf(" at %s (%s)", stamp(c.at), relative(c.at, now))
	if withScore {
		s += fmt.Sprintf(", score %d", c.score)
	}
	return s
}
