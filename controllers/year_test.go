package controllers

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

// maxStatusBytes is the most an account's status may take as JSON after
// a year of weekly band changes and every stage's actions.
const maxStatusBytes = 2048

// yearPlan is a plan whose score is the sentiment signal (0-100) and whose
// stages each last two weeks, with an objective and two Event-only
// actions, one on entry and one three days later.
func yearPlan(ns string) *csv1alpha1.SuccessPlan {
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Measures[0].Thresholds = csv1alpha1.Thresholds{Bad: 0, Good: 100}
	stage := func(name, exitWhen string) csv1alpha1.Stage {
		return csv1alpha1.Stage{Name: name, ExitWhen: exitWhen,
			Objectives: []csv1alpha1.Objective{{Name: "engaged", When: "measures.sentiment.value >= 50.0"}},
			Actions: []csv1alpha1.Action{{Name: "kickoff"},
				{Name: "follow-up", After: &metav1.Duration{Duration: 72 * time.Hour}}}}
	}
	p.Spec.Stages = []csv1alpha1.Stage{
		stage("Onboarding", "stage.days >= 14"), stage("Adoption", "stage.days >= 14"),
		stage("Renewal", "stage.days >= 14"), stage("Expansion", ""),
	}
	return p
}

// yearWeek is what the account looks like in one week of the year test.
type yearWeek struct {
	sentiment string
	band      csv1alpha1.Band
	// ledger is the ledger entry the week adds (Churn or Reactivation),
	// empty when none.
	ledger csv1alpha1.LedgerEntryType
	stage  string
}

// weekOf is week w (0 the first) of a year in nine-week cycles: two
// weeks in each of the four stages, a week Churned, then reactivated into
// Onboarding; the band flips every week.
func weekOf(w int) yearWeek {
	y := yearWeek{sentiment: "80", band: csv1alpha1.BandGreen}
	if w%2 == 1 {
		y.sentiment, y.band = "30", csv1alpha1.BandRed
	}
	switch c := w % 9; {
	case c == 0 && w > 0:
		y.ledger, y.stage = csv1alpha1.LedgerReactivation, "Onboarding"
	case c == 8:
		y.ledger, y.stage = csv1alpha1.LedgerChurn, csv1alpha1.StageChurned
	default:
		y.stage = []string{"Onboarding", "Adoption", "Renewal", "Expansion"}[min(c/2, 3)]
	}
	return y
}

