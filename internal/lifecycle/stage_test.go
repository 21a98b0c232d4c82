package lifecycle

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// testStages is the design's success map.
var testStages = []csv1alpha1.Stage{
	{Name: "Onboarding", MaxDuration: dur(720 * time.Hour),
		Objectives: []csv1alpha1.Objective{
			{Name: "first-login", When: "measures.seats.value >= 1.0"},
			{Name: "half-active", When: "measures.seats.value >= 25.0", Within: dur(240 * time.Hour)},
		},
		ExitWhen: "measures.seats.value >= 25.0 && stage.days >= 7"},
	{Name: "Adoption", ExitWhen: "health.score >= 70 && stage.days >= 30"},
	{Name: "Nurturing", ExitWhen: "account.daysToRenewal <= 90"},
	{Name: "Renewal", EnterWhen: "account.daysToRenewal <= 60", ExitWhen: "account.daysToRenewal > 300"},
	{Name: "Expansion"},
}

// world is what the expressions read in a test step.
type world struct {
	seats, score  float64
	daysToRenewal int64
	broken        bool
}

func (w world) vars(now time.Time) VarsFunc {
	return func(stage string, enteredAt time.Time) map[string]any {
		vs := map[string]any{
			expr.VarAccount:  map[string]any{"daysToRenewal": w.daysToRenewal},
			expr.VarMeasures: map[string]any{"seats": map[string]any{"value": w.seats, "available": true}},
			expr.VarHealth:   map[string]any{"score": int64(w.score), "band": "Green"},
			expr.VarStage:    map[string]any{"name": stage, "days": int64(now.Sub(enteredAt) / (24 * time.Hour))},
		}
		if w.broken {
			vs[expr.VarHealth] = map[string]any{}
		}
		return vs
	}
}

// compileTestStages compiles the expressions of testStages.
func compileTestStages(t *testing.T) *expr.Expressions {
	t.Helper()
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	x, errs := c.CompilePlan(&csv1alpha1.SuccessPlanSpec{Measures: []csv1alpha1.Measure{{Name: "seats"}}, Stages: testStages})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return x
}

func TestAdvance(t *testing.T) {
	x := compileTestStages(t)
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

	// Each step runs on the state the previous one left, on a fake clock.
	steps := []struct {
		name        string
		advance     time.Duration
		world       world
		churned     bool
		wantStage   string
		wantReasons []string
		wantObj     map[string]csv1alpha1.ObjectiveState
		wantOverdue bool
		wantErr     string
	}{
		{name: "a new account enters the first stage", world: world{daysToRenewal: 365},
			wantStage: "Onboarding", wantReasons: []string{csv1alpha1.StageEnteredReason},
			wantObj: map[string]csv1alpha1.ObjectiveState{"first-login": "Pending", "half-active": "Pending"}},
		{name: "a first login achieves its objective but not the exit", advance: 24 * time.Hour, world: world{seats: 3, daysToRenewal: 364},
			wantStage: "Onboarding", wantObj: map[string]csv1alpha1.ObjectiveState{"first-login": "Achieved", "half-active": "Pending"}},
		{name: "enough seats before day 7 do not exit yet", advance: 3 * 24 * time.Hour, world: world{seats: 30, daysToRenewal: 361},
			wantStage: "Onboarding", wantObj: map[string]csv1alpha1.ObjectiveState{"half-active": "Achieved"}},
		{name: "on day 7 the exit criteria move the account on", advance: 3 * 24 * time.Hour, world: world{seats: 30, daysToRenewal: 358},
			wantStage: "Adoption", wantReasons: []string{csv1alpha1.StageExitedReason}},
		{name: "a broken expression keeps the stage and names the field", advance: 40 * 24 * time.Hour, world: world{broken: true, score: 90, daysToRenewal: 318},
			wantStage: "Adoption", wantErr: "spec.stages[1].exitWhen"},
		{name: "a good score after 30 days moves to Nurturing", advance: time.Hour, world: world{score: 90, daysToRenewal: 318},
			wantStage: "Nurturing", wantReasons: []string{csv1alpha1.StageExitedReason}},
		{name: "approaching renewal moves to Renewal", advance: 230 * 24 * time.Hour, world: world{score: 90, daysToRenewal: 88},
			wantStage: "Renewal", wantReasons: []string{csv1alpha1.StageExitedReason}},
		{name: "a renewed contract moves to Expansion", advance: 100 * 24 * time.Hour, world: world{score: 90, daysToRenewal: 353},
			wantStage: "Expansion", wantReasons: []string{csv1alpha1.StageExitedReason}},
		{name: "a churned ledger makes the account Churned", advance: 24 * time.Hour, world: world{score: 90, daysToRenewal: 352}, churned: true,
			wantStage: csv1alpha1.StageChurned, wantReasons: []string{csv1alpha1.ChurnedReason}},
		{name: "Churned is kept while the ledger stays churned", advance: 300 * 24 * time.Hour, world: world{daysToRenewal: 52}, churned: true,
			wantStage: csv1alpha1.StageChurned},
		{name: "a reactivated account starts over, and can jump on enterWhen", advance: 24 * time.Hour, world: world{daysToRenewal: 51},
			wantStage: "Renewal", wantReasons: []string{csv1alpha1.ReactivatedReason, csv1alpha1.StageJumpedReason}},
	}
	clk := testingclock.NewFakeClock(start)
	var state State
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.Step(s.advance)
			now := clk.Now()
			got := Advance(testStages, x, state, s.churned, s.world.vars(now), now)
			state = got.State
			if got.Stage != s.wantStage {
				t.Fatalf("stage = %s, want %s", got.Stage, s.wantStage)
			}
			var reasons []string
			for _, tr := range got.Transitions {
				reasons = append(reasons, tr.Reason)
			}
			if strings.Join(reasons, ",") != strings.Join(s.wantReasons, ",") {
				t.Errorf("transitions = %v, want %v", reasons, s.wantReasons)
			}
			for name, want := range s.wantObj {
				found := false
				for _, o := range got.Objectives {
					if o.Name == name && o.Stage == "Onboarding" {
						found = true
						if o.State != want {
							t.Errorf("objective %s = %s, want %s", name, o.State, want)
						}
					}
				}
				if !found {
					t.Errorf("objective %s missing", name)
				}
			}
			if got.Overdue != s.wantOverdue {
				t.Errorf("overdue = %v", got.Overdue)
			}
			if s.wantErr == "" && len(got.Errors) > 0 || s.wantErr != "" && (len(got.Errors) == 0 || !strings.Contains(got.Errors.ToAggregate().Error(), s.wantErr)) {
				t.Errorf("errors = %v, want %q", got.Errors, s.wantErr)
			}
		})
	}
}

