package actions

import (
	"slices"
	"strings"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Contact is a contact of the account that an action reaches. It is
// personal data: it goes into the webhook payload and nowhere else (no
// status, Event, log line or metric).
type Contact struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Role    string `json:"role"`
	Persona string `json:"persona,omitempty"`
}

// Recipients returns the contacts that audience selects, in the order of
// contacts: those whose role is one of its roles or whose persona is one
// of its personas. A nil audience selects no one: the action is for the
// account, not for people. The result is nil when no contact matches.
func Recipients(audience *csv1alpha1.Audience, contacts []csv1alpha1.Contact) []Contact {
	if audience == nil {
		return nil
	}
	var out []Contact
	for _, c := range contacts {
		if slices.Contains(audience.Roles, c.Role) || (c.Persona != "" && slices.Contains(audience.Personas, c.Persona)) {
			out = append(out, Contact{Name: c.Name, Email: c.Email, Role: string(c.Role), Persona: c.Persona})
		}
	}
	return out
}

// DescribeAudience names what an audience selects, for a status message
// or an Event: "roles: DecisionMaker, Champion; personas: data-engineer".
// It holds no personal data.
func DescribeAudience(audience *csv1alpha1.Audience) string {
	if audience == nil {
		return "everyone"
	}
	var parts []string
	if len(audience.Roles) > 0 {
		roles := make([]string, len(audience.Roles))
		for i, r := range audience.Roles {
			roles[i] = string(r)
		}
		parts = append(parts, "roles: "+strings.Join(roles, ", "))
	}
	if len(audience.Personas) > 0 {
		parts = append(parts, "personas: "+strings.Join(audience.Personas, ", "))
	}
	return strings.Join(parts, "; ")
}
