package controllers

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

// The contacts of the audience tests. Their addresses share a domain that
// nothing else in the test run uses, so any trace of them is found.
const contactDomain = "audience-test.example"

var (
	ada = csv1alpha1.Contact{Name: "Ada Quillfeather", Email: "ada@" + contactDomain, Role: csv1alpha1.RoleDecisionMaker}
	bob = csv1alpha1.Contact{Name: "Bob Quarrington", Email: "bob@" + contactDomain, Role: csv1alpha1.RoleUser, Persona: "data-engineer"}
	cy  = csv1alpha1.Contact{Name: "Cy Quenneville", Email: "cy@" + contactDomain, Role: csv1alpha1.RoleChampion}
	eve = csv1alpha1.Contact{Name: "Eve Quintero", Email: "eve@" + contactDomain, Role: csv1alpha1.RoleExecutiveSponsor, Persona: "cfo"}
)

// payloadContact is a contact as the payload carries it.
func payloadContact(c csv1alpha1.Contact) actions.Contact {
	return actions.Contact{Name: c.Name, Email: c.Email, Role: string(c.Role), Persona: c.Persona}
}

// audiencePlan creates the signing Secret and a plan whose Onboarding
// stage has the given actions, each a webhook to rcv unless eventOnly
// names it.
func audiencePlan(t *testing.T, ns string, rcv *receiver, audiences map[string]*csv1alpha1.Audience, order []string, eventOnly ...string) {
	t.Helper()
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-key"}, Data: map[string][]byte{"key": rcv.secret}})
	p := newPlan(ns, "smb", "smb", 0)
	for _, name := range order {
		a := csv1alpha1.Action{Name: name, Audience: audiences[name]}
		if !slices.Contains(eventOnly, name) {
			a.Webhook = &csv1alpha1.Webhook{URL: rcv.URL, SecretRef: &csv1alpha1.LocalObjectReference{Name: "hook-key"}}
		}
		p.Spec.Stages[0].Actions = append(p.Spec.Stages[0].Actions, a)
	}
	create(t, p)
}

// contactAccount returns an account of segment smb that stays in
// Onboarding, with the given contacts.
func contactAccount(ns, name string, contacts ...csv1alpha1.Contact) *csv1alpha1.CustomerAccount {
	a := newAccount(ns, name, "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "3"}
	a.Spec.Contacts = contacts
	return a
}

func roles(r ...csv1alpha1.ContactRole) *csv1alpha1.Audience { return &csv1alpha1.Audience{Roles: r} }

// actionState matches a status.actions entry by name, state and message.
func actionState(name string, state csv1alpha1.ActionState, message string) types.GomegaMatcher {
	return SatisfyAll(HaveField("Name", name), HaveField("State", state), HaveField("Message", message))
}

func TestAudienceDeliversExactlyItsContactsAndSkipsWhomItMisses(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	rcv := newReceiver(t, "s3cret")
	audiencePlan(t, ns, rcv, map[string]*csv1alpha1.Audience{
		"exec-briefing":  roles(csv1alpha1.RoleDecisionMaker, csv1alpha1.RoleExecutiveSponsor),
		"dev-tips":       {Personas: []string{"data-engineer"}},
		"billing-notice": roles(csv1alpha1.RoleBilling),
		"kickoff-note":   roles(csv1alpha1.RoleBilling),
	}, []string{"exec-briefing", "dev-tips", "announce", "billing-notice", "kickoff-note"}, "kickoff-note")
	create(t, contactAccount(ns, "acme", ada, bob, cy, eve), contactAccount(ns, "initech"))

	const noBilling = "audience matches no contact (roles: Billing)"
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(
			actionState("exec-briefing", csv1alpha1.ActionDelivered, ""),
			actionState("dev-tips", csv1alpha1.ActionDelivered, ""),
			actionState("announce", csv1alpha1.ActionDelivered, ""),
			actionState("billing-notice", csv1alpha1.ActionSkipped, noBilling),
			actionState("kickoff-note", csv1alpha1.ActionSkipped, noBilling),
		))
		g.Expect(account(g, ns, "initech").Status.Actions).To(ConsistOf(
			actionState("exec-briefing", csv1alpha1.ActionSkipped, "audience matches no contact (roles: DecisionMaker, ExecutiveSponsor)"),
			actionState("dev-tips", csv1alpha1.ActionSkipped, "audience matches no contact (personas: data-engineer)"),
			actionState("announce", csv1alpha1.ActionDelivered, ""),
			actionState("billing-notice", csv1alpha1.ActionSkipped, noBilling),
			actionState("kickoff-note", csv1alpha1.ActionSkipped, noBilling),
		))
	}, timeout, poll).Should(Succeed())

	// Each delivery carries exactly the contacts of its audience, in the
	// order of spec.contacts; an action without an audience carries none.
	want := map[string][]actions.Contact{
		"acme/exec-briefing": {payloadContact(ada), payloadContact(eve)},
		"acme/dev-tips":      {payloadContact(bob)},
		"acme/announce":      nil,
		"initech/announce":   nil,
	}
	for k, contacts := range want {
		account, action, _ := strings.Cut(k, "/")
		payloads, bodies := rcv.accepted(account, action)
		g.Expect(payloads).To(HaveLen(1), k)
		g.Expect(payloads[0].Contacts).To(Equal(contacts), k)
		if contacts == nil {
			g.Expect(bodies[0]).NotTo(ContainSubstring(`"contacts"`), k)
		}
	}
	// A skipped action is never posted.
	for _, k := range []string{"acme/billing-notice", "initech/exec-briefing", "initech/dev-tips", "initech/billing-notice"} {
		account, action, _ := strings.Cut(k, "/")
		g.Expect(rcv.attemptsOf(account, action)).To(BeZero(), k)
	}
	rcv.mu.Lock()
	g.Expect(rcv.badSigs).To(BeZero())
	rcv.mu.Unlock()

	// Each skip is an Event naming the audience and the action.
	g.Eventually(func(g Gomega) {
		g.Expect(eventsOf(g, ns, "acme", csv1alpha1.NoMatchingContactReason)).To(ConsistOf(
			SatisfyAll(HaveField("Type", corev1.EventTypeWarning), HaveField("Note", HavePrefix("Action billing-notice of stage Onboarding skipped: "+noBilling))),
			SatisfyAll(HaveField("Type", corev1.EventTypeWarning), HaveField("Note", HavePrefix("Action kickoff-note of stage Onboarding skipped: "+noBilling))),
		))
		g.Expect(eventsOf(g, ns, "initech", csv1alpha1.NoMatchingContactReason)).To(HaveLen(4))
	}, timeout, poll).Should(Succeed())

	expectNoContactData(t, g, op, "acme", "initech")
}

