package kpi

import (
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// statusDecimal is the pattern of csv1alpha1.Decimal in the CRD.
var statusDecimal = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]{1,6})?$`)

// fuzzTypes are the ledger entry types the fuzzer picks from, one unknown.
var fuzzTypes = []csv1alpha1.LedgerEntryType{newE, expE, conE, churnE, reactE, "Bogus"}

// fuzzAccounts builds up to four accounts from data, four bytes an entry:
// the account, the day (relative to end; 255 takes the raw date), the type
// and the amount in hundreds (255 takes the raw amount). The bytes also
// seed survey counts, 255 meaning a count near the int32 limit.
func fuzzAccounts(data []byte, end time.Time, amount, date, cost string) []Account {
	accounts := make([]Account, 4)
	accounts[0].AcquisitionCost = csv1alpha1.Decimal(cost)
	accounts[1].AcquisitionCost = "1000"
	for i := 0; i+3 < len(data) && i < 4*200; i += 4 {
		a := &accounts[int(data[i])%len(accounts)]
		e := csv1alpha1.LedgerEntry{
			Date:   csv1alpha1.Date(end.AddDate(0, 0, int(data[i+1])-200).Format(DateLayout)),
			Type:   fuzzTypes[int(data[i+2])%len(fuzzTypes)],
			Amount: csv1alpha1.Decimal(strconv.Itoa(int(data[i+3]) * 100)),
		}
		if data[i+1] == 255 {
			e.Date = csv1alpha1.Date(date)
		}
		if data[i+3] == 255 {
			e.Amount = csv1alpha1.Decimal(amount)
		}
		a.Ledger = append(a.Ledger, e)
	}
	count := func(i int) int32 {
		if len(data) == 0 {
			return 0
		}
		b := data[i%len(data)]
		if b == 255 {
			return math.MaxInt32 - 1
		}
		return int32(b) - 8 // sometimes negative
	}
	for k := range accounts {
		s := &accounts[k].Surveys
		s.NPS, s.CSAT, s.CES = make([]int32, 11), make([]int32, 5), make([]int32, 7)
		for i := range s.NPS {
			s.NPS[i] = count(k*23 + i)
		}
		for i := range s.CSAT {
			s.CSAT[i] = count(k*23 + 11 + i)
		}
		for i := range s.CES {
			s.CES[i] = count(k*23 + 16 + i)
		}
	}
	return accounts
}

func FuzzAggregate(f *testing.F) {
	f.Add([]byte{0, 10, 0, 27, 0, 150, 1, 3, 1, 20, 0, 5, 1, 190, 3, 5, 2, 255, 4, 255}, "2700", "2026-08-26", "10000", "0.80", int64(2160))
	f.Add([]byte{0, 0, 0, 255, 1, 100, 3, 255, 2, 255, 2, 1}, "1e3", "2026-02-30", "-1", "1", int64(720))
	f.Add([]byte{3, 1, 0, 100, 3, 199, 3, 100, 3, 199, 4, 1}, "99999999999999999999.1234567", "1999-01-01", "", "0", int64(24))
	f.Add([]byte{255, 255, 255, 255}, "1p9999999", "x", "0x10", "-3", int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, amount, date, cost, margin string, periodHours int64) {
		end := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		period := time.Duration(periodHours%(24*365*200)) * time.Hour
		p, err := Aggregate(fuzzAccounts(data, end, amount, date, cost), end, period)
		if err != nil {
			return
		}
		gm, err := ParseDecimal(margin)
		if err != nil {
			gm = nil
		}
		s := Compute(p, gm).Status("x")
		for name, v := range map[string]csv1alpha1.Decimal{
			"customerChurnRate": s.CustomerChurnRate, "revenueChurnRate": s.RevenueChurnRate,
			"grossRevenueRetention": s.GrossRevenueRetention, "netRevenueRetention": s.NetRevenueRetention,
			"quickRatio": s.QuickRatio, "nps": s.NPS, "csat": s.CSAT, "netEasyScore": s.NetEasyScore,
			"clv": s.CLV, "paybackMonths": s.PaybackMonths,
		} {
			if v != "" && !statusDecimal.MatchString(string(v)) {
				t.Errorf("%s = %q, not a status decimal", name, v)
			}
		}
	})
}
