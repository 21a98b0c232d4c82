package evaluate

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/membership"
	"customersuccess.dev/success-operator/internal/sources"
	"customersuccess.dev/success-operator/internal/text"
)

// Model is a plan generation made ready to evaluate: its compiled
// expressions and what is wrong with it.
type Model struct {
	// UID and Generation identify the plan generation the model was built
	// from.
	UID        types.UID
	Generation int64
	// Expressions are the compiled CEL expressions.
	Expressions *expr.Expressions
	// Selector is the plan's compiled choice of accounts.
	Selector membership.Selector
	// Errors lists what admission could not reject; empty when Valid.
	Errors field.ErrorList
}

// Valid reports whether the plan can be used to evaluate accounts.
func (m *Model) Valid() bool { return len(m.Errors) == 0 }

// CalendarIn returns the time-derived variables the plan's expressions
// read for an account in stage, found once per plan generation when its
// expressions compile (expr.Expressions.CalendarIn): only those wake an
// account when the day changes, so a fleet whose plan reads none is not
// evaluated again at midnight.
func (m *Model) CalendarIn(stage string) expr.Calendar {
	if m.Expressions == nil {
		return 0
	}
	return m.Expressions.CalendarIn(stage)
}

// Message joins the model's errors, each naming its field, into the one
// message the plan's Valid condition carries (at most MaxMessage bytes);
// the kubectl plugin prints the same when it refuses a plan.
func (m *Model) Message() string {
	parts := make([]string, 0, len(m.Errors))
	for _, e := range m.Errors {
		parts = append(parts, e.Error())
	}
	return text.Truncate(strings.Join(parts, "; "), MaxMessage)
}

// Compile builds the model of the plan's current generation: it compiles
// and type-checks every expression, and checks the account selector and
// the measures' sources. The selector's errors come first, then the
// sources', then the expressions'.
func Compile(c *expr.Compiler, plan *csv1alpha1.SuccessPlan) *Model {
	x, errs := c.CompilePlan(&plan.Spec)
	errs = append(append(membership.ValidateSelector(&plan.Spec), sources.ValidatePlan(&plan.Spec)...), errs...)
	return &Model{UID: plan.UID, Generation: plan.Generation, Expressions: x,
		Selector: membership.Compile(plan), Errors: errs}
}
