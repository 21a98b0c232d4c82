package evaluate

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// TestStageWakesOnTheCalendar: the stage step's NextChange is the next
// moment a time-derived variable that the plan reads in the account's
// stage changes, and evaluating the account then moves it; a plan that
// reads none sets no such moment.
func TestStageWakesOnTheCalendar(t *testing.T) {
	d := 24 * time.Hour
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	entered := midnight.Add(-10*d + 9*time.Hour)
	cases := []struct {
		name string
		// exitWhen is Nurturing's, the account's stage; signal the atRisk
		// signal.
		exitWhen, signal string
		contract         csv1alpha1.Contract
		// next is the step's NextChange a few seconds before midnight;
		// moves whether the account leaves Nurturing at next.
		next  time.Time
		moves bool
	}{
		{name: "daysToRenewal reaches 90", exitWhen: "account.daysToRenewal <= 90",
			contract: csv1alpha1.Contract{RenewalDate: csv1alpha1.Date(midnight.Add(91 * d).Format(time.DateOnly))},
			next:     midnight.Add(1), moves: true},
		{name: "daysToRenewal after the renewal date", exitWhen: "account.daysToRenewal <= -2",
			contract: csv1alpha1.Contract{RenewalDate: csv1alpha1.Date(midnight.Add(-2 * d).Format(time.DateOnly))},
			next:     midnight, moves: true},
		{name: "daysSinceStart reaches 365", exitWhen: "account.daysSinceStart >= 365",
			contract: csv1alpha1.Contract{StartDate: csv1alpha1.Date(midnight.Add(-365 * d).Format(time.DateOnly))},
			next:     midnight, moves: true},
		{name: "stage.days reaches 10", exitWhen: "stage.days >= 10",
			next: entered.Add(10 * d), moves: true},
		{name: "a boundary that changes nothing still wakes the account", exitWhen: "account.daysToRenewal <= 30",
			contract: csv1alpha1.Contract{RenewalDate: csv1alpha1.Date(midnight.Add(91 * d).Format(time.DateOnly))},
			next:     midnight.Add(1)},
		{name: "a signal that reads the calendar", exitWhen: "health.scored && health.score >= 101", signal: "account.daysToRenewal <= 90",
			contract: csv1alpha1.Contract{RenewalDate: csv1alpha1.Date(midnight.Add(91 * d).Format(time.DateOnly))},
			next:     midnight.Add(1)},
		{name: "a plan that reads no calendar variable", exitWhen: "health.scored && health.score >= 101",
			contract: csv1alpha1.Contract{StartDate: "2026-01-01", RenewalDate: "2027-01-01"}},
		{name: "a date that is unset", exitWhen: "has(account.daysToRenewal) && account.daysToRenewal <= 90"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := testPlan()
			plan.Spec.Stages = []csv1alpha1.Stage{{Name: "Onboarding"}, {Name: "Nurturing", ExitWhen: tc.exitWhen}, {Name: "Renewal"}}
			plan.Spec.Signals.AtRisk = tc.signal
			model := compile(t, plan)
			a := testAccount()
			a.Spec.Contract = tc.contract
			a.Status.Stage, a.Status.StageEnteredAt = "Nurturing", &metav1.Time{Time: entered}
			at := func(now time.Time) Account { return Account{Object: a, Now: now} }

			before := midnight.Add(-3 * time.Second)
			step := Stage(at(before), plan, model, nil)
			if len(step.Errors) > 0 || step.Stage != "Nurturing" {
				t.Fatalf("before the boundary: stage %s, errors %v", step.Stage, step.Errors)
			}
			if !step.NextChange.Equal(tc.next) {
				t.Fatalf("NextChange = %s, want %s", step.NextChange, tc.next)
			}
			if tc.next.IsZero() {
				return
			}
			if s := Stage(at(tc.next.Add(-time.Nanosecond)), plan, model, nil); s.Stage != "Nurturing" {
				t.Errorf("a nanosecond before NextChange the account is already in %s", s.Stage)
			}
			s := Stage(at(tc.next), plan, model, nil)
			if len(s.Errors) > 0 {
				t.Fatal(s.Errors)
			}
			if moved := s.Stage == "Renewal"; moved != tc.moves {
				t.Errorf("at NextChange the account is in %s, moved %v, want %v", s.Stage, moved, tc.moves)
			}
			if tc.moves && !s.NextChange.IsZero() {
				t.Errorf("in Renewal, which reads no calendar variable, NextChange = %s, want zero", s.NextChange)
			}
		})
	}
}

// TestStageCalendarOfTheCurrentStageOnly: an account wakes for the
// variables its current stage (its objectives, its exitWhen, later
// stages' enterWhen) reads, not for those of the stages behind it, and a
// churned account for none of the stage machine's.
func TestStageCalendarOfTheCurrentStageOnly(t *testing.T) {
	d := 24 * time.Hour
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	now := midnight.Add(-3 * time.Second)
	plan := testPlan()
	plan.Spec.Stages = []csv1alpha1.Stage{
		{Name: "Onboarding", ExitWhen: "health.scored && health.score >= 101 && stage.days >= 7"},
		{Name: "Nurturing", ExitWhen: "account.daysToRenewal <= 90"},
		{Name: "Renewal"},
	}
	model := compile(t, plan)
	entered := now.Add(-2*d + time.Hour)
	for _, tc := range []struct {
		stage string
		churn bool
		want  time.Time
	}{
		// Its own stage.days only: Nurturing's exitWhen is read once the
		// account is in Nurturing, in the evaluation that moves it there.
		{stage: "Onboarding", want: entered.Add(2 * d)},
		{stage: "Nurturing", want: midnight.Add(1)},
		{stage: "Renewal"},
		{stage: csv1alpha1.StageChurned, churn: true},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			a := testAccount()
			a.Spec.Contract.RenewalDate = csv1alpha1.Date(midnight.Add(200 * d).Format(time.DateOnly))
			if tc.churn {
				a.Spec.Contract.Revenue = append(a.Spec.Contract.Revenue,
					csv1alpha1.LedgerEntry{Date: "2026-06-01", Type: csv1alpha1.LedgerChurn, Amount: "2700"})
			}
			a.Status.Stage, a.Status.StageEnteredAt = tc.stage, &metav1.Time{Time: entered}
			step := Stage(Account{Object: a, Now: now}, plan, model, nil)
			if step.Stage != tc.stage || len(step.Errors) > 0 {
				t.Fatalf("stage %s, errors %v", step.Stage, step.Errors)
			}
			if !step.NextChange.Equal(tc.want) {
				t.Errorf("NextChange = %s, want %s", step.NextChange, tc.want)
			}
		})
	}
}
