package kpi

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// DateLayout is the layout of API dates.
const DateLayout = time.DateOnly

// decimalPattern is a plain decimal number: no exponent, base prefix,
// fraction or digit separator.
var decimalPattern = regexp.MustCompile(`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// ParseDecimal parses a decimal string such as "2700" or "-0.5" exactly. It
// accepts plain decimal notation only: big.Rat's fractions, exponents ("1e3",
// "1p9999999"), base prefixes ("0x10") and underscores are rejected.
func ParseDecimal(s string) (*big.Rat, error) {
	if !decimalPattern.MatchString(s) {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	return r, nil
}

// FormatDecimal renders r rounded half away from zero to at most places
// decimals, without trailing zeros: 3.70 becomes "3.7", 2700 "2700".
func FormatDecimal(r *big.Rat, places int) string {
	s := r.FloatString(places)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// sign is the direction an entry type moves MRR.
func sign(t csv1alpha1.LedgerEntryType) int {
	switch t {
	case csv1alpha1.LedgerContraction, csv1alpha1.LedgerChurn:
		return -1
	default:
		return 1
	}
}

// MRR is the signed sum of the ledger entries dated on or before asOf; a
// ledger that sums to less than zero is an error.
// next is the date of the first later entry (zero when none), when MRR will
// change by itself.
func MRR(ledger []csv1alpha1.LedgerEntry, asOf time.Time) (mrr *big.Rat, next time.Time, err error) {
	mrr = new(big.Rat)
	for i, e := range ledger {
		d, err := time.Parse(DateLayout, string(e.Date))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("spec.contract.revenue[%d].date: %w", i, err)
		}
		amount, err := ParseDecimal(string(e.Amount))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("spec.contract.revenue[%d].amount: %w", i, err)
		}
		if d.After(asOf) {
			next = health.Earliest(next, d)
			continue
		}
		if sign(e.Type) < 0 {
			amount.Neg(amount)
		}
		mrr.Add(mrr, amount)
	}
	if mrr.Sign() < 0 {
		return nil, time.Time{}, fmt.Errorf("spec.contract.revenue: the entries dated up to %s sum to %s: MRR cannot be negative",
			asOf.Format(DateLayout), FormatDecimal(mrr, 6))
	}
	return mrr, next, nil
}

// Churned reports whether the ledger, up to asOf, ends at zero (or less)
// MRR through a Churn entry: the account is lost, and kept as data.
func Churned(ledger []csv1alpha1.LedgerEntry, asOf time.Time) bool {
	var last *csv1alpha1.LedgerEntry
	for i := range ledger {
		d, err := time.Parse(DateLayout, string(ledger[i].Date))
		if err != nil || d.After(asOf) {
			continue
		}
		if last == nil || string(ledger[i].Date) >= string(last.Date) {
			last = &ledger[i]
		}
	}
	if last == nil || last.Type != csv1alpha1.LedgerChurn {
		return false
	}
	mrr, _, err := MRR(ledger, asOf)
	return err == nil && mrr.Sign() <= 0
}
