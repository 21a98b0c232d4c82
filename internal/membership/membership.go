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

// Resolve picks an account's plan among the plans of its namespace: the
// one spec.successPlanRef names, else the highest-priority plan selecting
// it, ties broken by the name that sorts first. It returns nil when there
// is none.
func Resolve(acct *csv1alpha1.CustomerAccount, plans []csv1alpha1.SuccessPlan) *csv1alpha1.SuccessPlan {
	var best *csv1alpha1.SuccessPlan
	for i := range plans {
		p := &plans[i]
		if ref := acct.Spec.SuccessPlanRef; ref != nil {
			if p.Name == ref.Name && p.Namespace == acct.Namespace {
				return p
			}
			continue
		}
		if !Selects(p, acct) {
			continue
		}
		if best == nil || p.Spec.Priority > best.Spec.Priority ||
			(p.Spec.Priority == best.Spec.Priority && p.Name < best.Name) {
			best = p
		}
	}
	return best
}

// Selects reports whether a plan's accountSelector or accounts list selects
// the account. A selector that does not parse selects nothing.
func Selects(plan *csv1alpha1.SuccessPlan, acct *csv1alpha1.CustomerAccount) bool {
	if plan.Namespace != acct.Namespace {
		return false
	}
	if plan.Spec.AccountSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(plan.Spec.AccountSelector)
		return err == nil && sel.Matches(labels.Set(acct.Labels))
	}
	for _, name := range plan.Spec.Accounts {
		if name == acct.Name {
			return true
		}
	}
	return false
}

// Managed returns the accounts, among accts, whose plan is plan, in the
// order given.
func Managed(plan *csv1alpha1.SuccessPlan, accts []csv1alpha1.CustomerAccount, plans []csv1alpha1.SuccessPlan) []*csv1alpha1.CustomerAccount {
	var out []*csv1alpha1.CustomerAccount
	for i := range accts {
		if p := Resolve(&accts[i], plans); p != nil && p.Namespace == plan.Namespace && p.Name == plan.Name {
			out = append(out, &accts[i])
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
