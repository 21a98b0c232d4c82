package expr

import (
	"math/rand/v2"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// count is a day count as AccountVar and Vars compute it: whole days
// from origin to now (since) or from now to origin.
func count(origin, now time.Time, since bool) int64 {
	d, ok := daysBetween(origin.Format(time.DateOnly), now, since)
	if !ok {
		panic("bad date")
	}
	return d
}

// checkNext fails unless next is the first moment after now at which the
// day counts from origin change: both keep their value up to next, and
// both differ at next.
func checkNext(t *testing.T, origin, now, next time.Time) {
	t.Helper()
	if !next.After(now) {
		t.Fatalf("now %s: next change %s is not after now", now, next)
	}
	for _, since := range []bool{true, false} {
		v := count(origin, now, since)
		if before := count(origin, next.Add(-time.Nanosecond), since); before != v {
			t.Errorf("now %s, since=%v: %d, but already %d a nanosecond before the next change %s", now, since, v, before, next)
		}
		if at := count(origin, next, since); at == v {
			t.Errorf("now %s, since=%v: still %d at the next change %s", now, since, v, next)
		}
	}
}

func TestNextDayChange(t *testing.T) {
	origin := time.Date(2027, 2, 24, 0, 0, 0, 0, time.UTC)
	d := 24 * time.Hour
	cases := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"at the date: the first day is over a day later", origin, origin.Add(d)},
		{"a nanosecond before the first whole day", origin.Add(d - 1), origin.Add(d)},
		{"exactly one whole day", origin.Add(d), origin.Add(2 * d)},
		{"during a later day", origin.Add(400*d + 5*time.Hour), origin.Add(401 * d)},
		{"a nanosecond before the date: still zero until a day after it", origin.Add(-1), origin.Add(d)},
		{"less than a day before the date", origin.Add(-d + 1), origin.Add(d)},
		{"exactly a day before the date: one day left until just after", origin.Add(-d), origin.Add(-d + 1)},
		{"just more than a day before the date", origin.Add(-d - 1), origin.Add(-d + 1)},
		{"91 days and 3 seconds before the date", origin.Add(-91*d - 3*time.Second), origin.Add(-91*d + 1)},
		{"exactly 91 days before the date", origin.Add(-91 * d), origin.Add(-91*d + 1)},
		{"a moment in another zone", origin.Add(-91*d - 3*time.Second).In(time.FixedZone("CET", 3600)), origin.Add(-91*d + 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := nextDayChange(origin, tc.now)
			if !got.Equal(tc.want) {
				t.Fatalf("nextDayChange(%s, %s) = %s, want %s", origin, tc.now, got, tc.want)
			}
			checkNext(t, origin, tc.now, got)
		})
	}
	t.Run("a span beyond a Duration never changes", func(t *testing.T) {
		far := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		if got := nextDayChange(far, origin); !got.IsZero() {
			t.Errorf("got %s, want zero", got)
		}
		if got := nextDayChange(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), origin); !got.IsZero() {
			t.Errorf("got %s, want zero", got)
		}
	})
	t.Run("random moments", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 5000 {
			now := origin.Add(time.Duration(r.Int64N(int64(800*d))) - 400*d)
			switch r.IntN(4) {
			case 0: // on a whole day from origin
				now = now.Truncate(d)
			case 1: // a nanosecond either side of one
				now = now.Truncate(d).Add(time.Duration(r.IntN(3)-1) * time.Nanosecond)
			}
			checkNext(t, origin, now, nextDayChange(origin, now))
		}
	})
}

