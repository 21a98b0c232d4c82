package kpi

import (
	"math"
	"testing"
)

func TestSurveys(t *testing.T) {
	cases := []struct {
		name   string
		f      func([]int32) (float64, bool)
		counts []int32
		want   float64
		wantOK bool
	}{
		{"the design's NPS counts, 7 promoters and 2 detractors of 12 answers, give 41.67", NPS, []int32{0, 0, 0, 0, 0, 1, 1, 2, 1, 3, 4}, 500.0 / 12, true},
		{"7 promoters and 2 detractors of 13 answers give 38.46", NPS, []int32{0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4}, 500.0 / 13, true},
		{"NPS of promoters only is 100", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3}, 100, true},
		{"NPS of detractors only is -100", NPS, []int32{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, -100, true},
		{"NPS of passives only is 0", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 4, 5, 0, 0}, 0, true},
		{"NPS without answers is not a number", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, false},
		{"NPS of an empty list is not a number", NPS, nil, 0, false},
		{"NPS of 10 counts is not a number", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 0, false},
		{"NPS of 12 counts is not a number", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, 0, false},
		{"NPS with a negative count is not a number", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 3}, 0, false},
		{"the design's CSAT counts, 11 of 13 answers 4 or 5, give 84.6", CSAT, []int32{0, 1, 1, 5, 6}, 1100.0 / 13, true},
		{"CSAT of only 3s is 0", CSAT, []int32{0, 0, 7, 0, 0}, 0, true},
		{"CSAT of only 5s is 100", CSAT, []int32{0, 0, 0, 0, 7}, 100, true},
		{"CSAT without answers is not a number", CSAT, []int32{0, 0, 0, 0, 0}, 0, false},
		{"CSAT of an empty list is not a number", CSAT, []int32{}, 0, false},
		{"CSAT of 11 counts is not a number", CSAT, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 0, false},
		{"the design's CES counts, 9 easy and 1 difficult of 13, give a Net Easy Score of 61.5", NetEasy, []int32{4, 5, 2, 1, 0, 1, 0}, 800.0 / 13, true},
		{"a Net Easy Score of only extremely easy answers is 100", NetEasy, []int32{3, 0, 0, 0, 0, 0, 0}, 100, true},
		{"a Net Easy Score of only extremely difficult answers is -100", NetEasy, []int32{0, 0, 0, 0, 0, 0, 3}, -100, true},
		{"a Net Easy Score of neutral answers is 0", NetEasy, []int32{0, 0, 2, 2, 0, 0, 0}, 0, true},
		{"a Net Easy Score without answers is not a number", NetEasy, []int32{0, 0, 0, 0, 0, 0, 0}, 0, false},
		{"a Net Easy Score of an empty list is not a number", NetEasy, nil, 0, false},
		{"a Net Easy Score of 5 counts is not a number", NetEasy, []int32{1, 1, 1, 1, 1}, 0, false},
		{"huge counts do not overflow", NPS, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, math.MaxInt32, math.MaxInt32}, 100, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.f(tc.counts)
			if ok != tc.wantOK || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("got %v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
