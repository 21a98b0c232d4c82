package kpi

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// Number of answer counts of each survey.
const (
	npsScores  = 11
	csatScores = 5
	cesScores  = 7
)

// maxIntDigits is the number of integer digits a status decimal can hold.
const maxIntDigits = 15

// Account is one account's input to the portfolio KPIs.
type Account struct {
	// Ledger is the account's MRR ledger (spec.contract.revenue).
	Ledger []csv1alpha1.LedgerEntry
	// Surveys are the account's survey answer counts.
	Surveys csv1alpha1.Surveys
	// AcquisitionCost is what winning the account cost; "" when unknown.
	AcquisitionCost csv1alpha1.Decimal
}

// Portfolio holds the period's movements, exactly. Aggregate sets every
// *big.Rat field (zero when nothing moved); Compute treats a nil one as zero.
type Portfolio struct {
	// Start and End bound the period (Start, End].
	Start, End time.Time
	// CustomersAtStart counts the accounts with MRR > 0 as of Start (the
	// cohort), CustomersLost those of them with MRR <= 0 as of End, and
	// CustomersAtEnd the accounts with MRR > 0 as of End.
	CustomersAtStart, CustomersLost, CustomersAtEnd int
	// StartMRR is the cohort's MRR as of Start, EndMRR the MRR as of End of
	// the customers at end. ChurnedMRR, ContractionMRR and ExpansionMRR sum
	// the cohort's Churn, Contraction and Expansion entries of the period;
	// NewMRR sums the period's New and Reactivation entries of any account
	// and the Expansion entries of the accounts outside the cohort.
	StartMRR, EndMRR, ChurnedMRR, ContractionMRR, ExpansionMRR, NewMRR *big.Rat
	// AcquisitionCost and AcquiredMRR sum the acquisition costs and the MRR
	// as of End of the accounts that state an acquisition cost and have
	// MRR > 0 at End.
	AcquisitionCost, AcquiredMRR *big.Rat
	// NPS, CSAT and CES are the answer counts summed over the accounts (11,
	// 5 and 7 entries).
	NPS, CSAT, CES []int32
}

// Result holds the KPIs; a nil field is undefined (its denominator is zero),
// never NaN.
type Result struct {
	// CustomerChurnRate, RevenueChurnRate, GRR and NRR are in percent;
	// QuickRatio is a ratio.
	CustomerChurnRate, RevenueChurnRate, GRR, NRR, QuickRatio *big.Rat
	// NPS, CSAT and NetEasy come from the summed answer counts.
	NPS, CSAT, NetEasy *big.Rat
	// CLV is the simple customer lifetime value, in currency; PaybackMonths
	// the CAC payback in months.
	CLV, PaybackMonths *big.Rat
}

// ledgerEntry is a validated ledger entry.
type ledgerEntry struct {
	day    time.Time
	typ    csv1alpha1.LedgerEntryType
	amount *big.Rat
}

// parseLedger validates a ledger, naming the field of a bad entry.
func parseLedger(ledger []csv1alpha1.LedgerEntry) ([]ledgerEntry, error) {
	out := make([]ledgerEntry, 0, len(ledger))
	for i, e := range ledger {
		field := fmt.Sprintf("spec.contract.revenue[%d]", i)
		d, err := time.Parse(DateLayout, string(e.Date))
		if err != nil {
			return nil, fmt.Errorf("%s.date: %w", field, err)
		}
		amount, err := ParseDecimal(string(e.Amount))
		if err != nil {
			return nil, fmt.Errorf("%s.amount: %w", field, err)
		}
		if amount.Sign() < 0 {
			return nil, fmt.Errorf("%s.amount: %q must not be negative: the type gives the sign", field, e.Amount)
		}
		switch e.Type {
		case csv1alpha1.LedgerNew, csv1alpha1.LedgerExpansion, csv1alpha1.LedgerContraction,
			csv1alpha1.LedgerChurn, csv1alpha1.LedgerReactivation:
		default:
			return nil, fmt.Errorf("%s.type: unknown type %q", field, e.Type)
		}
		out = append(out, ledgerEntry{day: d, typ: e.Type, amount: amount})
	}
	return out, nil
}

// day is the calendar day (UTC) of t, at midnight, as ledger dates are.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Aggregate computes the movements of the period (end-period, end] over the
// accounts. It fails on a non-positive period and on a bad ledger entry or
// acquisition cost, naming the account by its index and the field.
func Aggregate(accounts []Account, end time.Time, period time.Duration) (Portfolio, error) {
	s, err := NewSums(end, period)
	if err != nil {
		return Portfolio{}, err
	}
	for i, a := range accounts {
		if err := s.Add(a); err != nil {
			return Portfolio{}, fmt.Errorf("accounts[%d]: %w", i, err)
		}
	}
	return s.Portfolio(), nil
}

