package kpi

// share returns 100 x (the answers at the indexes in plus minus those at
// the indexes in minus) / all answers; false when counts does not have n
// entries, holds a negative count, or has no answers.
func share(counts []int32, n int, plus, minus func(i int) bool) (float64, bool) {
	if len(counts) != n {
		return 0, false
	}
	var total, pos, neg int64
	for i, c := range counts {
		if c < 0 {
			return 0, false
		}
		total += int64(c)
		if plus(i) {
			pos += int64(c)
		}
		if minus(i) {
			neg += int64(c)
		}
	}
	if total == 0 {
		return 0, false
	}
	return float64(pos-neg) * 100 / float64(total), true
}

// never is a selector that selects no answer.
func never(int) bool { return false }

// NPS is the Net Promoter Score of counts, the numbers of answers with the
// scores 0 to 10 (11 entries): the percentage of promoters (9-10) minus the
// percentage of detractors (0-6), from -100 to 100. It is false when there
// are no answers, a count is negative or len(counts) != 11.
func NPS(counts []int32) (float64, bool) {
	return share(counts, 11, func(i int) bool { return i >= 9 }, func(i int) bool { return i <= 6 })
}

// CSAT is the customer satisfaction score of counts, the numbers of answers
// with the scores 1 to 5 (5 entries): the percentage of answers that are 4
// or 5, from 0 to 100. It is false when there are no answers, a count is
// negative or len(counts) != 5.
func CSAT(counts []int32) (float64, bool) {
	return share(counts, 5, func(i int) bool { return i >= 3 }, never)
}

// NetEasy is the Net Easy Score (CES) of counts, the numbers of answers
// with the scores 1 (extremely easy) to 7 (extremely difficult), 7 entries:
// the percentage of easy answers (1-2) minus the percentage of difficult
// ones (5-7), from -100 to 100. It is false when there are no answers, a
// count is negative or len(counts) != 7.
func NetEasy(counts []int32) (float64, bool) {
	return share(counts, 7, func(i int) bool { return i <= 1 }, func(i int) bool { return i >= 4 })
}
