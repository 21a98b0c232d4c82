package membership

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func plan(name string, priority int32, segment string) csv1alpha1.SuccessPlan {
	p := csv1alpha1.SuccessPlan{ObjectMeta: metav1.ObjectMeta{Namespace: "customers", Name: name}}
	p.Spec.Priority = priority
	p.Spec.AccountSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": segment}}
	return p
}

func named(name string, accounts ...string) csv1alpha1.SuccessPlan {
	p := csv1alpha1.SuccessPlan{ObjectMeta: metav1.ObjectMeta{Namespace: "customers", Name: name}}
	p.Spec.Accounts = accounts
	return p
}

func account(name, segment string, ref string) csv1alpha1.CustomerAccount {
	a := csv1alpha1.CustomerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "customers", Name: name,
		Labels: map[string]string{"customersuccess.dev/segment": segment}}}
	if ref != "" {
		a.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: ref}
	}
	return a
}

func TestResolve(t *testing.T) {
	like := plan("like", 100, "smb")
	like.Spec.AccountSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "customersuccess.dev/segment", Operator: "Like", Values: []string{"smb"}}}}
	elsewhere := plan("elsewhere", 100, "smb")
	elsewhere.Namespace = "other"
	for _, tc := range []struct {
		name  string
		acct  csv1alpha1.CustomerAccount
		plans []csv1alpha1.SuccessPlan
		want  string
	}{
		{"the highest priority selecting plan wins", account("acme", "smb", ""),
			[]csv1alpha1.SuccessPlan{plan("low", 10, "smb"), plan("high", 20, "smb")}, "high"},
		{"a tie goes to the name that sorts first", account("acme", "smb", ""),
			[]csv1alpha1.SuccessPlan{plan("zulu", 10, "smb"), plan("alpha", 10, "smb")}, "alpha"},
		{"a plan that does not select the account is ignored", account("acme", "smb", ""),
			[]csv1alpha1.SuccessPlan{plan("enterprise", 99, "enterprise"), plan("smb", 1, "smb")}, "smb"},
		{"a plan listing the account by name selects it", account("globex", "none", ""),
			[]csv1alpha1.SuccessPlan{named("named", "acme", "globex")}, "named"},
		{"successPlanRef beats any selector", account("acme", "smb", "named"),
			[]csv1alpha1.SuccessPlan{plan("smb", 100, "smb"), named("named")}, "named"},
		{"successPlanRef to a missing plan resolves nothing", account("acme", "smb", "gone"),
			[]csv1alpha1.SuccessPlan{plan("smb", 100, "smb")}, ""},
		{"a selector that does not parse selects nobody", account("acme", "smb", ""),
			[]csv1alpha1.SuccessPlan{like}, ""},
		{"a plan of another namespace never selects", account("acme", "smb", ""),
			[]csv1alpha1.SuccessPlan{elsewhere}, ""},
		{"no plans, no plan", account("acme", "smb", ""), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if p := Resolve(&tc.acct, tc.plans, Compile); p != nil {
				got = p.Name
			}
			if got != tc.want {
				t.Errorf("Resolve = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestManagedGivesEachAccountToOnePlan(t *testing.T) {
	plans := []csv1alpha1.SuccessPlan{plan("smb", 10, "smb"), plan("priority", 20, "smb"), named("named", "hooli")}
	var accts []*csv1alpha1.CustomerAccount
	for _, a := range []csv1alpha1.CustomerAccount{
		account("acme", "smb", ""), account("globex", "smb", "smb"), account("hooli", "smb", ""), account("initech", "none", ""),
	} {
		accts = append(accts, &a)
	}
	names := func(p *csv1alpha1.SuccessPlan) []string {
		var out []string
		for _, a := range Managed(p, accts, plans) {
			out = append(out, a.Name)
		}
		return out
	}
	for _, tc := range []struct {
		plan csv1alpha1.SuccessPlan
		want []string
	}{
		{plans[0], []string{"globex"}},        // acme and hooli go to the higher priority
		{plans[1], []string{"acme", "hooli"}}, // a selector beats a name list of lower priority
		{plans[2], nil},                       // hooli is selected by "priority" first
	} {
		if got := names(&tc.plan); !slices.Equal(got, tc.want) {
			t.Errorf("Managed(%s) = %v, want %v", tc.plan.Name, got, tc.want)
		}
	}
}

func TestValidateSelectorNamesWhatDoesNotParse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selector *metav1.LabelSelector
		field    string
	}{
		{"no selector", nil, ""},
		{"labels", &metav1.LabelSelector{MatchLabels: map[string]string{"customersuccess.dev/segment": "smb"}}, ""},
		{"an In expression", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"gold"}}}}, ""},
		{"an unknown operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpExists},
			{Key: "tier", Operator: "Like", Values: []string{"g*"}}}}, "spec.accountSelector.matchExpressions[1]"},
		{"a label value that is not one", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "not a value!"}},
			"spec.accountSelector.matchLabels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &csv1alpha1.SuccessPlanSpec{AccountSelector: tc.selector}
			errs := ValidateSelector(spec)
			switch {
			case tc.field == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tc.field != "" && (len(errs) != 1 || errs[0].Field != tc.field):
				t.Fatalf("errors %v, want one for %s", errs, tc.field)
			}
		})
	}
}
