package expr

import (
	"math"
	"strings"
	"time"

	celast "github.com/google/cel-go/common/ast"

	"customersuccess.dev/success-operator/internal/health"
)

// Calendar is a set of the variables whose value changes with time alone,
// whole days counted from a date or a moment: account.daysSinceStart,
// account.daysToRenewal and stage.days. An account evaluated again when
// one of those it reads changes finds its stage and signals as they are
// on that day, without waiting for another event (see NextChange).
type Calendar uint8

const (
	// DaysSinceStart is account.daysSinceStart.
	DaysSinceStart Calendar = 1 << iota
	// DaysToRenewal is account.daysToRenewal.
	DaysToRenewal
	// StageDays is stage.days.
	StageDays

	// AccountCalendar is every time-derived field of the account variable.
	AccountCalendar = DaysSinceStart | DaysToRenewal
	// AllCalendar is every time-derived variable.
	AllCalendar = AccountCalendar | StageDays
)

// String names the variables of c, "none" for none.
func (c Calendar) String() string {
	var names []string
	for _, v := range []struct {
		c    Calendar
		name string
	}{{DaysSinceStart, "account.daysSinceStart"}, {DaysToRenewal, "account.daysToRenewal"}, {StageDays, "stage.days"}} {
		if c&v.c != 0 {
			names = append(names, v.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// calendarFields are the time-derived fields of each variable.
var calendarFields = map[string]map[string]Calendar{
	VarAccount: {"daysSinceStart": DaysSinceStart, "daysToRenewal": DaysToRenewal},
	VarStage:   {"days": StageDays},
}

// calendarReads returns the time-derived variables a checked expression
// reads: the selections account.daysSinceStart, account.daysToRenewal and
// stage.days. A presence test (has(account.daysToRenewal)) reads none: it
// depends on whether the date is set, not on the day. A use of account or
// stage other than the selection of a field (the variable passed whole,
// indexed, iterated over, bound in a comprehension) is taken as reading
// every time-derived field of that variable: what such an expression reads
// is not known before it runs. A comprehension variable that shadows one
// of these names only adds variables, never hides one.
func calendarReads(a *celast.AST) Calendar {
	var reads Calendar
	uses, selections := map[string]int{}, map[string]int{}
	celast.PreOrderVisit(celast.NavigateAST(a), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			uses[e.AsIdent()]++
		case celast.SelectKind:
			sel := e.AsSelect()
			op := sel.Operand()
			if op.Kind() != celast.IdentKind {
				return
			}
			name := op.AsIdent()
			selections[name]++
			if !sel.IsTestOnly() {
				reads |= calendarFields[name][sel.FieldName()]
			}
		}
	}))
	if uses[VarAccount] > selections[VarAccount] {
		reads |= AccountCalendar
	}
	if uses[VarStage] > selections[VarStage] {
		reads |= StageDays
	}
	return reads
}

// day is the unit of the day counts.
const day = 24 * time.Hour

// parseDate parses a contract date: midnight UTC of that day.
func parseDate(date string) (time.Time, bool) {
	if date == "" {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, date)
	return d, err == nil
}

// nextDayChange returns the first moment after now at which the whole days
// between origin and now take another value, counted as daysBetween and
// stage.days count them: the span divided by a day, truncated toward zero,
// in either direction (daysToRenewal is the same count with its sign
// turned). A count of zero covers the two days around origin; past origin
// the count changes exactly on each later whole day, before origin just
// after each earlier one. It returns zero for a span beyond what a
// time.Duration holds (about 292 years), whose count does not move.
func nextDayChange(origin, now time.Time) time.Time {
	x := now.Sub(origin)
	if x >= math.MaxInt64-day || x <= math.MinInt64+day {
		return time.Time{}
	}
	switch {
	case x >= 0:
		// k = x/day whole days since origin until origin + (k+1) days.
		return origin.Add((x/day + 1) * day)
	case x > -day:
		// Less than a day before origin: zero, as on origin's first day.
		return origin.Add(day)
	default:
		// m = -x/day whole days before origin, down to m-1 once fewer
		// than m whole days remain: one nanosecond past origin - m days.
		return origin.Add(-(-x/day)*day + time.Nanosecond)
	}
}

// NextChange returns the earliest moment after in.Now at which one of the
// variables of c changes value for in.Account, in a stage entered at
// in.StageEnteredAt; zero when none of them ever does (no variable, or
// its date unset or invalid, or no stage). An evaluation at that moment
// reads the new value.
func (c Calendar) NextChange(in Input) time.Time {
	var next time.Time
	if c&AccountCalendar != 0 && in.Account != nil {
		contract := &in.Account.Spec.Contract
		if d, ok := parseDate(string(contract.StartDate)); ok && c&DaysSinceStart != 0 {
			next = health.Earliest(next, nextDayChange(d, in.Now))
		}
		if d, ok := parseDate(string(contract.RenewalDate)); ok && c&DaysToRenewal != 0 {
			next = health.Earliest(next, nextDayChange(d, in.Now))
		}
	}
	if c&StageDays != 0 && !in.StageEnteredAt.IsZero() {
		next = health.Earliest(next, nextDayChange(in.StageEnteredAt, in.Now))
	}
	return next
}
