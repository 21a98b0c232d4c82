package controllers

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/testenv"
)

// entry is a history entry day days after epoch.
func entry(day int, stage string, band csv1alpha1.Band) csv1alpha1.HistoryEntry {
	return csv1alpha1.HistoryEntry{At: metav1.NewTime(epoch.AddDate(0, 0, day)), Score: int32(day), Band: band, Stage: stage}
}

const (
	green  = csv1alpha1.BandGreen
	yellow = csv1alpha1.BandYellow
	red    = csv1alpha1.BandRed
)

// TestCompactHistory: the history keeps its newest entries and the ones
// that tell the last band change and the last stage change.
func TestCompactHistory(t *testing.T) {
	flips := []csv1alpha1.HistoryEntry{entry(0, "Onboarding", green), entry(1, "Adoption", green)}
	for day := 2; day < 10; day++ {
		flips = append(flips, entry(day, "Adoption", []csv1alpha1.Band{yellow, green}[day%2]))
	}
	for _, tc := range []struct {
		name    string
		history []csv1alpha1.HistoryEntry
		want    []csv1alpha1.HistoryEntry
	}{
		{name: "an empty history stays empty"},
		{
			name:    "a history of the tail's length is kept whole",
			history: []csv1alpha1.HistoryEntry{entry(0, "Onboarding", yellow), entry(1, "Adoption", yellow), entry(2, "Adoption", red)},
			want:    []csv1alpha1.HistoryEntry{entry(0, "Onboarding", yellow), entry(1, "Adoption", yellow), entry(2, "Adoption", red)},
		},
		{
			name: "the newest entries are all that stays when they tell the last changes",
			history: []csv1alpha1.HistoryEntry{entry(0, "Onboarding", yellow), entry(1, "Onboarding", green), entry(2, "Onboarding", yellow),
				entry(3, "Onboarding", green), entry(4, "Onboarding", yellow), entry(5, "Adoption", yellow), entry(6, "Adoption", green)},
			want: []csv1alpha1.HistoryEntry{entry(4, "Onboarding", yellow), entry(5, "Adoption", yellow), entry(6, "Adoption", green)},
		},
		{
			name:    "band changes filling the tail keep the last stage change and the stage it left",
			history: flips,
			want:    append([]csv1alpha1.HistoryEntry{entry(0, "Onboarding", green), entry(1, "Adoption", green)}, flips[len(flips)-3:]...),
		},
		{
			name: "stage changes filling the tail keep the last band change and the band it left",
			history: []csv1alpha1.HistoryEntry{entry(0, "Onboarding", yellow), entry(1, "Onboarding", green), entry(2, "Onboarding", green),
				entry(3, "Adoption", green), entry(4, "Nurturing", green), entry(5, "Renewal", green), entry(6, "Expansion", green)},
			want: []csv1alpha1.HistoryEntry{entry(0, "Onboarding", yellow), entry(1, "Onboarding", green),
				entry(4, "Nurturing", green), entry(5, "Renewal", green), entry(6, "Expansion", green)},
		},
		{
			name: "the first band stays when it never changed, and entries without a band are no change",
			history: []csv1alpha1.HistoryEntry{entry(0, "Onboarding", ""), entry(1, "Adoption", yellow), entry(2, "Nurturing", yellow),
				entry(3, "Renewal", yellow), entry(4, "Expansion", yellow), entry(5, csv1alpha1.StageChurned, yellow)},
			want: []csv1alpha1.HistoryEntry{entry(1, "Adoption", yellow),
				entry(3, "Renewal", yellow), entry(4, "Expansion", yellow), entry(5, csv1alpha1.StageChurned, yellow)},
		},
		{
			name: "a history of the old bound of 50 entries shrinks",
			history: func() []csv1alpha1.HistoryEntry {
				var h []csv1alpha1.HistoryEntry
				for day := range 50 {
					h = append(h, entry(day, []string{"Onboarding", "Adoption"}[day/25], []csv1alpha1.Band{yellow, green}[day%2]))
				}
				return h
			}(),
			want: []csv1alpha1.HistoryEntry{entry(24, "Onboarding", yellow), entry(25, "Adoption", green),
				entry(47, "Adoption", green), entry(48, "Adoption", yellow), entry(49, "Adoption", green)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := compactHistory(tc.history)
			g.Expect(got).To(Equal(tc.want))
			g.Expect(compactHistory(got)).To(Equal(got), "compacting twice changes nothing")
		})
	}
}

// lastChangeOf is the last change of a history's band or stage as the
// kubectl plugin's explain reads it: the entry whose value differs from
// the value before it (none before the first), and that value.
func lastChangeOf(h []csv1alpha1.HistoryEntry, value func(csv1alpha1.HistoryEntry) string) (from string, at csv1alpha1.HistoryEntry) {
	prev := ""
	for _, e := range h {
		if v := value(e); v != "" {
			if v != prev {
				from, at = prev, e
			}
			prev = v
		}
	}
	return from, at
}

