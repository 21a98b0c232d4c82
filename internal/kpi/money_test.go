package kpi

import (
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func entry(date string, t csv1alpha1.LedgerEntryType, amount string) csv1alpha1.LedgerEntry {
	return csv1alpha1.LedgerEntry{Date: csv1alpha1.Date(date), Type: t, Amount: csv1alpha1.Decimal(amount)}
}

func TestMRR(t *testing.T) {
	asOf := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		ledger   []csv1alpha1.LedgerEntry
		want     string
		next     string
		churned  bool
		wantsErr bool
	}{
		{"an empty ledger", nil, "0", "", false, false},
		{"the design's ledger", []csv1alpha1.LedgerEntry{
			entry("2026-03-01", csv1alpha1.LedgerNew, "2700"), entry("2026-09-01", csv1alpha1.LedgerExpansion, "300")}, "3000", "", false, false},
		{"cents stay exact", []csv1alpha1.LedgerEntry{
			entry("2026-03-01", csv1alpha1.LedgerNew, "0.1"), entry("2026-04-01", csv1alpha1.LedgerExpansion, "0.2")}, "0.3", "", false, false},
		{"contraction and churn subtract", []csv1alpha1.LedgerEntry{
			entry("2026-01-01", csv1alpha1.LedgerNew, "900"), entry("2026-02-01", csv1alpha1.LedgerContraction, "100"),
			entry("2026-06-01", csv1alpha1.LedgerChurn, "800")}, "0", "", true, false},
		{"a reactivation after churn", []csv1alpha1.LedgerEntry{
			entry("2026-01-01", csv1alpha1.LedgerNew, "900"), entry("2026-02-01", csv1alpha1.LedgerChurn, "900"),
			entry("2026-05-01", csv1alpha1.LedgerReactivation, "500")}, "500", "", false, false},
		{"a future entry waits for its date", []csv1alpha1.LedgerEntry{
			entry("2026-01-01", csv1alpha1.LedgerNew, "900"), entry("2027-01-01", csv1alpha1.LedgerExpansion, "100")}, "900", "2027-01-01", false, false},
		{"a bad amount is an error", []csv1alpha1.LedgerEntry{entry("2026-01-01", csv1alpha1.LedgerNew, "1e3")}, "", "", false, true},
		{"a bad date is an error", []csv1alpha1.LedgerEntry{entry("2026-02-30", csv1alpha1.LedgerNew, "1")}, "", "", false, true},
		{"losses beyond the MRR are an error", []csv1alpha1.LedgerEntry{
			entry("2026-01-01", csv1alpha1.LedgerNew, "100"), entry("2026-06-01", csv1alpha1.LedgerChurn, "300")}, "", "", false, true},
		{"losses dated later wait for their date", []csv1alpha1.LedgerEntry{
			entry("2026-01-01", csv1alpha1.LedgerNew, "100"), entry("2027-06-01", csv1alpha1.LedgerChurn, "300")}, "100", "2027-06-01", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mrr, next, err := MRR(tc.ledger, asOf)
			if tc.wantsErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatDecimal(mrr, 6); got != tc.want {
				t.Errorf("MRR = %s, want %s", got, tc.want)
			}
			if got := next.Format(DateLayout); tc.next != "" && got != tc.next || tc.next == "" && !next.IsZero() {
				t.Errorf("next = %v, want %q", next, tc.next)
			}
			if got := Churned(tc.ledger, asOf); got != tc.churned {
				t.Errorf("Churned = %v, want %v", got, tc.churned)
			}
		})
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tc := range []struct {
		in     string
		places int
		want   string
	}{
		{"3.70", 1, "3.7"}, {"2700", 6, "2700"}, {"-0.04", 1, "0"}, {"1.857142", 3, "1.857"}, {"0.05", 1, "0.1"}, {"-2.25", 1, "-2.3"},
	} {
		r, err := ParseDecimal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatDecimal(r, tc.places); got != tc.want {
			t.Errorf("FormatDecimal(%s, %d) = %s, want %s", tc.in, tc.places, got, tc.want)
		}
	}
}

func TestParseDecimalAcceptsPlainDecimalsOnly(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2700", true}, {"-0.5", true}, {"0.80", true}, {"+1", true}, {".5", true},
		{"", false}, {"1e3", false}, {"1p9999999", false}, {"0x10", false}, {"0b101", false},
		{"1_000", false}, {"1/3", false}, {"NaN", false}, {"Inf", false}, {"1.2.3", false}, {" 1", false},
	} {
		if _, err := ParseDecimal(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseDecimal(%q) error = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}
