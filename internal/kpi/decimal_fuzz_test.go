package kpi

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

// plainDecimal reports whether s is written the way ParseDecimal documents:
// one optional sign, digits with at most one point, at least one digit.
func plainDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, points := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// FuzzDecimal checks that ParseDecimal accepts exactly the plain decimals,
// and that FormatDecimal's output parses back to the same string, within
// half a unit of the last place of the input, exactly when no digit was
// rounded away.
func FuzzDecimal(f *testing.F) {
	// TestFormatDecimal and TestParseDecimalAcceptsPlainDecimalsOnly.
	for _, s := range []string{"3.70", "2700", "-0.04", "1.857142", "0.05", "-2.25",
		"-0.5", "0.80", "+1", ".5", "", "1e3", "1p9999999", "0x10", "0b101",
		"1_000", "1/3", "NaN", "Inf", "1.2.3", " 1",
		// TestMRR and FuzzAggregate.
		"0.1", "0.2", "900", "99999999999999999999.1234567", "-1", "1.", "+-1", "--1", "-.5", "0.0000005"} {
		for _, places := range []uint8{1, 2, 6} {
			f.Add(s, places)
		}
	}
	f.Fuzz(func(t *testing.T, s string, places uint8) {
		p := int(places % 13)
		r, err := ParseDecimal(s)
		plain := plainDecimal(s)
		if err != nil {
			if r != nil || err.Error() == "" {
				t.Fatalf("ParseDecimal(%q) = %v, %v", s, r, err)
			}
			if plain {
				t.Fatalf("ParseDecimal(%q) refused a plain decimal: %v", s, err)
			}
			return
		}
		if !plain {
			t.Fatalf("ParseDecimal(%q) = %s, want an error", s, r.RatString())
		}

		out := FormatDecimal(r, p)
		if out == "-0" || strings.HasPrefix(out, "+") || strings.HasSuffix(out, ".") ||
			strings.Contains(out, ".") && strings.HasSuffix(out, "0") {
			t.Fatalf("FormatDecimal(%q, %d) = %q, not canonical", s, p, out)
		}
		back, err := ParseDecimal(out)
		if err != nil {
			t.Fatalf("FormatDecimal(%q, %d) = %q does not parse: %v", s, p, out, err)
		}
		if again := FormatDecimal(back, p); again != out {
			t.Fatalf("format(parse(%q)) = %q, not a fixed point", out, again)
		}
		// |back - r| <= 1/2 * 10^-p
		diff := new(big.Rat).Sub(back, r)
		half := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Mul(big.NewInt(2), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)))
		if diff.Abs(diff).Cmp(half) > 0 {
			t.Fatalf("FormatDecimal(%q, %d) = %q, more than half a unit away", s, p, out)
		}
		frac := 0
		if i := strings.IndexByte(s, '.'); i >= 0 {
			frac = len(s) - i - 1
		}
		if frac <= p && back.Cmp(r) != 0 {
			t.Fatalf("FormatDecimal(%q, %d) = %q, lost digits", s, p, out)
		}
		if r.Sign() != back.Sign() && back.Sign() != 0 {
			t.Fatalf("FormatDecimal(%q, %d) = %q changed the sign", s, p, out)
		}
	})
}

// surveyCounts decodes one answer count per byte: 255 is a count near the
// int32 limit, 254 a negative count, anything else itself.
func surveyCounts(b []byte) []int32 {
	if b == nil {
		return nil
	}
	out := make([]int32, len(b))
	for i, c := range b {
		switch c {
		case 255:
			out[i] = math.MaxInt32
		case 254:
			out[i] = -1
		default:
			out[i] = int32(c)
		}
	}
	return out
}

// exactSurvey is 100 x (the answers selected by plus minus those selected by
// minus) / all answers, rendered as the status does, computed with integers
// only; "" where the score is undefined.
func exactSurvey(counts []int32, n int, plus, minus func(int) bool) string {
	if len(counts) != n {
		return ""
	}
	var total, net big.Int
	for i, c := range counts {
		if c < 0 {
			return ""
		}
		v := big.NewInt(int64(c))
		total.Add(&total, v)
		if plus(i) {
			net.Add(&net, v)
		}
		if minus(i) {
			net.Sub(&net, v)
		}
	}
	if total.Sign() == 0 {
		return ""
	}
	net.Mul(&net, big.NewInt(100))
	return FormatDecimal(new(big.Rat).SetFrac(&net, &total), 1)
}

// FuzzSurveyStatus checks that the NPS, CSAT and Net Easy Score of the KPI
// status are exactly the integer formulas rounded to one decimal, within
// their ranges, and empty when undefined, whatever the counts.
func FuzzSurveyStatus(f *testing.F) {
	// The counts of TestSurveys and the design's portfolio.
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1, 2, 1, 3, 4}, []byte{0, 1, 1, 5, 6}, []byte{4, 5, 2, 1, 0, 1, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4}, []byte{0, 0, 7, 0, 0}, []byte{3, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3}, []byte{0, 0, 0, 0, 7}, []byte{0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0}, []byte{0, 0, 2, 2, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 4, 5, 0, 0}, []byte{}, []byte{0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, []byte(nil))
	f.Add([]byte(nil), []byte{0, 0, 0, 0, 0}, []byte{1, 1, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, []byte{1}, []byte{1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, []byte{1, 2, 3, 4, 5}, []byte{7, 6, 5, 4, 3, 2, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 254, 3}, []byte{255, 255, 255, 255, 1}, []byte{255, 1, 1, 1, 1, 1, 255})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255}, []byte{255, 0, 0, 0, 254}, []byte{1, 0, 0, 0, 0, 0, 19})
	f.Fuzz(func(t *testing.T, nps, csat, ces []byte) {
		p := Portfolio{NPS: surveyCounts(nps), CSAT: surveyCounts(csat), CES: surveyCounts(ces)}
		s := Compute(p, nil).Status("x")
		for _, tc := range []struct {
			name     string
			got      string
			want     string
			min, max int64
		}{
			{"nps", string(s.NPS), exactSurvey(p.NPS, 11, func(i int) bool { return i >= 9 }, func(i int) bool { return i <= 6 }), -100, 100},
			{"csat", string(s.CSAT), exactSurvey(p.CSAT, 5, func(i int) bool { return i >= 3 }, func(int) bool { return false }), 0, 100},
			{"netEasyScore", string(s.NetEasyScore), exactSurvey(p.CES, 7, func(i int) bool { return i <= 1 }, func(i int) bool { return i >= 4 }), -100, 100},
		} {
			if tc.got != tc.want {
				t.Fatalf("%s = %q, want %q", tc.name, tc.got, tc.want)
			}
			if tc.got == "" {
				continue
			}
			v, err := ParseDecimal(tc.got)
			if err != nil || v.Cmp(big.NewRat(tc.min, 1)) < 0 || v.Cmp(big.NewRat(tc.max, 1)) > 0 {
				t.Fatalf("%s = %q, outside %d..%d", tc.name, tc.got, tc.min, tc.max)
			}
		}
	})
}
