package kpi

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// The period of most tests: 90 days ending at noon on 2026-11-24, so Start
// is noon on 2026-08-26 and the period's entries are dated 2026-08-27 to
// 2026-11-24.
var (
	testEnd    = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	testPeriod = 2160 * time.Hour
)

const (
	newE   = csv1alpha1.LedgerNew
	expE   = csv1alpha1.LedgerExpansion
	conE   = csv1alpha1.LedgerContraction
	churnE = csv1alpha1.LedgerChurn
	reactE = csv1alpha1.LedgerReactivation
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func ledger(entries ...csv1alpha1.LedgerEntry) []csv1alpha1.LedgerEntry { return entries }

// movements is a Portfolio's figures as text, for comparison.
type movements struct {
	atStart, lost, atEnd                                int
	start, end, churned, contraction, expansion, newMRR string
	cost, acquired                                      string
}

func summarize(p Portfolio) movements {
	f := func(r *big.Rat) string { return FormatDecimal(r, 6) }
	return movements{
		atStart: p.CustomersAtStart, lost: p.CustomersLost, atEnd: p.CustomersAtEnd,
		start: f(p.StartMRR), end: f(p.EndMRR), churned: f(p.ChurnedMRR), contraction: f(p.ContractionMRR),
		expansion: f(p.ExpansionMRR), newMRR: f(p.NewMRR), cost: f(p.AcquisitionCost), acquired: f(p.AcquiredMRR),
	}
}

// forty is 40 customers at start of 1000 MRR each, one of which churns in
// the period.
func forty() []Account {
	accounts := make([]Account, 40)
	for i := range accounts {
		accounts[i].Ledger = ledger(entry("2026-01-01", newE, "1000"))
	}
	accounts[0].Ledger = append(accounts[0].Ledger, entry("2026-10-01", churnE, "1000"))
	return accounts
}

func TestAggregate(t *testing.T) {
	cases := []struct {
		name     string
		accounts []Account
		want     movements
	}{
		{"no accounts give zeros", nil,
			movements{0, 0, 0, "0", "0", "0", "0", "0", "0", "0", "0"}},
		{"an entry dated exactly on Start is not in the period", []Account{{Ledger: ledger(
			entry("2026-08-26", newE, "1000"), entry("2026-08-26", expE, "200"), entry("2026-08-27", expE, "100"))}},
			movements{1, 0, 1, "1200", "1300", "0", "0", "100", "0", "0", "0"}},
		{"an entry dated on End's day is in the period and one after it waits", []Account{{Ledger: ledger(
			entry("2026-01-01", newE, "1000"), entry("2026-11-24", conE, "100"), entry("2026-11-25", expE, "500"))}},
			movements{1, 0, 1, "1000", "900", "0", "100", "0", "0", "0", "0"}},
		{"an account that churned and reactivated within the period is not lost", []Account{{Ledger: ledger(
			entry("2026-01-01", newE, "1000"), entry("2026-09-10", churnE, "1000"), entry("2026-10-01", reactE, "800"))}},
			movements{1, 0, 1, "1000", "800", "1000", "0", "0", "800", "0", "0"}},
		{"a customer whose MRR reaches zero is lost", []Account{{Ledger: ledger(
			entry("2026-01-01", newE, "1000"), entry("2026-09-01", conE, "400"), entry("2026-10-01", churnE, "600"))}},
			movements{1, 1, 0, "1000", "0", "600", "400", "0", "0", "0", "0"}},
		{"a new customer's expansion is new business and its contraction counts nowhere", []Account{{Ledger: ledger(
			entry("2026-09-01", newE, "500"), entry("2026-10-01", expE, "100"), entry("2026-11-01", conE, "50"))}},
			movements{0, 0, 1, "0", "550", "0", "0", "0", "600", "0", "0"}},
		{"a customer churned before the period is not in the cohort", []Account{{Ledger: ledger(
			entry("2025-01-01", newE, "1000"), entry("2026-01-01", churnE, "1000"))}},
			movements{0, 0, 0, "0", "0", "0", "0", "0", "0", "0", "0"}},
		{"acquisition costs count for accounts with MRR at end only", []Account{
			{Ledger: ledger(entry("2026-03-01", newE, "2700")), AcquisitionCost: "10000"},
			{Ledger: ledger(entry("2026-03-01", newE, "500"), entry("2026-09-01", churnE, "500")), AcquisitionCost: "4000"},
			{Ledger: ledger(entry("2026-03-01", newE, "300"))},
		}, movements{3, 1, 2, "3500", "3000", "500", "0", "0", "0", "10000", "2700"}},
		{"the worked example portfolio", []Account{
			{Ledger: ledger(entry("2026-01-01", newE, "950000"), entry("2026-09-15", conE, "20000"), entry("2026-10-15", expE, "90000"))},
			{Ledger: ledger(entry("2026-02-01", newE, "50000"), entry("2026-09-20", churnE, "50000"))},
			{Ledger: ledger(entry("2026-10-01", newE, "40000"))},
		}, movements{2, 1, 2, "1000000", "1060000", "50000", "20000", "90000", "40000", "0", "0"}},
		{"forty customers of which one churns", forty(),
			movements{40, 1, 39, "40000", "39000", "1000", "0", "0", "0", "0", "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Aggregate(tc.accounts, testEnd, testPeriod)
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(p); got != tc.want {
				t.Errorf("Aggregate =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if !p.Start.Equal(testEnd.Add(-testPeriod)) || !p.End.Equal(testEnd) {
				t.Errorf("period = (%v, %v]", p.Start, p.End)
			}
			if len(p.NPS) != 11 || len(p.CSAT) != 5 || len(p.CES) != 7 {
				t.Errorf("survey lengths = %d, %d, %d", len(p.NPS), len(p.CSAT), len(p.CES))
			}
		})
	}
}

func TestAggregateErrors(t *testing.T) {
	good := ledger(entry("2026-01-01", newE, "1000"))
	cases := []struct {
		name     string
		accounts []Account
		period   time.Duration
		want     string
	}{
		{"a bad amount names the entry", []Account{{Ledger: good}, {Ledger: ledger(
			entry("2026-01-01", newE, "1"), entry("2026-02-01", expE, "2"), entry("2026-03-01", expE, "1e3"))}},
			testPeriod, "accounts[1]: spec.contract.revenue[2].amount"},
		{"a bad date names the entry", []Account{{Ledger: ledger(entry("2026-02-30", newE, "1"))}},
			testPeriod, "accounts[0]: spec.contract.revenue[0].date"},
		{"a negative amount is an error", []Account{{Ledger: ledger(entry("2026-01-01", newE, "-5"))}},
			testPeriod, "spec.contract.revenue[0].amount"},
		{"an unknown type is an error", []Account{{Ledger: ledger(entry("2026-01-01", "Upsell", "5"))}},
			testPeriod, "spec.contract.revenue[0].type"},
		{"a bad acquisition cost is an error", []Account{{Ledger: good, AcquisitionCost: "ten"}},
			testPeriod, "accounts[0]: spec.contract.acquisitionCost"},
		{"a zero period is an error", []Account{{Ledger: good}}, 0, "period"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Aggregate(tc.accounts, testEnd, tc.period)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSurveysSumOverAccounts(t *testing.T) {
	accounts := []Account{
		{Surveys: csv1alpha1.Surveys{
			NPS:  []int32{0, 0, 0, 0, 0, 1, 1, 2, 1, 3, 4},
			CSAT: []int32{0, 1, 1, 5, 6},
			CES:  []int32{4, 5, 2, 1, 0, 1, 0},
		}},
		{Surveys: csv1alpha1.Surveys{
			NPS:  []int32{1, 0, 0, 0, 0, 0, 0, 3, 0, 2, 4},
			CSAT: []int32{1, 0, 0, 2, 2},
			CES:  []int32{1, 0, 0, 0, 1, 0, 1},
		}},
		// Malformed counts are left out of the sums.
		{Surveys: csv1alpha1.Surveys{NPS: []int32{5, 5, 5}, CSAT: []int32{-1, 0, 0, 9, 9}}},
	}
	p, err := Aggregate(accounts, testEnd, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(p.NPS, p.CSAT, p.CES), "[1 0 0 0 0 1 1 5 1 5 8] [1 1 1 7 8] [5 5 2 1 1 1 1]"; got != want {
		t.Errorf("sums = %s, want %s", got, want)
	}
	r := Compute(p, nil)
	// NPS: 22 answers, 13 promoters (9-10), 3 detractors (0-6): 10/22 = 45.45%.
	// CSAT: 18 answers, 15 of them 4 or 5: 83.33%.
	// NES: 16 answers, 10 easy (1-2), 3 difficult (5-7): 7/16 = 43.75%, which
	// rounds half away from zero to 43.8.
	for _, c := range []struct {
		name string
		got  *big.Rat
		want string
	}{{"NPS", r.NPS, "45.454545"}, {"CSAT", r.CSAT, "83.333333"}, {"NES", r.NetEasy, "43.75"}} {
		if c.got == nil || FormatDecimal(c.got, 6) != c.want {
			t.Errorf("%s = %v, want %s", c.name, c.got, c.want)
		}
	}
	s := r.Status("2160h")
	if s.NPS != "45.5" || s.CSAT != "83.3" || s.NetEasyScore != "43.8" {
		t.Errorf("status = %q %q %q, want 45.5 83.3 43.8", s.NPS, s.CSAT, s.NetEasyScore)
	}
}

func TestSurveySumsBeyondInt32AreScaled(t *testing.T) {
	big32 := int32(2_000_000_000)
	a := Account{Surveys: csv1alpha1.Surveys{CSAT: []int32{big32, 0, 0, 0, big32}}}
	p, err := Aggregate([]Account{a, a}, testEnd, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	if p.CSAT[0] <= 0 || p.CSAT[0] != p.CSAT[4] {
		t.Fatalf("CSAT counts = %v, want equal positive counts", p.CSAT)
	}
	if got := Compute(p, nil).Status("").CSAT; got != "50" {
		t.Errorf("CSAT = %s, want 50", got)
	}
}

func TestCompute(t *testing.T) {
	worked := Portfolio{
		Start: testEnd.Add(-testPeriod), End: testEnd,
		CustomersAtStart: 2, CustomersLost: 1, CustomersAtEnd: 2,
		StartMRR: rat("1000000"), EndMRR: rat("1060000"), ChurnedMRR: rat("50000"),
		ContractionMRR: rat("20000"), ExpansionMRR: rat("90000"), NewMRR: rat("40000"),
	}
	cases := []struct {
		name   string
		p      Portfolio
		margin *big.Rat
		want   csv1alpha1.KPIs
	}{
		{"an empty portfolio leaves every KPI undefined", Portfolio{}, nil,
			csv1alpha1.KPIs{Period: "2160h"}},
		{"the worked example: GRR 93, NRR 102, quick ratio 130/70", worked, nil, csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "50", RevenueChurnRate: "7", GrossRevenueRetention: "93",
			NetRevenueRetention: "102", QuickRatio: "1.86",
			// 530000 / (1 - 0.5^(1/3)) = 530000 / 0.2062994740159002 = 2569080.71
			CLV: "2569080.71"}},
		{"customer churn of 1 in 40 over 90 days", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtStart: 40, CustomersLost: 1, CustomersAtEnd: 39,
			StartMRR: rat("40000"), EndMRR: rat("39000"), ChurnedMRR: rat("1000")}, nil, csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "2.5", RevenueChurnRate: "2.5", GrossRevenueRetention: "97.5",
			NetRevenueRetention: "97.5", QuickRatio: "0",
			// 1000 / (1 - 0.975^(1/3)) = 1000 / 0.0084037586596126 = 118994.37
			CLV: "118994.37"}},
		{"no losses leave the quick ratio and the CLV undefined", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtStart: 3, CustomersAtEnd: 4,
			StartMRR: rat("3000"), EndMRR: rat("4500"), ExpansionMRR: rat("500"), NewMRR: rat("1000")}, nil, csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "0", RevenueChurnRate: "0", GrossRevenueRetention: "100",
			NetRevenueRetention: "116.7"}},
		{"no customers at start leave the retention KPIs undefined", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtEnd: 1,
			EndMRR: rat("500"), NewMRR: rat("500")}, nil, csv1alpha1.KPIs{Period: "2160h"}},
		{"losses beyond the start MRR floor the GRR at 0", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtStart: 1, CustomersLost: 1,
			StartMRR: rat("100"), ChurnedMRR: rat("100"), ContractionMRR: rat("50")}, nil, csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "100", RevenueChurnRate: "150", GrossRevenueRetention: "0",
			NetRevenueRetention: "-50", QuickRatio: "0"}},
		{"all customers lost count as a monthly churn of 1", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtStart: 2, CustomersLost: 2, CustomersAtEnd: 1,
			StartMRR: rat("200"), EndMRR: rat("500"), ChurnedMRR: rat("200"), NewMRR: rat("500")}, rat("0.8"), csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "100", RevenueChurnRate: "100", GrossRevenueRetention: "0",
			NetRevenueRetention: "0", QuickRatio: "2.5", CLV: "400"}},
		{"no customers at end leave the CLV undefined", Portfolio{
			Start: testEnd.Add(-testPeriod), End: testEnd, CustomersAtStart: 1, CustomersLost: 1,
			StartMRR: rat("200"), ChurnedMRR: rat("200")}, nil, csv1alpha1.KPIs{
			Period: "2160h", CustomerChurnRate: "100", RevenueChurnRate: "100", GrossRevenueRetention: "0",
			NetRevenueRetention: "0", QuickRatio: "0"}},
		{"the design's payback: CAC 10,000 over MRR 2,700 is 3.7 months", Portfolio{
			AcquisitionCost: rat("10000"), AcquiredMRR: rat("2700")}, nil, csv1alpha1.KPIs{
			Period: "2160h", PaybackMonths: "3.7"}},
		{"an acquisition cost without MRR leaves the payback undefined", Portfolio{
			AcquisitionCost: rat("10000"), AcquiredMRR: new(big.Rat)}, nil, csv1alpha1.KPIs{Period: "2160h"}},
		{"a figure with more than 15 integer digits is omitted", Portfolio{
			AcquisitionCost: rat("10000000000000000"), AcquiredMRR: rat("1")}, nil, csv1alpha1.KPIs{Period: "2160h"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compute(tc.p, tc.margin).Status("2160h"); got != tc.want {
				t.Errorf("Status =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestWorkedExampleIsExact(t *testing.T) {
	p, err := Aggregate([]Account{
		{Ledger: ledger(entry("2026-01-01", newE, "950000"), entry("2026-09-15", conE, "20000"), entry("2026-10-15", expE, "90000"))},
		{Ledger: ledger(entry("2026-02-01", newE, "50000"), entry("2026-09-20", churnE, "50000"))},
		{Ledger: ledger(entry("2026-10-01", newE, "40000"))},
	}, testEnd, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	r := Compute(p, nil)
	for _, c := range []struct {
		name      string
		got, want *big.Rat
	}{
		{"GRR", r.GRR, big.NewRat(93, 1)},
		{"NRR", r.NRR, big.NewRat(102, 1)},
		{"quick ratio", r.QuickRatio, big.NewRat(130, 70)},
		{"revenue churn", r.RevenueChurnRate, big.NewRat(7, 1)},
		{"customer churn", r.CustomerChurnRate, big.NewRat(50, 1)},
	} {
		if c.got == nil || c.got.Cmp(c.want) != 0 {
			t.Errorf("%s = %v, want exactly %v", c.name, c.got, c.want)
		}
	}
}

func TestPaybackFromAccounts(t *testing.T) {
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p, err := Aggregate([]Account{{
		Ledger:          ledger(entry("2026-03-01", newE, "2700"), entry("2026-09-01", expE, "300")),
		AcquisitionCost: "10000",
	}}, end, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	r := Compute(p, nil)
	if r.PaybackMonths == nil || r.PaybackMonths.Cmp(big.NewRat(10000, 2700)) != 0 {
		t.Fatalf("payback = %v, want exactly 10000/2700 = 3.7037...", r.PaybackMonths)
	}
	if got := r.Status("2160h").PaybackMonths; got != "3.7" {
		t.Errorf("payback = %s, want 3.7", got)
	}
}

func TestCLV(t *testing.T) {
	cases := []struct {
		name   string
		period time.Duration
		margin *big.Rat
		exact  *big.Rat // nil when the conversion goes through a float
		want   string
	}{
		// 40 customers at start, 1 lost: c = 0.025. Over 90 days the monthly
		// rate is 1 - 0.975^(30/90) = 1 - 0.99159624134038736 =
		// 0.0084037586596126366. The average MRR at end is 117000 / 39 =
		// 3000, times the margin 0.8 is 2400; 2400 / 0.0084037586596126366 =
		// 285586.4973..., rendered 285586.5.
		{"by hand over 90 days with a margin of 0.80", 2160 * time.Hour, rat("0.8"), nil, "285586.5"},
		// Over 30 days the exponent is 1 and the monthly rate is c itself,
		// exactly: 3000 / 0.025 = 120000.
		{"exactly over 30 days", 720 * time.Hour, nil, big.NewRat(120000, 1), "120000"},
		// Over 15 days the exponent is 2, still exact: 1 - 0.975^2 =
		// 0.049375, and 3000 / 0.049375 = 60759.49...
		{"exactly over 15 days", 360 * time.Hour, nil, new(big.Rat).Quo(big.NewRat(3000, 1), rat("0.049375")), "60759.49"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Portfolio{
				Start: testEnd.Add(-tc.period), End: testEnd,
				CustomersAtStart: 40, CustomersLost: 1, CustomersAtEnd: 39, EndMRR: rat("117000"),
			}
			r := Compute(p, tc.margin)
			if r.CLV == nil {
				t.Fatal("CLV undefined")
			}
			if tc.exact != nil && r.CLV.Cmp(tc.exact) != 0 {
				t.Errorf("CLV = %s, want exactly %s", r.CLV.FloatString(9), tc.exact.FloatString(9))
			}
			if got := r.Status("").CLV; string(got) != tc.want {
				t.Errorf("CLV = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestZeroDenominatorsAreNil(t *testing.T) {
	p, err := Aggregate([]Account{{Ledger: ledger(entry("2026-10-01", newE, "0"))}}, testEnd, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    Portfolio
	}{{"a zero Portfolio", Portfolio{}}, {"an aggregate without customers or answers", p}} {
		t.Run(tc.name, func(t *testing.T) {
			r := Compute(tc.p, nil)
			for name, v := range map[string]*big.Rat{
				"customer churn": r.CustomerChurnRate, "revenue churn": r.RevenueChurnRate, "GRR": r.GRR, "NRR": r.NRR,
				"quick ratio": r.QuickRatio, "NPS": r.NPS, "CSAT": r.CSAT, "NES": r.NetEasy, "CLV": r.CLV, "payback": r.PaybackMonths,
			} {
				if v != nil {
					t.Errorf("%s = %v, want nil", name, v)
				}
			}
		})
	}
}
