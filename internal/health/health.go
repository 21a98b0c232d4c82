// Package health is pure scoring: it turns the measures of one account into
// an explainable health index (score, band, trend and the part each measure
// played). It does no I/O and reads no clock: the caller passes now, so the
// same inputs always give the same result.
package health

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Observation is what a source last returned for one measure of one account.
type Observation struct {
	Value float64   // the last value the source returned successfully
	Has   bool      // Value is set (a pull has succeeded at least once)
	At    time.Time // when Value was last returned; zero for values without an observation time (static signals)
	Err   string    // why the latest pull failed; "" when it succeeded
}

// Measure is one plan measure of one account, as gathered by the reconciler.
type Measure struct {
	Name, Source string
	Weight       int32
	Bad, Good    float64
	Missing      csv1alpha1.MissingPolicy           // "" means Redistribute
	StaleAfter   time.Duration                      // > 0; the caller resolves the default (3 x plan interval); <= 0 means never stale
	Normalize    func(raw float64) (float64, error) // nil means identity
	Obs          Observation
	// Refreshed says a collector pulls Obs every interval and reports each
	// failing pull as a change (Obs.Err): while the latest pull succeeded the
	// value cannot turn stale unnoticed, so its staleness sets no
	// NextChange, and an idle fleet is not evaluated again every
	// staleAfter.
	Refreshed bool
	Previous  *csv1alpha1.MeasureStatus // this measure in the last status (nil if none): its Value and ObservedAt are the last good value for HoldLast after a restart
	Override  *csv1alpha1.Override      // the account's override for this measure, if any (may be expired: Evaluate checks)
}

// wakesForStaleness says whether the evaluation must come back when the
// value turns stale: unless a collector refreshes it and its latest pull
// succeeded (see Refreshed).
func (m *Measure) wakesForStaleness() bool { return !m.Refreshed || !m.Obs.Has || m.Obs.Err != "" }

// Model is the plan's health model.
type Model struct {
	Green, Yellow, Hysteresis int32
	TrendWindow               time.Duration
	PlanGeneration            int64
}

// Result is an evaluation.
type Result struct {
	// Status holds Score, Band, PlanGeneration, Trend, Measures (one per
	// input measure, in input order) and Samples.
	Status csv1alpha1.HealthStatus
	// Values holds, per input measure in input order, the value scoring
	// used for it: what expressions read as measures.<name>.
	Values []Value
	// Scored is false when no measure with weight > 0 contributes: Status
	// then keeps prev's Score, Band, Trend and Samples (or zero values if
	// prev is nil) with fresh Measures.
	Scored bool
	// Failing holds one "name: reason" per measure that is missing, failed
	// or stale, for the MetricsAvailable condition message; empty when all
	// are available.
	Failing []string
	// NextChange is the earliest moment after now at which Evaluate's result
	// would change with the same inputs (an override expiring, a value
	// turning stale, a trend sample leaving the window); zero if none.
	NextChange time.Time
}

// Value is the value scoring used for one measure.
type Value struct {
	// Available is true when the measure has a value its score was
	// computed from: the current one, the last good value held under
	// HoldLast (a failing pull does not take it away until it is stale),
	// or an active override. It is false when the value is absent,
	// failed without HoldLast, stale, not finite or failed to normalize.
	// It is the one rule for a measure's availability: with a weight > 0,
	// an available value counts in the health score.
	Available bool
	// Raw is the value before normalize, as the measure's status records
	// it (rounded to six decimals); 0 unless Available.
	Raw float64
}

// MaxSamples is the most trend samples a status keeps: the baseline, and
// the newest sample of each bucket the window overlaps (TrendResolution,
// one more when the window does not start on a bucket's edge).
const MaxSamples = TrendResolution + 2

