// Package expr is the plan's CEL environment: it compiles and type-checks
// a plan's expressions (normalize, objectives, exitWhen, enterWhen,
// signals) and builds the variables they read about one account.
//
// The variables are built from the evaluated health (a [health.Result]),
// never from status strings: measures.<name>.available is true exactly
// when the measure has the value its score was computed from (the current
// one, or the last good value held under HoldLast, or an override), and
// measures.<name>.value is that value. Scoring and expressions thus agree
// on what is available, by one rule defined in package health.
//
// It is pure: no I/O, no clock of its own.
package expr