// TestCompactHistoryKeepsTheLastChanges compacts random histories, appended
// one entry at a time as the reconciler does: the history stays within
// maxHistory, ends with the newest entries, and tells the same last band
// change and last stage change as the whole history.
func TestCompactHistoryKeepsTheLastChanges(t *testing.T) {
	band := func(e csv1alpha1.HistoryEntry) string { return string(e.Band) }
	stage := func(e csv1alpha1.HistoryEntry) string { return e.Stage }
	rnd := rand.New(rand.NewPCG(1, 2))
	for run := range 300 {
		var whole, compact []csv1alpha1.HistoryEntry
		for day := range rnd.IntN(40) {
			e := entry(day, []string{"Onboarding", "Adoption", "Renewal"}[rnd.IntN(3)],
				[]csv1alpha1.Band{"", green, yellow, red, green, green}[rnd.IntN(6)])
			whole = append(whole, e)
			compact = appendHistory(compact, e)

			if len(compact) > maxHistory {
				t.Fatalf("run %d: %d entries", run, len(compact))
			}
			tail := whole[max(0, len(whole)-historyTail):]
			if !slices.Equal(compact[len(compact)-len(tail):], tail) {
				t.Fatalf("run %d: %v does not end with %v", run, compact, tail)
			}
			for name, value := range map[string]func(csv1alpha1.HistoryEntry) string{"band": band, "stage": stage} {
				wantFrom, wantAt := lastChangeOf(whole, value)
				gotFrom, gotAt := lastChangeOf(compact, value)
				if gotFrom != wantFrom || gotAt != wantAt {
					t.Fatalf("run %d: last %s change %q -> %+v, want %q -> %+v\nwhole   %v\ncompact %v",
						run, name, gotFrom, gotAt, wantFrom, wantAt, whole, compact)
				}
			}
		}
	}
}

// action is an entry of action name in stage, finished (or Pending) day
// days after epoch, with the key of the visit that began visit days after
// epoch.
func action(name, stage string, visit, day int, state csv1alpha1.ActionState) csv1alpha1.ActionStatus {
	return csv1alpha1.ActionStatus{Name: name, Stage: stage, State: state, At: &metav1.Time{Time: epoch.AddDate(0, 0, day)},
		Key: actions.Key("uid", stage, epoch.AddDate(0, 0, visit), name)}
}

// TestCompactActions: status keeps the Pending entries, the current visit's,
// and of the earlier visits the entry that finished last and the last one
// not delivered.
func TestCompactActions(t *testing.T) {
	const (
		pending   = csv1alpha1.ActionPending
		delivered = csv1alpha1.ActionDelivered
		failed    = csv1alpha1.ActionFailed
		skipped   = csv1alpha1.ActionSkipped
	)
	// The current visit is of Renewal, entered on day 30.
	acct := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{UID: types.UID("uid")}}
	acct.Status.Stage, acct.Status.StageEnteredAt = "Renewal", &metav1.Time{Time: epoch.AddDate(0, 0, 30)}
	current := []csv1alpha1.ActionStatus{
		action("renewal-call", "Renewal", 30, 30, delivered), action("quote", "Renewal", 30, 31, failed),
		action("exec-letter", "Renewal", 30, 31, skipped), action("survey", "Renewal", 30, 32, pending),
	}
	for _, tc := range []struct {
		name string
		list []csv1alpha1.ActionStatus
		want []csv1alpha1.ActionStatus
	}{
		{name: "an empty list stays empty"},
		{
			name: "the current visit's entries stay whatever their state",
			list: current, want: current,
		},
		{
			name: "of earlier visits the entry that finished last stays",
			list: append([]csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 0, delivered),
				action("invite", "Onboarding", 0, 7, delivered), action("kickoff", "Adoption", 10, 10, delivered)}, current...),
			want: append([]csv1alpha1.ActionStatus{action("kickoff", "Adoption", 10, 10, delivered)}, current...),
		},
		{
			name: "an earlier visit of the current stage is an earlier visit",
			list: append([]csv1alpha1.ActionStatus{action("renewal-call", "Renewal", 0, 0, delivered),
				action("renewal-call", "Renewal", 20, 20, delivered)}, current...),
			want: append([]csv1alpha1.ActionStatus{action("renewal-call", "Renewal", 20, 20, delivered)}, current...),
		},
		{
			name: "the last failure stays visible after later deliveries",
			list: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 0, delivered), action("invite", "Onboarding", 0, 7, failed),
				action("kickoff", "Adoption", 10, 10, delivered), action("review", "Adoption", 10, 20, delivered)},
			want: []csv1alpha1.ActionStatus{action("invite", "Onboarding", 0, 7, failed), action("review", "Adoption", 10, 20, delivered)},
		},
		{
			name: "a skipped entry is not delivered either, and the later of the two stays",
			list: []csv1alpha1.ActionStatus{action("invite", "Onboarding", 0, 7, failed), action("kickoff", "Adoption", 10, 12, skipped),
				action("review", "Adoption", 10, 11, delivered)},
			want: []csv1alpha1.ActionStatus{action("kickoff", "Adoption", 10, 12, skipped)},
		},
		{
			name: "Pending entries of earlier visits stay",
			list: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 0, pending), action("invite", "Onboarding", 0, 7, delivered),
				action("kickoff", "Adoption", 10, 10, pending), action("review", "Adoption", 10, 20, delivered)},
			want: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 0, pending),
				action("kickoff", "Adoption", 10, 10, pending), action("review", "Adoption", 10, 20, delivered)},
		},
		{
			name: "the entry that finished last is found by its time, not its place",
			list: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 9, delivered), action("invite", "Onboarding", 0, 7, delivered)},
			want: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 9, delivered)},
		},
		{
			name: "of entries that finished together the later one stays",
			list: []csv1alpha1.ActionStatus{action("welcome", "Onboarding", 0, 0, delivered), action("invite", "Onboarding", 0, 0, delivered)},
			want: []csv1alpha1.ActionStatus{action("invite", "Onboarding", 0, 0, delivered)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := compactActions(tc.list, currentVisit(acct))
			g.Expect(got).To(Equal(tc.want))
			g.Expect(compactActions(got, currentVisit(acct))).To(Equal(got), "compacting twice changes nothing")
		})
	}

	// Without a stage entry no entry is of the current visit.
	stageless := acct.DeepCopy()
	stageless.Status.StageEnteredAt = nil
	NewWithT(t).Expect(compactActions(current, currentVisit(stageless))).To(Equal([]csv1alpha1.ActionStatus{
		action("exec-letter", "Renewal", 30, 31, skipped), action("survey", "Renewal", 30, 32, pending)}))
}

