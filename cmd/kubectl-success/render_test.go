package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// update rewrites the golden files: go test ./cmd/kubectl-success -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestExplainGolden renders acme from in-memory objects, as plain text and
// as on a terminal.
func TestExplainGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		style style
	}{
		{"explain-acme.txt", style{}},
		{"explain-acme.terminal.txt", style{unicode: true, color: true}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			v := buildExplain(withStatus(acme(goldenNamespace), acmeStatus), smbPlan(goldenNamespace), fixtureNow)
			if err := renderExplain(&b, v, tc.style); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b.String())
		})
	}
}

// TestExplainPlainHasNoEscapes: plain text carries neither ANSI escapes
// nor block characters.
func TestExplainPlainHasNoEscapes(t *testing.T) {
	var b bytes.Buffer
	v := buildExplain(withStatus(acme(goldenNamespace), acmeStatus), smbPlan(goldenNamespace), fixtureNow)
	if err := renderExplain(&b, v, style{}); err != nil {
		t.Fatal(err)
	}
	for i, r := range b.String() {
		if r == '\x1b' || r > 0x7e {
			t.Fatalf("byte %d: %q in plain output:\n%s", i, r, b.String())
		}
	}
}

// TestExplainWithoutPlanOrStatus: an account just created, whose plan is
// gone, still explains itself.
func TestExplainWithoutPlanOrStatus(t *testing.T) {
	var b bytes.Buffer
	if err := renderExplain(&b, buildExplain(acme(goldenNamespace), nil, fixtureNow), style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "explain-new.txt", b.String())
}

// TestPlansGolden renders plans side by side.
func TestPlansGolden(t *testing.T) {
	plans := []csv1alpha1.SuccessPlan{*enterprisePlan(goldenNamespace), *smbPlan(goldenNamespace), *startupPlan(goldenNamespace)}
	var b bytes.Buffer
	if err := renderPlans(&b, plans, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "plans.txt", b.String())

	b.Reset()
	other := smbPlan("emea")
	if err := renderPlans(&b, []csv1alpha1.SuccessPlan{*smbPlan(goldenNamespace), *other}, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "plans-all-namespaces.txt", b.String())
}