func TestDeadlines(t *testing.T) {
	c, _ := expr.NewCompiler()
	x, _ := c.CompilePlan(&csv1alpha1.SuccessPlanSpec{Measures: []csv1alpha1.Measure{{Name: "seats"}}, Stages: testStages})
	entered := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	cur := State{Stage: "Onboarding", EnteredAt: entered}
	cases := []struct {
		name        string
		at          time.Duration
		overdue     bool
		halfActive  csv1alpha1.ObjectiveState
		firstLogin  csv1alpha1.ObjectiveState
		nextChange  time.Duration
		stillInside bool
	}{
		{"before any deadline the next change is the objective's", 24 * time.Hour, false, "Pending", "Pending", 240*time.Hour + 1, true},
		{"past within the objective is Overdue", 241 * time.Hour, false, "Overdue", "Pending", 720*time.Hour + 1, true},
		{"past maxDuration the stage is overdue and so are its objectives", 721 * time.Hour, true, "Overdue", "Overdue", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := entered.Add(tc.at)
			got := Advance(testStages, x, cur, false, world{daysToRenewal: 300}.vars(now), now)
			if got.Stage != "Onboarding" || got.Overdue != tc.overdue {
				t.Fatalf("stage %s overdue %v", got.Stage, got.Overdue)
			}
			states := map[string]csv1alpha1.ObjectiveState{}
			for _, o := range got.Objectives {
				states[o.Name] = o.State
			}
			if states["half-active"] != tc.halfActive || states["first-login"] != tc.firstLogin {
				t.Errorf("objectives = %v", states)
			}
			want := time.Time{}
			if tc.nextChange > 0 {
				want = entered.Add(tc.nextChange)
			}
			if !got.NextChange.Equal(want) {
				t.Errorf("next change = %v, want %v", got.NextChange, want)
			}
		})
	}
}

