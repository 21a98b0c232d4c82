// Package kpi computes money and portfolio figures exactly: the MRR ledger
// of an account and the KPIs of a set of accounts. It is pure: no clock, no
// I/O. Money is kept in math/big.Rat; a float is used only for the one
// fractional power of the CLV's monthly churn conversion.
//
// # Ledger and period
//
// A ledger entry dated D takes effect on D: the MRR as of t is the signed
// sum of the entries dated on or before t's calendar day (New, Expansion and
// Reactivation add; Contraction and Churn subtract). Dates are days in UTC.
//
// The KPIs cover the period (Start, End], Start = End - period, compared by
// calendar day: an entry is a movement of the period when Start's day < D <=
// End's day. An entry dated exactly on Start's day is before the period (it
// is part of the MRR at start).
//
//   - Customers at start: accounts with MRR > 0 as of Start (the cohort).
//     Lost: those of them with MRR <= 0 as of End. Customers at end: accounts
//     with MRR > 0 as of End.
//   - Start MRR: the MRR as of Start summed over the cohort. End MRR: the MRR
//     as of End summed over the customers at end.
//   - Churned, contraction and expansion MRR: the Churn, Contraction and
//     Expansion entries of the period of the cohort's accounts. New customers
//     (MRR 0 at start) are excluded from them.
//   - New MRR: the New and Reactivation entries of the period of any account,
//     plus the Expansion entries of the period of accounts outside the cohort
//     (they are part of the new business). Contraction and Churn entries of
//     accounts outside the cohort count in no figure.
//
// # KPI formulas
//
// Rates are in percent. A KPI whose denominator is zero is undefined: it is
// nil in [Result] and omitted from the status, never NaN or infinite.
//
//   - Customer churn rate = lost / customers at start × 100.
//   - Revenue churn rate = (churned + contraction) / start MRR × 100.
//   - Gross revenue retention (GRR) = (start MRR − churned − contraction) /
//     start MRR × 100, at most 100 and at least 0.
//   - Net revenue retention (NRR) = (start MRR − churned − contraction +
//     expansion) / start MRR × 100.
//   - SaaS quick ratio = (new + expansion) / (churned + contraction), a ratio.
//   - Customer lifetime value (CLV), simple variant: average MRR per customer
//     at end (end MRR / customers at end) × gross margin / monthly customer
//     churn rate. The period's customer churn fraction c is converted to a
//     monthly one as 1 − (1 − c)^(30 / period days); c = 1 gives 1, and c = 0
//     leaves the CLV undefined (no churn observed, no finite lifetime). The
//     gross margin comes from the plan and defaults to 1.
//   - CAC payback months = the acquisition costs / the MRR at end, both summed
//     over the accounts that state an acquisition cost and have MRR > 0 at
//     end.
//   - NPS, CSAT and Net Easy Score: the survey formulas ([NPS], [CSAT],
//     [NetEasy]) applied to the answer counts summed over all accounts;
//     undefined when there are no answers. An account's survey with the
//     wrong number of counts or a negative count is left out of the sum.
//
// In status, percentages, NPS, CSAT and the Net Easy Score are rounded half
// away from zero to one decimal, the quick ratio and the CLV to two, the
// payback months to one. A figure too large for a status decimal (more than
// 15 integer digits) is omitted as well.
package kpi