// TestNextDue picks the action due first.
func TestNextDue(t *testing.T) {
	entered := ts("2026-03-20T09:00:00Z")
	plan := smbPlan(goldenNamespace)
	for _, tc := range []struct {
		name    string
		actions func(uid string) []csv1alpha1.ActionStatus
		plan    *csv1alpha1.SuccessPlan
		want    string
	}{{
		name: "an immediate action not recorded yet is due at the stage's entry",
		plan: plan,
		want: "kickoff-call Adoption 2026-03-20T09:00:00Z false",
	}, {
		name: "a recorded action is done: the next is the delayed one",
		actions: func(uid string) []csv1alpha1.ActionStatus {
			return []csv1alpha1.ActionStatus{{Name: "kickoff-call", Stage: "Adoption", State: csv1alpha1.ActionDelivered, At: entered,
				Key: keyOf(uid, "Adoption", entered, "kickoff-call")}}
		},
		plan: plan,
		want: "adoption-review Adoption 2026-04-03T09:00:00Z false",
	}, {
		name: "a Pending action being retried comes before a later one",
		actions: func(uid string) []csv1alpha1.ActionStatus {
			return []csv1alpha1.ActionStatus{{Name: "kickoff-call", Stage: "Adoption", State: csv1alpha1.ActionPending, At: ts("2026-03-20T09:00:01Z"),
				Key: keyOf(uid, "Adoption", entered, "kickoff-call"), Attempts: 3, Message: "HTTP 502"}}
		},
		plan: plan,
		want: "kickoff-call Adoption 2026-03-20T09:00:01Z true",
	}, {
		name: "an action of an earlier visit does not count for this one",
		actions: func(uid string) []csv1alpha1.ActionStatus {
			return []csv1alpha1.ActionStatus{{Name: "kickoff-call", Stage: "Adoption", State: csv1alpha1.ActionDelivered, At: ts("2026-01-10T09:00:00Z"),
				Key: keyOf(uid, "Adoption", ts("2026-01-10T09:00:00Z"), "kickoff-call")}}
		},
		plan: plan,
		want: "kickoff-call Adoption 2026-03-20T09:00:00Z false",
	}, {
		name: "without the plan only recorded Pending actions are known",
		plan: nil,
		want: "none",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			a := acme(goldenNamespace)
			a.UID = fixtureUID
			a.Status.Stage, a.Status.StageEnteredAt = "Adoption", entered
			if tc.actions != nil {
				a.Status.Actions = tc.actions(string(a.UID))
			}
			got := "none"
			if n := nextDue(a, tc.plan); n != nil {
				got = strings.Join([]string{n.name, n.stage, n.due.UTC().Format(time.RFC3339), map[bool]string{true: "true", false: "false"}[n.recorded]}, " ")
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestObjectiveRowsOfAnEarlierStage: a status written before objectives
// left with their stage may hold an earlier stage's; its deadline counts
// from the history entry that began that stage's visit.
func TestObjectiveRowsOfAnEarlierStage(t *testing.T) {
	a := withStatus(acme(goldenNamespace), acmeStatus)
	a.Status.Objectives = append([]csv1alpha1.ObjectiveStatus{{Name: "first-login", Stage: "Onboarding",
		State: csv1alpha1.ObjectiveAchieved, At: ts("2026-03-03T10:15:00Z")}}, a.Status.Objectives...)
	rows := objectiveRows(a, smbPlan(goldenNamespace))
	if len(rows) != 4 || rows[0].name != "first-login" || rows[0].deadline == nil ||
		!rows[0].deadline.Equal(ts("2026-03-09T09:00:00Z").Time) {
		t.Errorf("rows %+v", rows)
	}
}

// TestLastChange finds the last change of band and of stage in history.
func TestLastChange(t *testing.T) {
	h := acmeStatus(fixtureUID).History
	band := lastChange(h, func(e csv1alpha1.HistoryEntry) string { return string(e.Band) })
	if band == nil || band.from != "Green" || band.to != "Yellow" || band.score != 57 || !band.at.Equal(ts("2026-03-27T14:30:00Z").Time) {
		t.Errorf("band change: %+v", band)
	}
	stage := lastChange(h, func(e csv1alpha1.HistoryEntry) string { return e.Stage })
	if stage == nil || stage.from != "Onboarding" || stage.to != "Adoption" || !stage.at.Equal(ts("2026-03-20T09:00:00Z").Time) {
		t.Errorf("stage change: %+v", stage)
	}
	first := lastChange(h[:1], func(e csv1alpha1.HistoryEntry) string { return e.Stage })
	if first == nil || first.from != "" || first.to != "Onboarding" {
		t.Errorf("first entry: %+v", first)
	}
	if lastChange(nil, func(e csv1alpha1.HistoryEntry) string { return e.Stage }) != nil {
		t.Error("an empty history has no change")
	}
}

// TestAsItShouldBe keeps only the conditions that need attention.
func TestAsItShouldBe(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		status metav1.ConditionStatus
		want   bool
	}{
		{"Ready", metav1.ConditionTrue, true},
		{"Ready", metav1.ConditionFalse, false},
		{"Ready", metav1.ConditionUnknown, false},
		{"Healthy", metav1.ConditionFalse, false},
		{"AtRisk", metav1.ConditionFalse, true},
		{"AtRisk", metav1.ConditionTrue, false},
		{"Stalled", metav1.ConditionTrue, false},
		{"ExpansionReady", metav1.ConditionTrue, true},
		{"ExpansionReady", metav1.ConditionFalse, true},
		{"ExpansionReady", metav1.ConditionUnknown, false},
	} {
		if got := asItShouldBe(metav1.Condition{Type: tc.typ, Status: tc.status}); got != tc.want {
			t.Errorf("%s=%s: got %v, want %v", tc.typ, tc.status, got, tc.want)
		}
	}
}

// TestBar draws 5 points a cell, in eighths on a terminal.
func TestBar(t *testing.T) {
	for _, tc := range []struct {
		points        float64
		plain, blocks string
	}{
		{0, "", ""},
		{-3, "", ""},
		{1.9, "", "▍"},
		{2.5, "#", "▌"},
		{35, "#######", "███████"},
		{17.5, "####", "███▌"},
		{100, "####################", "████████████████████"},
		{140, "####################", "████████████████████"},
	} {
		if got := (style{}).bar(tc.points); got != tc.plain {
			t.Errorf("plain %v: got %q, want %q", tc.points, got, tc.plain)
		}
		if got := (style{unicode: true}).bar(tc.points); got != tc.blocks {
			t.Errorf("blocks %v: got %q, want %q", tc.points, got, tc.blocks)
		}
	}
}

// TestRelative says how far a moment is, as kubectl's AGE does.
func TestRelative(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{30 * time.Second, "now"},
		{45 * time.Minute, "in 45m"},
		{-45 * time.Hour, "45h ago"},
		{49 * time.Hour, "in 2d"},
		{-12*24*time.Hour - time.Hour, "12d ago"},
	} {
		if got := relative(fixtureNow.Add(tc.d), fixtureNow); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestReadmeExamples: the README's example output is the golden output,
// so that the two cannot drift apart.
func TestReadmeExamples(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for command, file := range map[string]string{
		"$ kubectl success explain acme -n customers\n": "explain-acme.txt",
		"$ kubectl success plans -n customers\n":        "plans.txt",
	} {
		_, after, ok := strings.Cut(string(readme), command)
		if !ok {
			t.Errorf("README.md has no %q", command)
			continue
		}
		example, _, _ := strings.Cut(after, "```")
		want, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if example != string(want) {
			t.Errorf("README.md's output of %q is not testdata/%s:\n%s", strings.TrimSpace(command), file, example)
		}
	}
}