// add adds one account's figures to p.
func (p *Portfolio) add(a Account) error {
	entries, err := parseLedger(a.Ledger)
	if err != nil {
		return err
	}
	var cost *big.Rat
	if a.AcquisitionCost != "" {
		if cost, err = ParseDecimal(string(a.AcquisitionCost)); err != nil {
			return fmt.Errorf("spec.contract.acquisitionCost: %w", err)
		}
		if cost.Sign() < 0 {
			return fmt.Errorf("spec.contract.acquisitionCost: %q must not be negative", a.AcquisitionCost)
		}
	}
	start, end := day(p.Start), day(p.End)
	atStart, _, err := MRR(a.Ledger, start)
	if err != nil {
		return err
	}
	atEnd, _, err := MRR(a.Ledger, end)
	if err != nil {
		return err
	}
	cohort := atStart.Sign() > 0
	if cohort {
		p.CustomersAtStart++
		p.StartMRR.Add(p.StartMRR, atStart)
		if atEnd.Sign() <= 0 {
			p.CustomersLost++
		}
	}
	if atEnd.Sign() > 0 {
		p.CustomersAtEnd++
		p.EndMRR.Add(p.EndMRR, atEnd)
		if cost != nil {
			p.AcquisitionCost.Add(p.AcquisitionCost, cost)
			p.AcquiredMRR.Add(p.AcquiredMRR, atEnd)
		}
	}
	for _, e := range entries {
		if !e.day.After(start) || e.day.After(end) {
			continue
		}
		if sum := p.movement(e.typ, cohort); sum != nil {
			sum.Add(sum, e.amount)
		}
	}
	return nil
}

// movement is the sum an entry of the period of type t adds to, nil when
// none: cohort tells whether the account was a customer at start.
func (p *Portfolio) movement(t csv1alpha1.LedgerEntryType, cohort bool) *big.Rat {
	switch {
	case t == csv1alpha1.LedgerNew, t == csv1alpha1.LedgerReactivation:
		return p.NewMRR
	case t == csv1alpha1.LedgerExpansion && cohort:
		return p.ExpansionMRR
	case t == csv1alpha1.LedgerExpansion:
		return p.NewMRR
	case t == csv1alpha1.LedgerContraction && cohort:
		return p.ContractionMRR
	case t == csv1alpha1.LedgerChurn && cohort:
		return p.ChurnedMRR
	}
	return nil
}

// surveySums are answer counts summed without overflow.
type surveySums struct{ nps, csat, ces []int64 }

// add adds an account's valid surveys.
func (s surveySums) add(v csv1alpha1.Surveys) {
	addCounts(s.nps, v.NPS)
	addCounts(s.csat, v.CSAT)
	addCounts(s.ces, v.CES)
}

// addCounts adds counts to sum when it has as many entries and none is
// negative.
func addCounts(sum []int64, counts []int32) {
	if len(counts) != len(sum) {
		return
	}
	for _, c := range counts {
		if c < 0 {
			return
		}
	}
	for i, c := range counts {
		sum[i] += int64(c)
	}
}

// fitInt32 returns sum as int32 counts. Should a count exceed the int32
// range, all are scaled down by the same factor (rounding down), which keeps
// the scores to within that rounding.
func fitInt32(sum []int64) []int32 {
	var highest int64
	for _, c := range sum {
		highest = max(highest, c)
	}
	out := make([]int32, len(sum))
	for i, c := range sum {
		if highest > math.MaxInt32 {
			c = int64(float64(c) / float64(highest) * math.MaxInt32)
		}
		out[i] = int32(min(c, math.MaxInt32))
	}
	return out
}

// or0 is r, or zero when r is nil.
func or0(r *big.Rat) *big.Rat {
	if r == nil {
		return new(big.Rat)
	}
	return r
}

// percent is num / den × 100, nil when den is zero.
func percent(num, den *big.Rat) *big.Rat {
	q := ratio(num, den)
	if q == nil {
		return nil
	}
	return q.Mul(q, big.NewRat(100, 1))
}

// ratio is num / den, nil when den is zero.
func ratio(num, den *big.Rat) *big.Rat {
	if den.Sign() == 0 {
		return nil
	}
	return new(big.Rat).Quo(num, den)
}

// Compute applies the formulas of the package documentation to p.
// grossMargin nil means 1.
func Compute(p Portfolio, grossMargin *big.Rat) Result {
	start, churned, contraction := or0(p.StartMRR), or0(p.ChurnedMRR), or0(p.ContractionMRR)
	expansion, newMRR := or0(p.ExpansionMRR), or0(p.NewMRR)
	losses := new(big.Rat).Add(churned, contraction)
	retained := new(big.Rat).Sub(start, losses)

	r := Result{
		CustomerChurnRate: percent(big.NewRat(int64(p.CustomersLost), 1), big.NewRat(int64(p.CustomersAtStart), 1)),
		RevenueChurnRate:  percent(losses, start),
		GRR:               percent(retained, start),
		NRR:               percent(new(big.Rat).Add(retained, expansion), start),
		QuickRatio:        ratio(new(big.Rat).Add(newMRR, expansion), losses),
		NPS:               survey(NPS(p.NPS)),
		CSAT:              survey(CSAT(p.CSAT)),
		NetEasy:           survey(NetEasy(p.CES)),
		CLV:               clv(p, grossMargin),
		PaybackMonths:     ratio(or0(p.AcquisitionCost), or0(p.AcquiredMRR)),
	}
	if r.GRR != nil {
		if hundred := big.NewRat(100, 1); r.GRR.Cmp(hundred) > 0 {
			r.GRR = hundred
		} else if r.GRR.Sign() < 0 {
			r.GRR = new(big.Rat)
		}
	}
	return r
}