// TestObjectivesAreTheCurrentVisits: status keeps the objectives of the
// current stage visit only.
func TestObjectivesAreTheCurrentVisits(t *testing.T) {
	c, _ := expr.NewCompiler()
	stages := []csv1alpha1.Stage{
		{Name: "Onboarding", Objectives: []csv1alpha1.Objective{{Name: "never", When: "false"}}, ExitWhen: "stage.days >= 7"},
		{Name: "Adoption", Objectives: []csv1alpha1.Objective{{Name: "first-report", When: "false"}, {Name: "always", When: "true"}}},
	}
	x, errs := c.CompilePlan(&csv1alpha1.SuccessPlanSpec{Stages: stages})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	entered := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return Stamp(entered.Add(d)) }
	onboarding := []csv1alpha1.ObjectiveStatus{{Name: "never", Stage: "Onboarding", State: csv1alpha1.ObjectivePending, At: at(0)}}
	cases := []struct {
		name    string
		cur     State
		after   time.Duration
		churned bool
		want    []csv1alpha1.ObjectiveStatus
	}{
		{
			name: "a stage's objectives leave with it, and the next stage's arrive",
			cur:  State{Stage: "Onboarding", EnteredAt: entered, Objectives: onboarding}, after: 7 * 24 * time.Hour,
			want: []csv1alpha1.ObjectiveStatus{
				{Name: "first-report", Stage: "Adoption", State: csv1alpha1.ObjectivePending, At: at(7 * 24 * time.Hour)},
				{Name: "always", Stage: "Adoption", State: csv1alpha1.ObjectiveAchieved, At: at(7 * 24 * time.Hour)},
			},
		},
		{
			name: "staying in a stage keeps its objectives",
			cur:  State{Stage: "Onboarding", EnteredAt: entered, Objectives: onboarding}, after: 24 * time.Hour,
			want: onboarding,
		},
		{
			name: "objectives of other stages in a state are dropped",
			cur: State{Stage: "Onboarding", EnteredAt: entered, Objectives: []csv1alpha1.ObjectiveStatus{
				{Name: "first-report", Stage: "Adoption", State: csv1alpha1.ObjectiveAchieved, At: at(-time.Hour)},
				onboarding[0],
				{Name: "gone", Stage: "Removed", State: csv1alpha1.ObjectiveOverdue, At: at(-time.Hour)},
			}}, after: 24 * time.Hour,
			want: onboarding,
		},
		{
			name: "a churned account keeps no objectives",
			cur:  State{Stage: "Onboarding", EnteredAt: entered, Objectives: onboarding}, after: 24 * time.Hour, churned: true,
			want: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := entered.Add(tc.after)
			got := Advance(stages, x, tc.cur, tc.churned, world{}.vars(now), now)
			if !reflect.DeepEqual(got.Objectives, tc.want) {
				t.Errorf("objectives in %s\n got %+v\nwant %+v", got.Stage, got.Objectives, tc.want)
			}
		})
	}
}

func TestAdvancePlacesANewAccount(t *testing.T) {
	x := compileTestStages(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		cur       State
		world     world
		wantStage string
		wantPath  []string // the stages entered, in order
		wantErr   string
	}{
		{name: "without an initial stage, the first", world: world{daysToRenewal: 365},
			wantStage: "Onboarding", wantPath: []string{"Onboarding"}},
		{name: "without an initial stage, the furthest whose enterWhen holds", world: world{daysToRenewal: 30},
			wantStage: "Renewal", wantPath: []string{"Onboarding", "Renewal"}},
		{name: "the initial stage", cur: State{Initial: "Nurturing"}, world: world{daysToRenewal: 365},
			wantStage: "Nurturing", wantPath: []string{"Nurturing"}},
		{name: "the initial stage, then a later enterWhen", cur: State{Initial: "Adoption"}, world: world{daysToRenewal: 30},
			wantStage: "Renewal", wantPath: []string{"Adoption", "Renewal"}},
		{name: "an initial stage the plan lacks places nothing", cur: State{Initial: "Renewals"}, world: world{daysToRenewal: 365},
			wantErr: `spec.initialStage: Unsupported value: "Renewals"`},
		{name: "an account with a stage keeps it", cur: State{Stage: "Adoption", EnteredAt: now, Initial: "Renewal"},
			world: world{daysToRenewal: 365}, wantStage: "Adoption"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Advance(testStages, x, tc.cur, false, tc.world.vars(now), now)
			if st.Stage != tc.wantStage {
				t.Errorf("stage %q, want %q", st.Stage, tc.wantStage)
			}
			var path []string
			for i, tr := range st.Transitions {
				if (i == 0) != (tr.From == "") {
					t.Errorf("transition %d from %q: only the first comes from no stage", i, tr.From)
				}
				path = append(path, tr.To)
			}
			if !reflect.DeepEqual(path, tc.wantPath) {
				t.Errorf("entered %v, want %v", path, tc.wantPath)
			}
			if got := st.Errors.ToAggregate(); (got == nil) != (tc.wantErr == "") || got != nil && !strings.Contains(got.Error(), tc.wantErr) {
				t.Errorf("errors %v, want %q", got, tc.wantErr)
			}
		})
	}
}
