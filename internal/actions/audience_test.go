package actions

import (
	"slices"
	"testing"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func TestRecipients(t *testing.T) {
	ada := csv1alpha1.Contact{Name: "Ada", Email: "ada@acme.example", Role: csv1alpha1.RoleDecisionMaker}
	bob := csv1alpha1.Contact{Name: "Bob", Email: "bob@acme.example", Role: csv1alpha1.RoleUser, Persona: "data-engineer"}
	cy := csv1alpha1.Contact{Name: "Cy", Email: "cy@acme.example", Role: csv1alpha1.RoleChampion, Persona: "analyst"}
	all := []csv1alpha1.Contact{ada, bob, cy}
	contact := func(c csv1alpha1.Contact) Contact {
		return Contact{Name: c.Name, Email: c.Email, Role: string(c.Role), Persona: c.Persona}
	}
	cases := []struct {
		name     string
		audience *csv1alpha1.Audience
		contacts []csv1alpha1.Contact
		want     []Contact
	}{
		{"no audience reaches no contact", nil, all, nil},
		{"a role selects the contacts of that role", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleDecisionMaker}}, all,
			[]Contact{contact(ada)}},
		{"several roles select each, in the order of the contacts",
			&csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleChampion, csv1alpha1.RoleDecisionMaker}}, all,
			[]Contact{contact(ada), contact(cy)}},
		{"a persona selects the contacts with it", &csv1alpha1.Audience{Personas: []string{"data-engineer"}}, all,
			[]Contact{contact(bob)}},
		{"roles and personas select either", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleDecisionMaker},
			Personas: []string{"analyst"}}, all, []Contact{contact(ada), contact(cy)}},
		{"a contact matching both is listed once", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleUser},
			Personas: []string{"data-engineer"}}, all, []Contact{contact(bob)}},
		{"a role nobody has matches no one", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleBilling}}, all, nil},
		{"an empty persona never matches", &csv1alpha1.Audience{Personas: []string{""}}, []csv1alpha1.Contact{ada}, nil},
		{"an account without contacts matches no one", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleUser}}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Recipients(tc.audience, tc.contacts); !slices.Equal(got, tc.want) {
				t.Errorf("Recipients = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDescribeAudience(t *testing.T) {
	cases := []struct {
		name     string
		audience *csv1alpha1.Audience
		want     string
	}{
		{"roles are listed", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleDecisionMaker, csv1alpha1.RoleBilling}},
			"roles: DecisionMaker, Billing"},
		{"personas are listed", &csv1alpha1.Audience{Personas: []string{"analyst"}}, "personas: analyst"},
		{"both are listed", &csv1alpha1.Audience{Roles: []csv1alpha1.ContactRole{csv1alpha1.RoleUser}, Personas: []string{"analyst", "cfo"}},
			"roles: User; personas: analyst, cfo"},
		{"no audience is everyone", nil, "everyone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DescribeAudience(tc.audience); got != tc.want {
				t.Errorf("DescribeAudience = %q, want %q", got, tc.want)
			}
		})
	}
}