// TestSummarizeCompactsTheStatus: the summary compacts the status of an
// evaluated account, and leaves a suspended one's as it was.
func TestSummarizeCompactsTheStatus(t *testing.T) {
	for _, suspend := range []bool{false, true} {
		t.Run(fmt.Sprintf("suspend=%v", suspend), func(t *testing.T) {
			g := NewWithT(t)
			a := &csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "customers", UID: "uid"}}
			a.Spec.Suspend = suspend
			a.Status.Stage, a.Status.StageEnteredAt = "Adoption", &metav1.Time{Time: epoch.AddDate(0, 0, 10)}
			for day := range 50 {
				a.Status.History = append(a.Status.History, entry(day, "Onboarding", []csv1alpha1.Band{yellow, green}[day%2]))
				a.Status.Actions = append(a.Status.Actions, action(fmt.Sprint("play-", day), "Onboarding", 0, day, csv1alpha1.ActionDelivered))
			}
			a.Status.Actions = append(a.Status.Actions, action("kickoff", "Adoption", 10, 10, csv1alpha1.ActionDelivered))
			before := a.Status.DeepCopy()

			summarize(&accountScope{acct: a})

			if suspend {
				g.Expect(a.Status.History).To(Equal(before.History))
				g.Expect(a.Status.Actions).To(Equal(before.Actions))
				return
			}
			// The first entry tells when the account entered Onboarding.
			g.Expect(a.Status.History).To(Equal(append(before.History[:1], before.History[47:]...)))
			g.Expect(a.Status.Actions).To(Equal([]csv1alpha1.ActionStatus{
				action("play-49", "Onboarding", 0, 49, csv1alpha1.ActionDelivered), action("kickoff", "Adoption", 10, 10, csv1alpha1.ActionDelivered)}))
		})
	}
}

// TestStatusBoundsMatchTheAPI: the bounds the operator keeps status within
// are the CRD's maxItems, so that no write of a compacted status is
// rejected; status.objectives holds one stage's objectives.
func TestStatusBoundsMatchTheAPI(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	crdSchema := func(kind string) openAPISchema {
		b, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "customersuccess.dev_"+kind+".yaml"))
		g.Expect(err).NotTo(HaveOccurred())
		var crd struct {
			Spec struct {
				Versions []struct {
					Schema struct {
						OpenAPIV3Schema openAPISchema `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal(b, &crd)).To(Succeed())
		g.Expect(crd.Spec.Versions).To(HaveLen(1))
		return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	}
	acctSchema, planSchema := crdSchema("customeraccounts"), crdSchema("successplans")
	g.Expect(acctSchema.at("status", "history").MaxItems).To(Equal(maxHistory))
	g.Expect(acctSchema.at("status", "actions").MaxItems).To(Equal(maxActions))
	g.Expect(acctSchema.at("status", "health", "samples").MaxItems).To(Equal(health.MaxSamples))
	stageObjectives := planSchema.at("spec", "stages").Items.at("objectives").MaxItems
	g.Expect(stageObjectives).To(BeNumerically(">", 0))
	g.Expect(acctSchema.at("status", "objectives").MaxItems).To(Equal(stageObjectives))
}

// openAPISchema is the part of a CRD's OpenAPI schema the bounds test
// reads.
type openAPISchema struct {
	Properties map[string]openAPISchema `json:"properties"`
	Items      *openAPISchema           `json:"items"`
	MaxItems   int                      `json:"maxItems"`
}

// at is the schema of a property path.
func (s openAPISchema) at(path ...string) openAPISchema {
	for _, p := range path {
		s = s.Properties[p]
	}
	return s
}
