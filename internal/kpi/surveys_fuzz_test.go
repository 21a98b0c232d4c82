package kpi

import (
	"math"
	"testing"
)

// FuzzSurveys checks NPS, CSAT and NetEasy on arbitrary counts: a score
// exactly when there are n counts, none negative, and some answers; the
// score finite, within its range and equal to the integer formula.
func FuzzSurveys(f *testing.F) {
	// The counts of TestSurveys, one byte a count: 255 is math.MaxInt32,
	// 254 is -1.
	for _, counts := range [][]byte{
		{0, 0, 0, 0, 0, 1, 1, 2, 1, 3, 4}, {0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3},
		{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 4, 5, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil,
		{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 254, 3},
		{0, 1, 1, 5, 6}, {0, 0, 7, 0, 0}, {0, 0, 0, 0, 7}, {0, 0, 0, 0, 0}, {},
		{4, 5, 2, 1, 0, 1, 0}, {3, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 3}, {0, 0, 2, 2, 0, 0, 0}, {1, 1, 1, 1, 1},
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255}, {255, 255, 255, 255, 255, 255, 255}, {255, 255, 255, 255, 254},
	} {
		f.Add(counts)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var counts []int32
		if b != nil {
			counts = make([]int32, len(b))
		}
		negative := false
		var sum int64
		for i, c := range b {
			switch c {
			case 255:
				counts[i] = math.MaxInt32
			case 254:
				counts[i] = -1
				negative = true
			default:
				counts[i] = int32(c)
			}
			sum += int64(counts[i])
		}
		for _, tc := range []struct {
			name       string
			score      func([]int32) (float64, bool)
			n          int
			plus       func(int) bool
			minus      func(int) bool
			lowerBound float64
		}{
			{"NPS", NPS, 11, func(i int) bool { return i >= 9 }, func(i int) bool { return i <= 6 }, -100},
			{"CSAT", CSAT, 5, func(i int) bool { return i >= 3 }, never, 0},
			{"NetEasy", NetEasy, 7, func(i int) bool { return i <= 1 }, func(i int) bool { return i >= 4 }, -100},
		} {
			got, ok := tc.score(counts)
			wantOK := len(counts) == tc.n && !negative && sum > 0
			if ok != wantOK {
				t.Fatalf("%s(%v) ok = %v, want %v", tc.name, counts, ok, wantOK)
			}
			if !ok {
				if got != 0 {
					t.Fatalf("%s(%v) = %v without a score", tc.name, counts, got)
				}
				continue
			}
			if math.IsNaN(got) || got < tc.lowerBound || got > 100 {
				t.Fatalf("%s(%v) = %v, outside %v..100", tc.name, counts, got, tc.lowerBound)
			}
			var net int64
			for i, c := range counts {
				if tc.plus(i) {
					net += int64(c)
				}
				if tc.minus(i) {
					net -= int64(c)
				}
			}
			if want := float64(net) * 100 / float64(sum); math.Abs(got-want) > 1e-9 {
				t.Fatalf("%s(%v) = %v, want %v", tc.name, counts, got, want)
			}
		}
	})
}
