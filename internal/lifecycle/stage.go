// Package lifecycle is the stage machine of a plan: it moves an account
// through the plan's stages and objectives by evaluating their compiled
// expressions (package expr) over the account's variables. It is pure: no
// I/O, no clock of its own.
package lifecycle

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/health"
)

// maxObjectives bounds status.objectives, as the API does: the objectives
// of the current stage, at most as many as a stage has.
const maxObjectives = 16

// State is an account's place in the stage machine.
type State struct {
	Stage      string
	EnteredAt  time.Time
	Objectives []csv1alpha1.ObjectiveStatus
	// Initial is the stage a new account (no Stage yet) is placed in
	// instead of the first (spec.initialStage); "" for the first.
	Initial string
}

// Transition is one stage change; At is in whole seconds, as status keeps it.
type Transition struct {
	From, To string
	Reason   string
	At       time.Time
}

// Step is the outcome of one evaluation of the stage machine.
type Step struct {
	State
	// Transitions made, in order.
	Transitions []Transition
	// Overdue is true when the stage outlived its maxDuration.
	Overdue bool
	// Errors are expressions that failed at run time, naming the field.
	Errors field.ErrorList
	// NextChange is the earliest later moment the step would differ with
	// the same inputs (a maxDuration or objective deadline); zero if none.
	// Advance does not know the account's dates: evaluate.Stage adds the
	// next change of the time-derived variables the plan reads
	// (expr.Calendar).
	NextChange time.Time
}

// VarsFunc returns the expression variables of the account in a stage
// entered at enteredAt.
type VarsFunc func(stage string, enteredAt time.Time) map[string]any

// Advance runs the stage machine once. A new account enters the first
// stage, or the stage cur.Initial names (an Initial that names no stage
// is an error on spec.initialStage, and the account stays unplaced, so
// that nothing fires for a misspelt import); a later stage's enterWhen
// jumps to it; the current stage's
// exitWhen moves to the next; churned accounts go to Churned, and leave it
// for the first stage only when their ledger has MRR again. Several
// transitions may happen in one step (each new stage starts at day 0).
// The state keeps the objectives of the current stage visit only: they
// start Pending with the visit, move to Achieved when their condition
// holds, or to Overdue when their deadline passes, and leave with the
// stage. Expressions that fail leave the state as it was and are
// reported.
func Advance(stages []csv1alpha1.Stage, x *expr.Expressions, cur State, churned bool, vars VarsFunc, now time.Time) Step {
	st := Step{State: State{Stage: cur.Stage, EnteredAt: cur.EnteredAt}}
	for _, o := range cur.Objectives {
		// A state from before objectives left with their stage may hold
		// other stages' objectives.
		if o.Stage == cur.Stage {
			st.Objectives = append(st.Objectives, o)
		}
	}
	move := func(to, reason string) {
		at := now.Truncate(time.Second)
		st.Transitions = append(st.Transitions, Transition{From: st.Stage, To: to, Reason: reason, At: at})
		st.Stage, st.EnteredAt = to, at
		// A new visit has new objectives.
		st.Objectives = nil
	}
	switch {
	case churned:
		if st.Stage != csv1alpha1.StageChurned {
			move(csv1alpha1.StageChurned, csv1alpha1.ChurnedReason)
		}
		return st
	case len(stages) == 0:
		return st
	case st.Stage == csv1alpha1.StageChurned:
		move(stages[0].Name, csv1alpha1.ReactivatedReason)
	case st.Stage == "" && cur.Initial != "":
		if indexOf(stages, cur.Initial) < 0 {
			names := make([]string, len(stages))
			for i := range stages {
				names[i] = stages[i].Name
			}
			st.Errors = append(st.Errors, field.NotSupported(field.NewPath("spec", "initialStage"), cur.Initial, names))
			return st
		}
		move(cur.Initial, csv1alpha1.StageEnteredReason)
	case st.Stage == "":
		move(stages[0].Name, csv1alpha1.StageEnteredReason)
	case indexOf(stages, st.Stage) < 0:
		move(stages[0].Name, csv1alpha1.StageRemovedReason)
	}

	// Each pass moves at most one stage forward or jumps; there are at most
	// len(stages) forward moves.
	for range stages {
		i := indexOf(stages, st.Stage)
		vs := vars(st.Stage, st.EnteredAt)
		st.evaluateObjectives(stages, i, x, vs, now)
		if to, ok := st.jumpTarget(stages, i, x, vs); ok {
			move(stages[to].Name, csv1alpha1.StageJumpedReason)
			continue
		}
		if i+1 < len(stages) && st.holds(x.ExitWhen[stages[i].Name], field.NewPath("spec", "stages").Index(i).Child("exitWhen"), vs) {
			move(stages[i+1].Name, csv1alpha1.StageExitedReason)
			continue
		}
		break
	}
	st.checkDeadlines(stages, now)
	return st
}

