package lifecycle

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/fuzztest"
)

// fuzzConditions are the pool the fuzzed plans draw their conditions from:
// those of testStages, and some that read what a world lacks and fail.
var fuzzConditions = []string{
	"measures.seats.value >= 1.0",
	"measures.seats.value >= 25.0",
	"measures.seats.value >= 25.0 && stage.days >= 7",
	"health.score >= 70 && stage.days >= 30",
	"account.daysToRenewal <= 90",
	"account.daysToRenewal <= 60",
	"account.daysToRenewal > 300",
	"measures.seats.available && health.band == 'Green'",
	"stage.name == 'Adoption' || stage.days >= 14",
	"true",
	"false",
	"measures.nps.value > 1.0",
	"health.scored && account.mrr > 0.0",
	"[1, 2, 3].all(x, x > 0) && measures.all(m, measures[m].available)",
}

// fuzzNow is the clock of the fuzzed steps.
var fuzzNow = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// fuzzWorld reads what the expressions of a step see from data: a broken
// health (flags 1), the health score and the days to renewal (4 a byte
// step, signed); value is the seats measure's value.
func fuzzWorld(data []byte, value float64) world {
	b := fuzztest.Bytes(data)
	flags := b.Next()
	w := world{seats: value, broken: flags&1 != 0}
	w.score = float64(b.Next())
	w.daysToRenewal = int64(int8(b.Next())) * 4
	return w
}

// fuzzStageNames are the stages of the fuzzed plans, in order.
var fuzzStageNames = []string{"Onboarding", "Adoption", "Nurturing", "Renewal", "Expansion"}

// fuzzObjectiveNames are the objectives a fuzzed stage may have.
var fuzzObjectiveNames = []string{"first-login", "half-active"}

// fuzzStates are the objective states.
var fuzzStates = []csv1alpha1.ObjectiveState{csv1alpha1.ObjectivePending, csv1alpha1.ObjectiveAchieved, csv1alpha1.ObjectiveOverdue}

// fuzzPlan builds up to five stages, their compiled expressions and a
// current state from data. Expressions come from pool; the byte 255 takes
// extra (nil when it did not compile).
func fuzzPlan(data []byte, pool []*expr.Program, extra *expr.Program) ([]csv1alpha1.Stage, *expr.Expressions, State, time.Time) {
	b := fuzztest.Bytes(data)
	pick := func() *expr.Program {
		switch c := b.Next(); c {
		case 0:
			return nil
		case 255:
			return extra
		default:
			return pool[int(c-1)%len(pool)]
		}
	}
	hours := func() *metav1.Duration {
		if c := b.Next(); c != 0 {
			return &metav1.Duration{Duration: time.Duration(c) * 12 * time.Hour}
		}
		return nil
	}
	x := &expr.Expressions{Normalize: map[string]*expr.Program{}, ObjectiveWhen: map[string]map[string]*expr.Program{},
		ExitWhen: map[string]*expr.Program{}, EnterWhen: map[string]*expr.Program{}}
	stages := make([]csv1alpha1.Stage, int(b.Next())%(len(fuzzStageNames)+1))
	for i := range stages {
		s := csv1alpha1.Stage{Name: fuzzStageNames[i], MaxDuration: hours()}
		if p := pick(); p != nil {
			s.EnterWhen, x.EnterWhen[s.Name] = p.Source(), p
		}
		if p := pick(); p != nil {
			s.ExitWhen, x.ExitWhen[s.Name] = p.Source(), p
		}
		for _, name := range fuzzObjectiveNames[:int(b.Next())%(len(fuzzObjectiveNames)+1)] {
			o := csv1alpha1.Objective{Name: name, Within: hours()}
			if p := pick(); p != nil {
				o.When = p.Source()
				if x.ObjectiveWhen[s.Name] == nil {
					x.ObjectiveWhen[s.Name] = map[string]*expr.Program{}
				}
				x.ObjectiveWhen[s.Name][name] = p
			}
			s.Objectives = append(s.Objectives, o)
		}
		stages[i] = s
	}
	now := fuzzNow.Add(time.Duration(b.Next()) * 24 * time.Hour)
	cur := State{EnteredAt: now.Add(-time.Duration(b.Next()) * 12 * time.Hour)}
	switch c := b.Next(); c {
	case 0:
		cur = State{}
	case 1:
		cur.Stage = csv1alpha1.StageChurned
	case 2:
		cur.Stage = "Removed"
	default:
		cur.Stage = fuzzStageNames[int(c)%len(fuzzStageNames)]
	}
	seen := map[string]bool{}
	for range int(b.Next() % 6) {
		stage := "Removed" // a stage the plan no longer has
		if c := int(b.Next()); c < 4*len(fuzzStageNames) {
			stage = fuzzStageNames[c%len(fuzzStageNames)]
		}
		name := fuzzObjectiveNames[int(b.Next())%len(fuzzObjectiveNames)]
		if seen[stage+"/"+name] {
			continue
		}
		seen[stage+"/"+name] = true
		o := csv1alpha1.ObjectiveStatus{Name: name, Stage: stage, State: fuzzStates[int(b.Next())%len(fuzzStates)]}
		if c := b.Next(); c != 0 {
			o.At = Stamp(now.Add(-time.Duration(c) * time.Hour))
		}
		cur.Objectives = append(cur.Objectives, o)
	}
	return stages, x, cur, now
}