func TestCalendarNextChange(t *testing.T) {
	d := 24 * time.Hour
	renewal := time.Date(2027, 2, 24, 0, 0, 0, 0, time.UTC)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	acct := func(start, renewal string) *csv1alpha1.CustomerAccount {
		a := &csv1alpha1.CustomerAccount{}
		a.Spec.Contract.StartDate, a.Spec.Contract.RenewalDate = csv1alpha1.Date(start), csv1alpha1.Date(renewal)
		return a
	}
	both := acct("2026-03-01", "2027-02-24")
	// 91 days before the renewal and 3 seconds before midnight, 12:00 in
	// a stage entered at noon.
	beforeMidnight := renewal.Add(-91*d - 3*time.Second)
	entered := beforeMidnight.Add(-7*d - 12*time.Hour + 3*time.Second)
	cases := []struct {
		name      string
		calendar  Calendar
		account   *csv1alpha1.CustomerAccount
		entered   time.Time
		now       time.Time
		want      time.Time
		variable  string
		wantValue int64
	}{
		{name: "no variable, no change", calendar: 0, account: both, entered: entered, now: beforeMidnight},
		{name: "daysToRenewal drops to 90 just after midnight", calendar: DaysToRenewal, account: both, entered: entered,
			now: beforeMidnight, want: renewal.Add(-91*d + 1), variable: "daysToRenewal", wantValue: 90},
		{name: "exactly at midnight, daysToRenewal is still 91", calendar: DaysToRenewal, account: both,
			now: renewal.Add(-91 * d), want: renewal.Add(-91*d + 1), variable: "daysToRenewal", wantValue: 90},
		{name: "on the renewal date daysToRenewal is 0 until a day later", calendar: DaysToRenewal, account: both,
			now: renewal, want: renewal.Add(d), variable: "daysToRenewal", wantValue: -1},
		{name: "a day before the renewal, 1 until just after", calendar: DaysToRenewal, account: both,
			now: renewal.Add(-d), want: renewal.Add(-d + 1), variable: "daysToRenewal", wantValue: 0},
		{name: "after the renewal date daysToRenewal turns negative at midnight", calendar: DaysToRenewal, account: both,
			now: renewal.Add(40*d + 5*time.Hour), want: renewal.Add(41 * d), variable: "daysToRenewal", wantValue: -41},
		{name: "exactly at a midnight after the renewal", calendar: DaysToRenewal, account: both,
			now: renewal.Add(40 * d), want: renewal.Add(41 * d), variable: "daysToRenewal", wantValue: -41},
		{name: "daysSinceStart grows at midnight", calendar: DaysSinceStart, account: both,
			now: start.Add(10*d + time.Hour), want: start.Add(11 * d), variable: "daysSinceStart", wantValue: 11},
		{name: "daysSinceStart exactly at midnight", calendar: DaysSinceStart, account: both,
			now: start.Add(10 * d), want: start.Add(11 * d), variable: "daysSinceStart", wantValue: 11},
		{name: "before the start date daysSinceStart counts up just after midnight", calendar: DaysSinceStart, account: both,
			now: start.Add(-3*d - time.Hour), want: start.Add(-3*d + 1), variable: "daysSinceStart", wantValue: -2},
		{name: "stage.days grows a whole day after the stage was entered", calendar: StageDays, account: both, entered: entered,
			now: beforeMidnight, want: entered.Add(8 * d), variable: "stage.days", wantValue: 8},
		{name: "stage.days exactly on its boundary", calendar: StageDays, account: both, entered: entered,
			now: entered.Add(8 * d), want: entered.Add(9 * d), variable: "stage.days", wantValue: 9},
		{name: "no stage, no stage.days change", calendar: StageDays, account: both, now: beforeMidnight},
		{name: "the earliest of several: daysSinceStart at midnight, daysToRenewal a nanosecond later", calendar: AllCalendar,
			account: both, entered: entered, now: beforeMidnight, want: renewal.Add(-91 * d), variable: "daysSinceStart",
			wantValue: int64(renewal.Add(-91*d).Sub(start) / d)},
		{name: "the earliest of several, stage.days first", calendar: AllCalendar, account: both, entered: beforeMidnight.Add(-d + 2*time.Second),
			now: beforeMidnight, want: beforeMidnight.Add(2 * time.Second), variable: "stage.days", wantValue: 1},
		{name: "unset dates never change", calendar: AccountCalendar, account: acct("", ""), now: beforeMidnight},
		{name: "only the date that is read", calendar: DaysSinceStart, account: acct("", "2027-02-24"), now: beforeMidnight},
		{name: "an invalid date never changes", calendar: DaysToRenewal, account: acct("", "2027-02-30"), now: beforeMidnight},
		{name: "no account", calendar: AccountCalendar, now: beforeMidnight},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Account: tc.account, StageEnteredAt: tc.entered, Now: tc.now}
			got := tc.calendar.NextChange(in)
			if !got.Equal(tc.want) {
				t.Fatalf("NextChange = %s, want %s", got, tc.want)
			}
			if tc.variable == "" {
				return
			}
			// The variable has its old value up to the change, and its new
			// one at the change, as Vars computes them.
			value := func(now time.Time) int64 {
				in := in
				in.Now = now
				vars := Vars(in)
				if tc.variable == "stage.days" {
					return vars[VarStage].(map[string]any)["days"].(int64)
				}
				return vars[VarAccount].(map[string]any)[tc.variable].(int64)
			}
			if before, now := value(got.Add(-time.Nanosecond)), value(tc.now); before != now {
				t.Errorf("%s is %d a nanosecond before the change, %d now", tc.variable, before, now)
			}
			if v := value(got); v != tc.wantValue {
				t.Errorf("%s at the change = %d, want %d", tc.variable, v, tc.wantValue)
			}
		})
	}
}

