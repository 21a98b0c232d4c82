// Package membership answers, in one place, which SuccessPlan manages a
// CustomerAccount and which accounts a plan manages. It is pure: callers
// pass the objects of one namespace, read from a cache.
package membership

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Selector is a plan's choice of accounts, compiled once per plan
// generation: its accountSelector, else its accounts list.
type Selector struct {
	namespace string
	labels    labels.Selector
	names     map[string]bool
}

// Compile compiles the plan's choice of accounts. A selector that does not
// parse selects nothing (ValidateSelector says why).
func Compile(plan *csv1alpha1.SuccessPlan) Selector {
	s := Selector{namespace: plan.Namespace}
	if plan.Spec.AccountSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(plan.Spec.AccountSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		s.labels = sel
		return s
	}
	s.names = make(map[string]bool, len(plan.Spec.Accounts))
	for _, name := range plan.Spec.Accounts {
		s.names[name] = true
	}
	return s
}

// Matches reports whether the plan selects the account.
func (s Selector) Matches(acct *csv1alpha1.CustomerAccount) bool {
	if s.namespace != acct.Namespace {
		return false
	}
	if s.labels != nil {
		return s.labels.Matches(labels.Set(acct.Labels))
	}
	return s.names[acct.Name]
}

// SelectorOf returns a plan's compiled Selector; callers that keep one per
// plan generation pass theirs, Compile compiles each time.
type SelectorOf func(*csv1alpha1.SuccessPlan) Selector

// Resolve picks an account's plan among the plans of its namespace: the
// one spec.successPlanRef names, else the highest-priority plan selecting
// it, ties broken by the name that sorts first. It returns nil when there
// is none.
func Resolve(acct *csv1alpha1.CustomerAccount, plans []csv1alpha1.SuccessPlan, selectorOf SelectorOf) *csv1alpha1.SuccessPlan {
	var best *csv1alpha1.SuccessPlan
	for i := range plans {
		p := &plans[i]
		if ref := acct.Spec.SuccessPlanRef; ref != nil {
			if p.Name == ref.Name && p.Namespace == acct.Namespace {
				return p
			}
			continue
		}
		if best != nil && (p.Spec.Priority < best.Spec.Priority ||
			(p.Spec.Priority == best.Spec.Priority && p.Name > best.Name)) {
			continue
		}
		if selectorOf(p).Matches(acct) {
			best = p
		}
	}
	return best
}

// Selects reports whether a plan's accountSelector or accounts list selects
// the account.
func Selects(plan *csv1alpha1.SuccessPlan, acct *csv1alpha1.CustomerAccount) bool {
	return Compile(plan).Matches(acct)
}

// Managed returns the accounts, among accts, whose plan is plan, in the
// order given.
func Managed(plan *csv1alpha1.SuccessPlan, accts []*csv1alpha1.CustomerAccount, plans []csv1alpha1.SuccessPlan) []*csv1alpha1.CustomerAccount {
	compiled := make(map[string]Selector, len(plans))
	selectorOf := func(p *csv1alpha1.SuccessPlan) Selector {
		s, ok := compiled[p.Name]
		if !ok {
			s = Compile(p)
			compiled[p.Name] = s
		}
		return s
	}
	var out []*csv1alpha1.CustomerAccount
	for _, a := range accts {
		if p := Resolve(a, plans, selectorOf); p != nil && p.Namespace == plan.Namespace && p.Name == plan.Name {
			out = append(out, a)
		}
	}
	return out
}

// ValidateSelector reports the parts of an accountSelector that the API
// server accepts but that do not parse (an unknown operator, a bad value),
// which would otherwise select nobody without a word.
func ValidateSelector(spec *csv1alpha1.SuccessPlanSpec) field.ErrorList {
	sel := spec.AccountSelector
	if sel == nil {
		return nil
	}
	path := field.NewPath("spec", "accountSelector")
	var errs field.ErrorList
	if _, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: sel.MatchLabels}); err != nil {
		errs = append(errs, field.Invalid(path.Child("matchLabels"), sel.MatchLabels, err.Error()))
	}
	for i, expr := range sel.MatchExpressions {
		one := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr}}
		if _, err := metav1.LabelSelectorAsSelector(one); err != nil {
			errs = append(errs, field.Invalid(path.Child("matchExpressions").Index(i), expr.Key+" "+string(expr.Operator), err.Error()))
		}
	}
	return errs
}