// jumpTarget finds the furthest later stage whose enterWhen holds.
func (st *Step) jumpTarget(stages []csv1alpha1.Stage, i int, x *expr.Expressions, vs map[string]any) (int, bool) {
	for j := len(stages) - 1; j > i; j-- {
		if st.holds(x.EnterWhen[stages[j].Name], field.NewPath("spec", "stages").Index(j).Child("enterWhen"), vs) {
			return j, true
		}
	}
	return 0, false
}

// holds evaluates a condition; nil holds never, a failure is recorded.
func (st *Step) holds(p *expr.Program, path *field.Path, vs map[string]any) bool {
	if p == nil {
		return false
	}
	ok, err := p.EvalBool(vs)
	if err != nil {
		st.Errors = append(st.Errors, field.Invalid(path, p.Source(), err.Error()))
		return false
	}
	return ok
}

// evaluateObjectives adds the current stage's objectives as Pending and
// marks those whose condition holds as Achieved.
func (st *Step) evaluateObjectives(stages []csv1alpha1.Stage, i int, x *expr.Expressions, vs map[string]any, now time.Time) {
	for j, o := range stages[i].Objectives {
		k := st.objective(stages[i].Name, o.Name)
		if k < 0 {
			st.Objectives = append(st.Objectives, csv1alpha1.ObjectiveStatus{Name: o.Name, Stage: stages[i].Name,
				State: csv1alpha1.ObjectivePending, At: Stamp(st.EnteredAt)})
			k = len(st.Objectives) - 1
		}
		if st.Objectives[k].State != csv1alpha1.ObjectivePending {
			continue
		}
		path := field.NewPath("spec", "stages").Index(i).Child("objectives").Index(j).Child("when")
		if st.holds(x.ObjectiveWhen[stages[i].Name][o.Name], path, vs) {
			st.Objectives[k].State, st.Objectives[k].At = csv1alpha1.ObjectiveAchieved, Stamp(now)
		}
	}
	if len(st.Objectives) > maxObjectives {
		st.Objectives = st.Objectives[len(st.Objectives)-maxObjectives:]
	}
}

// checkDeadlines sets Overdue from maxDuration, turns Pending objectives
// past their deadline into Overdue, and finds the next deadline.
func (st *Step) checkDeadlines(stages []csv1alpha1.Stage, now time.Time) {
	i := indexOf(stages, st.Stage)
	if i < 0 {
		return
	}
	s := stages[i]
	if s.MaxDuration != nil {
		deadline := st.EnteredAt.Add(s.MaxDuration.Duration)
		if now.After(deadline) {
			st.Overdue = true
			st.closeObjectives(s.Name, now)
		} else {
			st.next(deadline.Add(time.Nanosecond))
		}
	}
	for _, o := range s.Objectives {
		k := st.objective(s.Name, o.Name)
		if o.Within == nil || k < 0 || st.Objectives[k].State != csv1alpha1.ObjectivePending {
			continue
		}
		deadline := st.EnteredAt.Add(o.Within.Duration)
		if now.After(deadline) {
			st.Objectives[k].State, st.Objectives[k].At = csv1alpha1.ObjectiveOverdue, Stamp(now)
		} else {
			st.next(deadline.Add(time.Nanosecond))
		}
	}
}

func (st *Step) next(t time.Time) { st.NextChange = health.Earliest(st.NextChange, t) }

// closeObjectives makes the stage's Pending objectives Overdue.
func (st *Step) closeObjectives(stage string, now time.Time) {
	for k := range st.Objectives {
		if st.Objectives[k].Stage == stage && st.Objectives[k].State == csv1alpha1.ObjectivePending {
			st.Objectives[k].State, st.Objectives[k].At = csv1alpha1.ObjectiveOverdue, Stamp(now)
		}
	}
}

func (st *Step) objective(stage, name string) int {
	for k, o := range st.Objectives {
		if o.Stage == stage && o.Name == name {
			return k
		}
	}
	return -1
}

func indexOf(stages []csv1alpha1.Stage, name string) int {
	for i, s := range stages {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// Stamp is a status time: the API stores seconds, so status keeps seconds
// and compares equal after a round trip.
func Stamp(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

// String describes a transition for Events.
func (t Transition) String() string {
	if t.From == "" {
		return fmt.Sprintf("Entered stage %s", t.To)
	}
	return fmt.Sprintf("Stage %s -> %s (%s)", t.From, t.To, t.Reason)
}