func TestCalendarReads(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	measures := map[string]bool{"activeSeats": true}
	cases := []struct {
		name, src string
		kind      Kind
		want      Calendar
	}{
		{"a renewal window", "account.daysToRenewal <= 90", Condition, DaysToRenewal},
		{"the design's exit criterion", "measures.activeSeats.value >= 0.5 * double(account.contract.seats) && stage.days >= 7", Condition, StageDays},
		{"the account's age and the stage's", "account.daysSinceStart > 30 || stage.days >= 7", Condition, DaysSinceStart | StageDays},
		{"no time-derived variable", "health.scored && health.score < 40 && account.contract.seats > 10", Condition, 0},
		{"the stage's name only", "stage.name == 'Renewal'", Condition, 0},
		{"a presence test reads no day", "has(account.daysToRenewal)", Condition, 0},
		{"a presence test, then the value", "has(account.daysToRenewal) && account.daysToRenewal < 30", Condition, DaysToRenewal},
		{"a map of the account, indexed", "account.labels['tier'] == 'gold' && account.signals.values['nps'] > 1.0", Condition, 0},
		{"a comprehension over a field", "account.contacts.exists(c, c.role == 'Champion')", Condition, 0},
		{"a comprehension variable named like a variable", "account.contacts.exists(stage, stage.role == 'Champion')", Condition, 0},
		{"the account passed whole", "[account].exists(a, a.contract.seats > 1)", Condition, AccountCalendar},
		{"the account compared whole", "account == account", Condition, AccountCalendar},
		{"the stage passed whole", "[stage].all(s, s.name != '')", Condition, StageDays},
		{"a normalisation by the days to renewal", "value / double(account.daysToRenewal)", Number, DaysToRenewal},
		{"a normalisation by seats", "value / double(account.contract.seats)", Number, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Compile(tc.src, tc.kind, measures)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Calendar(); got != tc.want {
				t.Errorf("Calendar() of %q = %s, want %s", tc.src, got, tc.want)
			}
		})
	}
	if got := (*Program)(nil).Calendar(); got != 0 {
		t.Errorf("a nil program reads %s", got)
	}
}

func TestCompilePlanCalendar(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	spec := &csv1alpha1.SuccessPlanSpec{
		Measures: []csv1alpha1.Measure{{Name: "seats", Source: "csm", Key: "seats"}},
		Stages: []csv1alpha1.Stage{
			{Name: "Onboarding", ExitWhen: "measures.seats.value >= 25.0 && stage.days >= 7"},
			{Name: "Adoption", Objectives: []csv1alpha1.Objective{{Name: "month", When: "account.daysSinceStart >= 30"}}},
			{Name: "Nurturing", ExitWhen: "account.daysToRenewal <= 90"},
			{Name: "Renewal", EnterWhen: "account.daysToRenewal <= 60", ExitWhen: "account.daysToRenewal > 300"},
			// The last stage's exitWhen is never evaluated.
			{Name: "Expansion", ExitWhen: "stage.days > 1"},
		},
	}
	x, errs := c.CompilePlan(spec)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if x.Calendar != 0 {
		t.Errorf("Calendar = %s, want none: no signal, no normalize", x.Calendar)
	}
	for stage, want := range map[string]Calendar{
		"Onboarding": StageDays | DaysToRenewal, // Renewal's enterWhen is read from every earlier stage
		"Adoption":   DaysSinceStart | DaysToRenewal,
		"Nurturing":  DaysToRenewal,
		"Renewal":    DaysToRenewal,
		"Expansion":  0,
		"Churned":    0,
		"":           0,
	} {
		if got := x.CalendarIn(stage); got != want {
			t.Errorf("CalendarIn(%q) = %s, want %s", stage, got, want)
		}
	}

	// The signals and normalize are read in every stage.
	spec.Signals.AtRisk = "account.daysSinceStart < 14 && health.scored && health.score < 40"
	spec.Measures[0].Normalize = "value / double(account.daysToRenewal)"
	if x, errs = c.CompilePlan(spec); len(errs) > 0 {
		t.Fatal(errs)
	}
	if want := AccountCalendar; x.Calendar != want {
		t.Errorf("Calendar = %s, want %s", x.Calendar, want)
	}
	for stage, want := range map[string]Calendar{"Expansion": AccountCalendar, "Churned": AccountCalendar, "Onboarding": AllCalendar} {
		if got := x.CalendarIn(stage); got != want {
			t.Errorf("CalendarIn(%q) = %s, want %s", stage, got, want)
		}
	}
}
