package evaluate

import (
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/membership"
	"customersuccess.dev/success-operator/internal/sources"
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
	// Errors lists what admission could not reject; empty when Valid.
	Errors field.ErrorList
}

// Valid reports whether the plan can be used to evaluate accounts.
func (m *Model) Valid() bool { return len(m.Errors) == 0 }

// Compile builds the model of the plan's current generation: it compiles
// and type-checks every expression, and checks the account selector and
// the measures' sources. The selector's errors come first, then the
// sources', then the expressions'.
func Compile(c *expr.Compiler, plan *csv1alpha1.SuccessPlan) *Model {
	x, errs := c.CompilePlan(&plan.Spec)
	errs = append(append(membership.ValidateSelector(&plan.Spec), sources.ValidatePlan(&plan.Spec)...), errs...)
	return &Model{UID: plan.UID, Generation: plan.Generation, Expressions: x, Errors: errs}
}