// survey turns a survey score (NPS, CSAT, NetEasy) into a rational, nil when
// undefined. The score goes through its shortest decimal form, so that
// 0.05 is 1/20 and not the binary float next to it.
func survey(score float64, ok bool) *big.Rat {
	if !ok || !health.Finite(score) {
		return nil
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(score, 'f', -1, 64))
	if !ok {
		return nil
	}
	return r
}

// maxExactPower is the largest integer exponent of the monthly churn
// conversion computed exactly (periods of one day or more).
const maxExactPower = 30

// clv is the simple customer lifetime value of p, nil when undefined.
func clv(p Portfolio, grossMargin *big.Rat) *big.Rat {
	period := p.End.Sub(p.Start)
	if p.CustomersAtStart <= 0 || p.CustomersLost <= 0 || p.CustomersAtEnd <= 0 || period <= 0 {
		return nil
	}
	monthly := monthlyChurn(big.NewRat(int64(p.CustomersLost), int64(p.CustomersAtStart)), period)
	if monthly == nil {
		return nil
	}
	v := new(big.Rat).Quo(or0(p.EndMRR), big.NewRat(int64(p.CustomersAtEnd), 1))
	if grossMargin != nil {
		v.Mul(v, grossMargin)
	}
	return v.Quo(v, monthly)
}

// monthlyChurn converts the churn fraction c of a period to a month of 30
// days: 1 - (1 - c)^(30 / period days). It is exact when the exponent is a
// small integer (periods of 1, 2, 3, 5, 6, 10, 15 or 30 days), else it goes
// through float64. It is nil when the result is not positive.
func monthlyChurn(c *big.Rat, period time.Duration) *big.Rat {
	one := big.NewRat(1, 1)
	if c.Cmp(one) >= 0 {
		return one
	}
	if c.Sign() <= 0 {
		return nil
	}
	exp := big.NewRat(int64(30*24*time.Hour), int64(period))
	keep := new(big.Rat).Sub(one, c)
	var monthly *big.Rat
	if exp.IsInt() && exp.Num().IsInt64() && exp.Num().Int64() <= maxExactPower {
		pow := big.NewRat(1, 1)
		for range exp.Num().Int64() {
			pow.Mul(pow, keep)
		}
		monthly = pow.Sub(one, pow)
	} else {
		cf, _ := c.Float64()
		e, _ := exp.Float64()
		m := -math.Expm1(e * math.Log1p(-cf))
		if !health.Finite(m) {
			return nil
		}
		monthly = new(big.Rat).SetFloat64(min(m, 1))
	}
	if monthly == nil || monthly.Sign() <= 0 {
		return nil
	}
	return monthly
}

// Status renders the result for SuccessPlan status: percentages and
// NPS/CSAT/NES rounded to 1 decimal, the quick ratio to 2, the CLV to 2 and
// the payback months to 1. Undefined fields, and figures with more than 15
// integer digits, are left empty. period is the period as the plan wrote it
// (e.g. "2160h").
func (r Result) Status(period string) csv1alpha1.KPIs {
	return csv1alpha1.KPIs{
		Period:                period,
		CustomerChurnRate:     render(r.CustomerChurnRate, 1),
		RevenueChurnRate:      render(r.RevenueChurnRate, 1),
		GrossRevenueRetention: render(r.GRR, 1),
		NetRevenueRetention:   render(r.NRR, 1),
		QuickRatio:            render(r.QuickRatio, 2),
		NPS:                   render(r.NPS, 1),
		CSAT:                  render(r.CSAT, 1),
		NetEasyScore:          render(r.NetEasy, 1),
		CLV:                   render(r.CLV, 2),
		PaybackMonths:         render(r.PaybackMonths, 1),
	}
}

// render formats r to places decimals, "" when r is nil or too large.
func render(r *big.Rat, places int) csv1alpha1.Decimal {
	if r == nil {
		return ""
	}
	s := FormatDecimal(r, places)
	if intDigits(s) > maxIntDigits {
		return ""
	}
	return csv1alpha1.Decimal(s)
}

// intDigits counts the integer digits of a formatted decimal.
func intDigits(s string) int {
	s = strings.TrimPrefix(s, "-")
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return i
	}
	return len(s)
}
