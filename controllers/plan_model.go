package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/expr"
	"customersuccess.dev/success-operator/internal/membership"
	"customersuccess.dev/success-operator/internal/sources"
)

// PlanModel is a plan generation made ready to evaluate: its compiled
// expressions and what is wrong with it.
type PlanModel struct {
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
func (m *PlanModel) Valid() bool { return len(m.Errors) == 0 }

// PlanModels caches one PlanModel per plan, rebuilt when the plan's
// generation changes, so that expressions compile once per generation and
// not on every account evaluation. Both reconcilers share it.
type PlanModels struct {
	compiler *expr.Compiler

	mu     sync.Mutex
	models map[types.NamespacedName]*PlanModel
}

// NewPlanModels returns an empty cache.
func NewPlanModels() (*PlanModels, error) {
	c, err := expr.NewCompiler()
	if err != nil {
		return nil, err
	}
	return &PlanModels{compiler: c, models: map[types.NamespacedName]*PlanModel{}}, nil
}

// Get returns the model of the plan's current generation.
func (p *PlanModels) Get(plan *csv1alpha1.SuccessPlan) *PlanModel {
	key := types.NamespacedName{Namespace: plan.Namespace, Name: plan.Name}
	p.mu.Lock()
	m, ok := p.models[key]
	p.mu.Unlock()
	if ok && m.UID == plan.UID && m.Generation == plan.Generation {
		return m
	}
	// Compile outside the lock: two callers may both compile one new
	// generation, which is harmless and keeps evaluation of other plans
	// unblocked.
	x, errs := p.compiler.CompilePlan(&plan.Spec)
	errs = append(append(membership.ValidateSelector(&plan.Spec), sources.ValidatePlan(&plan.Spec)...), errs...)
	m = &PlanModel{UID: plan.UID, Generation: plan.Generation, Expressions: x, Errors: errs}
	p.mu.Lock()
	if cur, ok := p.models[key]; !ok || cur.UID != m.UID || cur.Generation <= m.Generation {
		p.models[key] = m
	}
	p.mu.Unlock()
	return m
}

// Forget drops the model of a deleted plan.
func (p *PlanModels) Forget(key types.NamespacedName) {
	p.mu.Lock()
	delete(p.models, key)
	p.mu.Unlock()
}