// decimalPattern is the API's Decimal pattern.
var decimalPattern = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]{1,6})?$`)

// evaluated is one measure after evaluation.
type evaluated struct {
	status  csv1alpha1.MeasureStatus
	score   float64 // unrounded measure score; meaningful when has
	raw     float64 // the value before normalize, as recorded; meaningful when has
	has     bool    // the measure has a usable value
	counted bool    // the measure takes part in the weighted score
	next    time.Time
	failing string // reason for Failing, "" when available
}

// Evaluate scores measures with model at now, against the previous health
// status prev (nil when there is none).
func Evaluate(now time.Time, measures []Measure, model Model, prev *csv1alpha1.HealthStatus) Result {
	evs := make([]evaluated, len(measures))
	var sumW, sumWS float64
	for i, m := range measures {
		evs[i] = evaluateMeasure(now, m)
		if evs[i].counted {
			w := float64(m.Weight)
			sumW += w
			sumWS += w * evs[i].score
		}
	}

	res := Result{}
	res.Status.PlanGeneration = model.PlanGeneration
	res.Status.Measures = make([]csv1alpha1.MeasureStatus, len(evs))
	res.Values = make([]Value, len(evs))
	var next time.Time
	for i, e := range evs {
		if e.counted {
			e.status.Contribution = math.Round(float64(measures[i].Weight)*e.score/sumW*10) / 10
		}
		res.Status.Measures[i] = e.status
		if e.has {
			res.Values[i] = Value{Available: true, Raw: e.raw}
		}
		if e.failing != "" {
			res.Failing = append(res.Failing, e.status.Name+": "+e.failing)
		}
		next = earliest(now, next, e.next)
	}

	res.Scored = sumW > 0
	if !res.Scored {
		if prev != nil {
			res.Status.Score = prev.Score
			res.Status.Band = prev.Band
			res.Status.Trend = prev.Trend
			res.Status.Samples = append([]csv1alpha1.ScoreSample(nil), prev.Samples...)
		}
		res.NextChange = next
		return res
	}

	score := clampScore(roundHalfUp(sumWS / sumW))
	var prevBand csv1alpha1.Band
	var prevSamples []csv1alpha1.ScoreSample
	if prev != nil {
		prevBand = prev.Band
		prevSamples = prev.Samples
	}
	res.Status.Score = score
	res.Status.Band = BandOf(score, prevBand, model)
	samples, trend, trendNext := trendOf(now, prevSamples, score, model)
	res.Status.Samples = samples
	res.Status.Trend = trend
	res.NextChange = earliest(now, next, trendNext)
	return res
}

// lastValue is a value with the moment it was observed.
type lastValue struct {
	value float64
	at    time.Time
}

// evaluateMeasure works out one measure's value, score and status.
func evaluateMeasure(now time.Time, m Measure) evaluated {
	e := evaluated{status: csv1alpha1.MeasureStatus{Name: m.Name, Source: m.Source, Weight: m.Weight}}
	var errs []string
	if m.Obs.Err != "" {
		errs = append(errs, m.Obs.Err)
	}

	ov, active, ovErr := activeOverride(now, m.Override)
	if ovErr != "" {
		errs = append(errs, ovErr)
	}
	var raw float64
	var staleAt time.Time
	switch {
	case active:
		raw, e.has = ov, true
		e.status.Overridden = true
		e.next = m.Override.Expires.Time
	default:
		lv, ok := lastKnown(m)
		if !ok {
			break
		}
		e.status.ObservedAt = observedAt(lv, m.Previous)
		raw = lv.value
		if m.StaleAfter > 0 && !lv.at.IsZero() {
			staleAt = lv.at.Add(m.StaleAfter)
			e.status.Stale = now.After(staleAt) // now - at > staleAfter
			if !e.status.Stale && m.wakesForStaleness() {
				e.next = staleAt.Add(time.Nanosecond) // the first instant it is stale
			}
		}
		e.has = !e.status.Stale && (policy(m) == csv1alpha1.MissingHoldLast || m.Obs.Err == "")
	}

	if e.has {
		// The value is scored as the status records it, so that the
		// status reproduces its own score (see recordedValue).
		v, d, err := recordedValue(raw)
		var s float64
		if err == "" {
			s, err = scoreValue(v, m)
		}
		if err != "" {
			errs = append(errs, err)
			e.has = false
		} else {
			e.score, e.raw = s, v
			e.status.Score = clampScore(roundHalfUp(s))
			e.status.Value = d
		}
	}
	e.status.Error = strings.Join(errs, "; ")

	if m.Weight > 0 {
		e.counted = e.has || policy(m) == csv1alpha1.MissingZero
	}
	if !e.has {
		e.score = 0
		e.status.Score = 0
	}
	switch {
	case e.status.Error != "":
		e.failing = e.status.Error
	case e.status.Stale:
		e.failing = "stale since " + staleAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	case !e.has:
		e.failing = "no value"
	}
	return e
}

// policy is the measure's missing-data policy, Redistribute when unset or
// unknown.
func policy(m Measure) csv1alpha1.MissingPolicy {
	switch m.Missing {
	case csv1alpha1.MissingZero, csv1alpha1.MissingHoldLast:
		return m.Missing
	default:
		return csv1alpha1.MissingRedistribute
	}
}

// activeOverride returns the override's value when it applies at now. An
// override that applies but whose value does not parse is reported in
// errMsg and not applied.
func activeOverride(now time.Time, o *csv1alpha1.Override) (value float64, active bool, errMsg string) {
	if o == nil || !now.Before(o.Expires.Time) {
		return 0, false, ""
	}
	v, err := strconv.ParseFloat(string(o.Value), 64)
	if err != nil {
		return 0, false, fmt.Sprintf("override: value %q is not a decimal number", string(o.Value))
	}
	if !Finite(v) {
		return 0, false, "override: value is not a finite number"
	}
	return v, true, ""
}

// observedAt is the time the status shows for a value: when it was first
// observed, so that it moves only when the value does and an unchanged
// world writes nothing. nil for values without an observation time.
func observedAt(lv lastValue, prev *csv1alpha1.MeasureStatus) *metav1.Time {
	if lv.at.IsZero() {
		return nil
	}
	if prev != nil && !prev.Overridden && prev.ObservedAt != nil && !prev.ObservedAt.After(lv.at) {
		if d, ok := formatValue(lv.value); ok && d == prev.Value {
			return prev.ObservedAt
		}
	}
	at := metav1.NewTime(lv.at.Truncate(time.Second))
	return &at
}

// lastKnown is the value the measure would show: the observation, or under
// HoldLast the newer of the observation and the previous status value.
func lastKnown(m Measure) (lastValue, bool) {
	obs, hasObs := lastValue{m.Obs.Value, m.Obs.At}, m.Obs.Has
	if policy(m) != csv1alpha1.MissingHoldLast {
		return obs, hasObs
	}
	held, hasHeld := previousValue(m.Previous)
	switch {
	case hasObs && hasHeld && held.at.After(obs.at):
		return held, true
	case hasObs:
		return obs, true
	default:
		return held, hasHeld
	}
}

// previousValue is the source value a previous status recorded, if any.
// Overridden values are not source values and are not held.
func previousValue(p *csv1alpha1.MeasureStatus) (lastValue, bool) {
	if p == nil || p.Overridden || p.Value == "" || p.ObservedAt == nil {
		return lastValue{}, false
	}
	v, err := strconv.ParseFloat(string(p.Value), 64)
	if err != nil {
		return lastValue{}, false
	}
	return lastValue{v, p.ObservedAt.Time}, true
}

// scoreValue normalises raw (a recordedValue) and maps it through the
// thresholds. A non-empty errMsg means the measure has no usable value.
func scoreValue(raw float64, m Measure) (score float64, errMsg string) {
	v, err := normalize(m.Normalize, raw)
	if err != nil {
		return 0, "normalize: " + err.Error()
	}
	if !Finite(v) {
		return 0, "normalize: result is not a finite number"
	}
	return Linear(v, m.Bad, m.Good), ""
}

// normalize applies f to raw, turning a panic into an error.
func normalize(f func(float64) (float64, error), raw float64) (v float64, err error) {
	if f == nil {
		return raw, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(raw)
}

// recordedValue is v as a measure's status records it, the one value that
// is normalised, scored and read by expressions: v rounded to the six
// decimals of the status value d, parsed back. Rounding once more changes
// nothing, so the status evaluates to its own score. A value the status
// cannot record is not used: errMsg says why (not finite, or more than 15
// integer digits).
func recordedValue(v float64) (value float64, d csv1alpha1.Decimal, errMsg string) {
	if !Finite(v) {
		return 0, "", "value is not a finite number"
	}
	d, ok := formatValue(v)
	if !ok {
		return 0, "", "value does not fit a status decimal (more than 15 integer digits)"
	}
	value, err := strconv.ParseFloat(string(d), 64)
	if err != nil {
		// formatValue writes only what ParseFloat reads.
		return 0, "", "value " + string(d) + " is not a decimal number"
	}
	return value, d, ""
}

// formatValue renders v as an API Decimal rounded to 6 decimals; false when
// it does not fit the Decimal pattern (15 integer digits at most).
func formatValue(v float64) (csv1alpha1.Decimal, bool) {
	if !Finite(v) {
		return "", false
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	if !decimalPattern.MatchString(s) {
		return "", false
	}
	return csv1alpha1.Decimal(s), true
}

// Linear maps v to a score from 0 to 100: bad scores 0, good scores 100,
// values beyond either are clamped. When bad is greater than good, lower
// values are better. When bad equals good, v scores 100 at or above good and
// 0 below; a NaN anywhere scores 0.
func Linear(v, bad, good float64) float64 {
	if bad == good {
		if v >= good {
			return 100
		}
		return 0
	}
	// Halving keeps the differences finite for any finite inputs.
	f := (v/2 - bad/2) / (good/2 - bad/2) * 100
	if math.IsNaN(f) {
		return 0
	}
	return math.Max(0, math.Min(100, f))
}

// roundHalfUp rounds x half up, after snapping away floating-point noise
// (70.49999999999999 counts as 70.5).
func roundHalfUp(x float64) float64 {
	return math.Floor(math.Round(x*1e9)/1e9 + 0.5)
}

// clampScore converts a rounded score to int32 within 0..100.
func clampScore(x float64) int32 {
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	case x >= 100:
		return 100
	default:
		return int32(x)
	}
}

// Finite reports whether x is neither NaN nor infinite: the one rule for
// which pulled, overridden or computed values count.
func Finite(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0)
}

// Earliest returns the earlier of a and b; a zero time means never and is
// ignored.
func Earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// earliest is Earliest of a and b, ignoring b unless it is after now.
func earliest(now, a, b time.Time) time.Time {
	if !b.After(now) {
		return a
	}
	return Earliest(a, b)
}