func TestAudienceIsMatchedWhenTheActionIsAttempted(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	rcv := newReceiver(t, "s3cret")
	rcv.setFailing("exec-briefing", true)
	rcv.setFailing("champion-call", true)
	audiencePlan(t, ns, rcv, map[string]*csv1alpha1.Audience{
		"exec-briefing": roles(csv1alpha1.RoleDecisionMaker, csv1alpha1.RoleExecutiveSponsor),
		"champion-call": roles(csv1alpha1.RoleChampion),
	}, []string{"exec-briefing", "champion-call"})
	create(t, contactAccount(ns, "acme", ada, cy, eve))

	// Both actions are attempted once and wait to retry.
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(
			SatisfyAll(HaveField("Name", "exec-briefing"), HaveField("State", csv1alpha1.ActionPending), HaveField("Attempts", int32(1))),
			SatisfyAll(HaveField("Name", "champion-call"), HaveField("State", csv1alpha1.ActionPending), HaveField("Attempts", int32(1))),
		))
	}, timeout, poll).Should(Succeed())

	// The executive sponsor and the champion leave; the receiver recovers.
	update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) { a.Spec.Contacts = []csv1alpha1.Contact{ada} })
	rcv.setFailing("exec-briefing", false)
	rcv.setFailing("champion-call", false)

	// The retry carries the contacts of now; the action whose audience left
	// is skipped instead of retried.
	g.Eventually(func(g Gomega) {
		op.clock.Step(time.Second) // retries back off on the operator's clock
		g.Expect(account(g, ns, "acme").Status.Actions).To(ConsistOf(
			SatisfyAll(HaveField("Name", "exec-briefing"), HaveField("State", csv1alpha1.ActionDelivered), HaveField("Attempts", int32(2))),
			SatisfyAll(actionState("champion-call", csv1alpha1.ActionSkipped, "audience matches no contact (roles: Champion)"),
				HaveField("Attempts", int32(1))),
		))
	}, timeout, poll).Should(Succeed())
	payloads, _ := rcv.accepted("acme", "exec-briefing")
	g.Expect(payloads).To(HaveLen(1))
	g.Expect(payloads[0].Contacts).To(Equal([]actions.Contact{payloadContact(ada)}))
	accepted, _ := rcv.accepted("acme", "champion-call")
	g.Expect(accepted).To(BeEmpty())
	g.Expect(rcv.attemptsOf("acme", "champion-call")).To(Equal(1))

	expectNoContactData(t, g, op, "acme")
}

// eventsOf lists the Events of an account with a reason.
func eventsOf(g Gomega, ns, name, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// expectNoContactData checks that no contact's email address or name
// appears in the namespace's Events, in any log line of the test run (at
// debug verbosity), in the operator's metrics or in the accounts' status.
func expectNoContactData(t *testing.T, g *WithT, op *operator, accounts ...string) {
	t.Helper()
	personal := []string{contactDomain}
	for _, c := range []csv1alpha1.Contact{ada, bob, cy, eve} {
		personal = append(personal, c.Email, c.Name)
	}
	noneOf := func(what, s string) {
		t.Helper()
		for _, p := range personal {
			g.Expect(s).NotTo(ContainSubstring(p), what)
		}
	}

	op.settle(t, g, accounts...)
	events := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), events, client.InNamespace(op.ns))).To(Succeed())
	g.Expect(events.Items).NotTo(BeEmpty())
	for _, e := range events.Items {
		noneOf("event "+e.Name, strings.Join([]string{e.Note, e.Reason, e.Action, e.Type}, " "))
	}

	lines := logLines()
	// The capture is beyond debug verbosity: it holds controller-runtime's
	// V(5) lines about these accounts.
	g.Expect(lines).To(ContainElement(SatisfyAll(ContainSubstring(`"msg":"Reconciling"`), ContainSubstring(op.ns))))
	for _, l := range lines {
		// client-go's wire trace, from V(8) on, dumps API requests and
		// responses whole: every object read, Secrets' data included. It
		// is a debugging tool for the API traffic, not the operator's log,
		// and no production setting runs at it.
		var line struct{ Msg string }
		if json.Unmarshal([]byte(l), &line) == nil && (line.Msg == "Request Body" || line.Msg == "Response Body") {
			continue
		}
		noneOf("log line", l)
	}

	noneOf("metrics", op.scrape())
	for _, name := range accounts {
		status, err := json.Marshal(account(g, op.ns, name).Status)
		g.Expect(err).NotTo(HaveOccurred())
		noneOf("status of "+name, string(status))
	}
}