// FuzzAdvance runs the stage machine on arbitrary plans (stages, exit and
// enter conditions, objectives, deadlines), states and worlds (what the
// expressions read, as in TestAdvance), and checks the step: a chain of
// transitions from the current stage to the new one, a stage of the plan,
// the new stage's objectives all present, valid and unique and no other
// stage's, no Pending objective in an overdue stage, a next change after
// now, the input state left alone and the same step twice.
func FuzzAdvance(f *testing.F) {
	c, err := expr.NewCompiler()
	if err != nil {
		f.Fatal(err)
	}
	var pool []*expr.Program
	for _, src := range fuzzConditions {
		if p, err := c.Compile(src, expr.Condition, nil); err == nil {
			pool = append(pool, p)
		}
	}
	if len(pool) == 0 {
		f.Fatal("no condition of the tests compiles")
	}
	// design runs the design's success map of TestAdvance (testStages)
	// instead of the stages fuzzPlan builds.
	designX, errs := c.CompilePlan(&csv1alpha1.SuccessPlanSpec{Measures: []csv1alpha1.Measure{{Name: "seats"}}, Stages: testStages})
	if len(errs) > 0 {
		designX = nil
	}
	// The steps of TestAdvance and TestDeadlines on the design's stages:
	// a new account, day 7 of Onboarding with enough seats, a good score
	// in Adoption, a reactivation near renewal, churn, an overdue stage.
	f.Add([]byte{0, 0, 0, 0, 0}, []byte{0, 0, 91}, false, 0.0, "true", true)
	f.Add([]byte{0, 7, 14, 5, 0}, []byte{0, 0, 89}, false, 30.0, "true", true)
	f.Add([]byte{0, 40, 80, 6, 0}, []byte{0, 90, 79}, false, 90.0, "true", true)
	f.Add([]byte{0, 0, 0, 1, 0}, []byte{0, 0, 13}, false, 0.0, "true", true)
	f.Add([]byte{0, 0, 0, 9, 0}, []byte{0, 90, 88}, true, 0.0, "true", true)
	f.Add([]byte{0, 0, 62, 5, 2, 0, 0, 0, 0, 0, 1, 0, 0}, []byte{0, 20, 75}, false, 3.0, "false", true)
	// Byte layouts of fuzzPlan, then of fuzzWorld.
	f.Add([]byte{5, 60, 0, 3, 2, 1, 0, 2, 20, 0, 4, 0, 5, 0, 6, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0}, []byte{0, 100, 30}, false, 30.0, "health.score >= 70", false)
	f.Add([]byte{5, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 3, 2, 0, 0, 0, 1, 1, 2, 1, 9}, []byte{0, 10, 200}, false, 3.0, "true", false)
	f.Add([]byte{2, 0, 255, 255, 1, 255, 1, 0, 0, 0, 0, 0, 1, 1}, []byte{1, 70, 1}, true, 0.0, "stage.days >= 0", false)
	f.Add([]byte{3, 1, 0, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 5, 4, 0, 1, 0, 1, 1, 0}, []byte{}, false, math.NaN(), "health.score >", false)
	f.Add([]byte{4, 2, 7, 8, 2, 7, 3, 8, 0, 0, 7, 8, 0, 0, 7, 8, 0, 0, 7, 8, 0, 200, 100, 3, 5, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, []byte{0xff, 40, 3}, false, 25.0, "[1,2].exists(x, x == 2)", false)
	f.Add([]byte{0, 0, 0, 9}, []byte{}, true, 1.0, "", false)
	f.Fuzz(func(t *testing.T, plan, account []byte, churned bool, value float64, src string, design bool) {
		extra, _ := c.Compile(src, expr.Condition, nil)
		stages, x, cur, now := fuzzPlan(plan, pool, extra)
		if design && designX != nil {
			stages, x = testStages, designX
		}
		vars := fuzzWorld(account, value).vars(now)
		before := append([]csv1alpha1.ObjectiveStatus(nil), cur.Objectives...)
		for i := range before {
			before[i] = *cur.Objectives[i].DeepCopy()
		}
		var st, again Step
		fuzztest.Within(t, "Advance", func() {
			st = Advance(stages, x, cur, churned, vars, now)
			again = Advance(stages, x, cur, churned, vars, now)
		})
		if !reflect.DeepEqual(cur.Objectives, before) {
			t.Fatalf("Advance changed the current objectives: %+v, were %+v", cur.Objectives, before)
		}
		if !reflect.DeepEqual(st, again) {
			t.Fatalf("Advance is not deterministic:\n%+v\n%+v", st, again)
		}
		checkStep(t, stages, cur, churned, now, st)
	})
}

// checkStep checks the invariants of one step of the stage machine.
func checkStep(t *testing.T, stages []csv1alpha1.Stage, cur State, churned bool, now time.Time, st Step) {
	t.Helper()
	at := now.Truncate(time.Second)
	from := cur.Stage
	for _, tr := range st.Transitions {
		if tr.From != from || !tr.At.Equal(at) || tr.To == tr.From {
			t.Fatalf("transition %+v after stage %q at %v", tr, from, at)
		}
		switch tr.Reason {
		case csv1alpha1.StageEnteredReason, csv1alpha1.StageExitedReason, csv1alpha1.StageJumpedReason, csv1alpha1.ChurnedReason, csv1alpha1.ReactivatedReason, csv1alpha1.StageRemovedReason:
		default:
			t.Fatalf("transition %+v: unknown reason", tr)
		}
		from = tr.To
	}
	if from != st.Stage {
		t.Fatalf("transitions %+v end at %q, stage is %q", st.Transitions, from, st.Stage)
	}
	if len(st.Transitions) > len(stages)+1 {
		t.Fatalf("%d transitions through %d stages", len(st.Transitions), len(stages))
	}
	if len(st.Transitions) == 0 && !st.EnteredAt.Equal(cur.EnteredAt) || len(st.Transitions) > 0 && !st.EnteredAt.Equal(at) {
		t.Fatalf("entered at %v after %d transitions", st.EnteredAt, len(st.Transitions))
	}
	if !st.NextChange.IsZero() && !st.NextChange.After(now) {
		t.Fatalf("next change %v is not after now %v", st.NextChange, now)
	}
	for _, e := range st.Errors {
		if !strings.HasPrefix(e.Field, "spec.stages[") {
			t.Fatalf("error %v names no stage field", e)
		}
	}
	seen := map[string]bool{}
	for _, o := range st.Objectives {
		if seen[o.Stage+"/"+o.Name] {
			t.Fatalf("objective %s/%s twice: %+v", o.Stage, o.Name, st.Objectives)
		}
		seen[o.Stage+"/"+o.Name] = true
		if o.State != csv1alpha1.ObjectivePending && o.State != csv1alpha1.ObjectiveAchieved && o.State != csv1alpha1.ObjectiveOverdue {
			t.Fatalf("objective %+v", o)
		}
		if o.Stage != st.Stage {
			t.Fatalf("objective %s/%s is not of the current stage %s", o.Stage, o.Name, st.Stage)
		}
		if st.Overdue && o.State == csv1alpha1.ObjectivePending {
			t.Fatalf("objective %s is Pending in the overdue stage %s", o.Name, st.Stage)
		}
	}
	switch {
	case churned:
		if st.Stage != csv1alpha1.StageChurned {
			t.Fatalf("a churned account is in %q", st.Stage)
		}
	case len(stages) == 0:
		if st.Stage != cur.Stage {
			t.Fatalf("without stages the stage moved from %q to %q", cur.Stage, st.Stage)
		}
	default:
		i := indexOf(stages, st.Stage)
		if i < 0 {
			t.Fatalf("stage %q is not in the plan", st.Stage)
		}
		for _, o := range stages[i].Objectives {
			if !seen[st.Stage+"/"+o.Name] {
				t.Fatalf("objective %s of the current stage %s is missing: %+v", o.Name, st.Stage, st.Objectives)
			}
		}
		if st.Overdue && (stages[i].MaxDuration == nil || !now.After(st.EnteredAt.Add(stages[i].MaxDuration.Duration))) {
			t.Fatalf("stage %s is overdue %v after it was entered", st.Stage, now.Sub(st.EnteredAt))
		}
	}
}