// TestYearOfStatusStaysBounded runs an account through a year on the fake
// clock, evaluated twice a week: the band flips every week, the account
// passes through every stage, churns and is won back every nine weeks,
// and every stage's actions fire once on each visit, although each visit
// is evaluated again after its last action fired. Its status, as the API
// server stores it, stays under maxStatusBytes and keeps what users and
// the operator need: the current visit's actions, the last finished one,
// the current stage's objectives, the trend and the last band and stage
// changes.
func TestYearOfStatusStaysBounded(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, yearPlan(ns))
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "80"}
	create(t, a)

	expectWeek := func(w int) *csv1alpha1.CustomerAccount {
		t.Helper()
		want := weekOf(w)
		var got *csv1alpha1.CustomerAccount
		g.Eventually(func(g Gomega) {
			got = account(g, ns, "acme")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.Health).NotTo(BeNil())
			g.Expect(got.Status.Health.Measures[0].Value).To(Equal(csv1alpha1.Decimal(want.sentiment)))
			g.Expect(got.Status.Health.Band).To(Equal(want.band))
			g.Expect(got.Status.Stage).To(Equal(want.stage))
		}, timeout, poll).Should(Succeed(), "week %d", w)
		return got
	}
	expectWeek(0)
	halfWeek := 7 * 12 * time.Hour
	for w := 1; w <= 52; w++ {
		// Midweek the CSM logs a check-in, which no measure reads: the
		// account is evaluated, and the follow-up of a visit begun last
		// week is due.
		op.clock.Step(halfWeek)
		update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
			a.Spec.Signals.Values["checkins"] = csv1alpha1.Decimal(strconv.Itoa(w))
		})
		expectWeek(w - 1)
		op.clock.Step(halfWeek)
		want := weekOf(w)
		update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
			a.Spec.Signals.Values["sentiment"] = csv1alpha1.Decimal(want.sentiment)
			if want.ledger != "" {
				a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue, csv1alpha1.LedgerEntry{
					Date: csv1alpha1.Date(op.clock.Now().Format(time.DateOnly)), Type: want.ledger, Amount: "3000"})
			}
		})
		expectWeek(w)
	}
	final := expectWeek(52)
	week := func(w int) time.Time { return epoch.Add(time.Duration(w) * 7 * 24 * time.Hour) }
	key := func(stage string, w int, action string) string {
		return actions.Key(string(final.UID), stage, week(w), action)
	}
	// Every visit of a stage fired each of its actions once: the visits of
	// the six cycles, which begin in weeks 0, 9, ... 45, each with kickoff
	// and follow-up. Status kept the keys that prevent a second firing.
	var fired []string
	for start := 0; start < 52; start += 9 {
		for i, stage := range []string{"Onboarding", "Adoption", "Renewal", "Expansion"} {
			for _, action := range []string{"kickoff", "follow-up"} {
				fired = append(fired, eventAction("Trigger", action, key(stage, start+2*i, action)))
			}
		}
	}
	g.Expect(fired).To(HaveLen(48))
	g.Eventually(func(g Gomega) []string { return actionEvents(g, ns, "acme") }, timeout, poll).Should(ConsistOf(fired))

	raw, err := json.Marshal(final.Status)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("status after a year: %d bytes (history %d, samples %d, objectives %d, actions %d)", len(raw),
		len(final.Status.History), len(final.Status.Health.Samples), len(final.Status.Objectives), len(final.Status.Actions))
	g.Expect(len(raw)).To(BeNumerically("<", maxStatusBytes), string(raw))

	st := final.Status
	at := func(w int) types.GomegaMatcher { return HaveField("At.Time", BeTemporally("==", week(w))) }
	midweek := func(w int) types.GomegaMatcher {
		return HaveField("At.Time", BeTemporally("==", week(w).Add(-halfWeek)))
	}
	g.Expect(st.StageEnteredAt.Time).To(BeTemporally("==", week(51)))
	// The current visit's actions stay: they keep each from firing twice.
	// Of the earlier visits, the action that finished last stays:
	// Renewal's follow-up, recorded in the middle of week 50 for the visit
	// that began in week 49. Event-only actions are never Pending.
	g.Expect(st.Actions).To(ConsistOf(
		SatisfyAll(HaveField("Key", key("Renewal", 49, "follow-up")), HaveField("State", csv1alpha1.ActionDelivered), midweek(50)),
		SatisfyAll(HaveField("Key", key("Expansion", 51, "kickoff")), HaveField("State", csv1alpha1.ActionDelivered), at(51)),
		SatisfyAll(HaveField("Key", key("Expansion", 51, "follow-up")), HaveField("State", csv1alpha1.ActionDelivered), midweek(52)),
	))
	// Only the current stage's objectives.
	g.Expect(st.Objectives).To(ConsistOf(SatisfyAll(HaveField("Name", "engaged"), HaveField("Stage", "Expansion"))))
	// The trend compares the score of week 52 (80) with the score a window
	// (168h) ago, week 51's 30: Up.
	g.Expect(st.Health.Score).To(Equal(int32(80)))
	g.Expect(st.Health.Trend).To(Equal(csv1alpha1.TrendUp))
	g.Expect(st.Health.Samples).To(HaveExactElements(SatisfyAll(HaveField("Score", int32(30)), at(51)),
		SatisfyAll(HaveField("Score", int32(80)), at(52))))
	// The history ends with the last band change, Red -> Green in week 52,
	// and tells the last stage change, Renewal -> Expansion in week 51.
	g.Expect(st.History).To(HaveExactElements(
		SatisfyAll(HaveField("Stage", "Renewal"), HaveField("Band", csv1alpha1.BandGreen), at(50)),
		SatisfyAll(HaveField("Stage", "Expansion"), HaveField("Band", csv1alpha1.BandRed), at(51)),
		SatisfyAll(HaveField("Stage", "Expansion"), HaveField("Band", csv1alpha1.BandGreen), at(52)),
	))
}

// actionEvents lists the actions (Trigger/<action>/<key>) of the
// account's ActionTriggered Events.
func actionEvents(g Gomega, ns, name string) []string {
	var out []string
	for _, e := range eventsOf(g, ns, name, csv1alpha1.ActionTriggeredReason) {
		out = append(out, e.Action)
	}
	return out
}
