package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/expr"
)

// PlanModels caches one evaluate.Model per plan, rebuilt when the plan's
// generation changes, so that expressions compile once per generation and
// not on every account evaluation. Both reconcilers share it.
type PlanModels struct {
	compiler *expr.Compiler

	mu     sync.Mutex
	models map[types.NamespacedName]*evaluate.Model
}

// NewPlanModels returns an empty cache.
func NewPlanModels() (*PlanModels, error) {
	c, err := expr.NewCompiler()
	if err != nil {
		return nil, err
	}
	return &PlanModels{compiler: c, models: map[types.NamespacedName]*evaluate.Model{}}, nil
}

// Get returns the model of the plan's current generation.
func (p *PlanModels) Get(plan *csv1alpha1.SuccessPlan) *evaluate.Model {
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
	m = evaluate.Compile(p.compiler, plan)
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
