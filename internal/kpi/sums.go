package kpi

import (
	"fmt"
	"math/big"
	"time"
)

// Sums is the additive form of a Portfolio: the figures of a set of
// accounts over one period are the sums of each account's, so a holder can
// add or subtract one account when it changes instead of summing them all
// again (Aggregate). Subtraction is exact: the sums are rationals.
type Sums struct {
	p       Portfolio
	surveys surveySums
}

// NewSums returns empty sums over the period (end-period, end].
func NewSums(end time.Time, period time.Duration) (*Sums, error) {
	if period <= 0 {
		return nil, fmt.Errorf("period %s must be positive", period)
	}
	return &Sums{
		p: Portfolio{
			Start: end.Add(-period), End: end,
			StartMRR: new(big.Rat), EndMRR: new(big.Rat), ChurnedMRR: new(big.Rat),
			ContractionMRR: new(big.Rat), ExpansionMRR: new(big.Rat), NewMRR: new(big.Rat),
			AcquisitionCost: new(big.Rat), AcquiredMRR: new(big.Rat),
		},
		surveys: surveySums{nps: make([]int64, npsScores), csat: make([]int64, csatScores), ces: make([]int64, cesScores)},
	}, nil
}

// Add adds an account's figures. A bad ledger entry or acquisition cost
// is an error naming the field, and adds nothing.
func (s *Sums) Add(a Account) error {
	if err := s.p.add(a); err != nil {
		return err
	}
	s.surveys.add(a.Surveys)
	return nil
}

// Merge adds o to s, or subtracts it when sign is negative; both must be
// over the same period.
func (s *Sums) Merge(o *Sums, sign int) {
	op := (*big.Rat).Add
	n := 1
	if sign < 0 {
		op, n = (*big.Rat).Sub, -1
	}
	s.p.CustomersAtStart += n * o.p.CustomersAtStart
	s.p.CustomersLost += n * o.p.CustomersLost
	s.p.CustomersAtEnd += n * o.p.CustomersAtEnd
	for _, pair := range s.rats(o) {
		op(pair[0], pair[0], pair[1])
	}
	for _, pair := range [][2][]int64{{s.surveys.nps, o.surveys.nps}, {s.surveys.csat, o.surveys.csat}, {s.surveys.ces, o.surveys.ces}} {
		for i := range pair[0] {
			pair[0][i] += int64(n) * pair[1][i]
		}
	}
}

// rats pairs each sum of s with the same sum of o.
func (s *Sums) rats(o *Sums) [][2]*big.Rat {
	return [][2]*big.Rat{
		{s.p.StartMRR, o.p.StartMRR}, {s.p.EndMRR, o.p.EndMRR}, {s.p.ChurnedMRR, o.p.ChurnedMRR},
		{s.p.ContractionMRR, o.p.ContractionMRR}, {s.p.ExpansionMRR, o.p.ExpansionMRR}, {s.p.NewMRR, o.p.NewMRR},
		{s.p.AcquisitionCost, o.p.AcquisitionCost}, {s.p.AcquiredMRR, o.p.AcquiredMRR},
	}
}

// Equal reports whether s and o hold the same figures.
func (s *Sums) Equal(o *Sums) bool {
	if s.p.CustomersAtStart != o.p.CustomersAtStart || s.p.CustomersLost != o.p.CustomersLost ||
		s.p.CustomersAtEnd != o.p.CustomersAtEnd {
		return false
	}
	for _, pair := range s.rats(o) {
		if pair[0].Cmp(pair[1]) != 0 {
			return false
		}
	}
	for _, pair := range [][2][]int64{{s.surveys.nps, o.surveys.nps}, {s.surveys.csat, o.surveys.csat}, {s.surveys.ces, o.surveys.ces}} {
		for i := range pair[0] {
			if pair[0][i] != pair[1][i] {
				return false
			}
		}
	}
	return true
}

// Portfolio returns the figures as a Portfolio, sharing nothing with s.
func (s *Sums) Portfolio() Portfolio {
	p := s.p
	for _, r := range []**big.Rat{&p.StartMRR, &p.EndMRR, &p.ChurnedMRR, &p.ContractionMRR, &p.ExpansionMRR,
		&p.NewMRR, &p.AcquisitionCost, &p.AcquiredMRR} {
		*r = new(big.Rat).Set(*r)
	}
	p.NPS, p.CSAT, p.CES = fitInt32(s.surveys.nps), fitInt32(s.surveys.csat), fitInt32(s.surveys.ces)
	return p
}
