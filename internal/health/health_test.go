package health

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// t0 is the "now" of most tests.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// model is the design's health model: green 70, yellow 40, hysteresis 2.
var model = Model{Green: 70, Yellow: 40, Hysteresis: 2, TrendWindow: 168 * time.Hour, PlanGeneration: 2}

// obs is a successful observation of v, age old at t0.
func obs(v float64, age time.Duration) Observation {
	return Observation{Value: v, Has: true, At: t0.Add(-age)}
}

// failed is an observation of v, age old at t0, whose latest pull failed.
func failed(v float64, age time.Duration, err string) Observation {
	o := obs(v, age)
	o.Err = err
	return o
}

// measure is a measure scoring its value as is (bad 0, good 100), stale
// after 15 minutes, changed by opts.
// refreshed marks a measure's observation as kept fresh by a collector.
func refreshed(m *Measure) { m.Refreshed = true }

func measure(name string, weight int32, o Observation, opts ...func(*Measure)) Measure {
	m := Measure{Name: name, Source: "telemetry", Weight: weight, Bad: 0, Good: 100, StaleAfter: 15 * time.Minute, Obs: o}
	for _, opt := range opts {
		opt(&m)
	}
	return m
}

func policyOf(p csv1alpha1.MissingPolicy) func(*Measure) {
	return func(m *Measure) { m.Missing = p }
}

func thresholds(bad, good float64) func(*Measure) {
	return func(m *Measure) { m.Bad, m.Good = bad, good }
}

func normalizer(f func(float64) (float64, error)) func(*Measure) {
	return func(m *Measure) { m.Normalize = f }
}

func previous(value string, age time.Duration) func(*Measure) {
	return func(m *Measure) {
		at := metav1.NewTime(t0.Add(-age))
		m.Previous = &csv1alpha1.MeasureStatus{Name: m.Name, Value: csv1alpha1.Decimal(value), ObservedAt: &at}
	}
}

func override(value string, expires time.Time) func(*Measure) {
	return func(m *Measure) {
		m.Override = &csv1alpha1.Override{Measure: m.Name, Value: csv1alpha1.Decimal(value), Reason: "test", Expires: metav1.NewTime(expires)}
	}
}

func staleAfter(d time.Duration) func(*Measure) {
	return func(m *Measure) { m.StaleAfter = d }
}

// named returns the status of the measure called name.
func named(t *testing.T, r Result, name string) csv1alpha1.MeasureStatus {
	t.Helper()
	for _, m := range r.Status.Measures {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no measure %q in %+v", name, r.Status.Measures)
	return csv1alpha1.MeasureStatus{}
}

// designNPS is the NPS of the design's survey counts (0, 0, 0, 0, 0, 1, 1,
// 2, 1, 3, 4 answers scoring 0 to 10: 7 promoters and 2 detractors of 12),
// as kpi.NPS computes it.
const designNPS = 500.0 / 12

// prevYellow is a previous status: 55, Yellow, going Down.
var prevYellow = &csv1alpha1.HealthStatus{
	Score: 55, Band: csv1alpha1.BandYellow, Trend: csv1alpha1.TrendDown, PlanGeneration: 1,
	Samples: []csv1alpha1.ScoreSample{{At: metav1.NewTime(t0.Add(-time.Hour)), Score: 55}},
}

// evaluateCases are the cases of TestEvaluate, all evaluated at t0 with model.
var evaluateCases = []struct {
	name        string
	measures    []Measure
	prev        *csv1alpha1.HealthStatus
	wantScored  bool
	wantScore   int32
	wantBand    csv1alpha1.Band
	wantFailing []string
	check       func(t *testing.T, r Result)
}{
	{
		name:       "Redistribute spreads a missing measure's weight over the measures that have values",
		measures:   []Measure{measure("a", 3, obs(80, time.Minute)), measure("b", 1, Observation{})},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: no value"},
		check: func(t *testing.T, r Result) {
			a, b := named(t, r, "a"), named(t, r, "b")
			if a.Contribution != 80 || b.Contribution != 0 || b.Score != 0 || b.Value != "" || b.ObservedAt != nil {
				t.Errorf("a=%+v b=%+v", a, b)
			}
		},
	},
	{
		name:       "Redistribute leaves out a measure whose latest pull failed, even with a fresh earlier value",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, time.Minute, "support: HTTP 503"))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: support: HTTP 503"},
		check: func(t *testing.T, r Result) {
			b := named(t, r, "b")
			if b.Error != "support: HTTP 503" || b.Value != "" || b.Stale || b.ObservedAt == nil {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "Redistribute leaves out a stale value and flags it",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, 20*time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: stale since 2026-11-24T09:55:00Z"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); !b.Stale || b.Value != "" || b.Score != 0 || !b.ObservedAt.Time.Equal(t0.Add(-20*time.Minute)) {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "Redistribute ignores the previous status value",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, Observation{}, previous("20", time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: no value"},
	},
	{
		name:       "Zero counts a missing measure with score 0",
		measures:   []Measure{measure("a", 3, obs(80, time.Minute)), measure("b", 1, Observation{}, policyOf(csv1alpha1.MissingZero))},
		wantScored: true, wantScore: 60, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: no value"},
		check: func(t *testing.T, r Result) {
			if a, b := named(t, r, "a"), named(t, r, "b"); a.Contribution != 60 || b.Contribution != 0 || b.Score != 0 {
				t.Errorf("a=%+v b=%+v", a, b)
			}
		},
	},
	{
		name:       "Zero counts a failed pull with score 0",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, time.Minute, "timeout"), policyOf(csv1alpha1.MissingZero))},
		wantScored: true, wantScore: 40, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: timeout"},
	},
	{
		name:       "Zero counts a stale value with score 0",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, 20*time.Minute), policyOf(csv1alpha1.MissingZero))},
		wantScored: true, wantScore: 40, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: stale since 2026-11-24T09:55:00Z"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); !b.Stale {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "HoldLast holds the last value while the pull fails, within staleAfter",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, 10*time.Minute, "HTTP 503"), policyOf(csv1alpha1.MissingHoldLast))},
		wantScored: true, wantScore: 50, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: HTTP 503"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Value != "20" || b.Score != 20 || b.Contribution != 10 || b.Error != "HTTP 503" || b.Stale {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "HoldLast redistributes once the held value is older than staleAfter",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, 16*time.Minute, "HTTP 503"), policyOf(csv1alpha1.MissingHoldLast))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: HTTP 503"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Value != "" || !b.Stale || b.Contribution != 0 {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "HoldLast holds the previous status value after a restart",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, Observation{}, policyOf(csv1alpha1.MissingHoldLast), previous("20", 5*time.Minute))},
		wantScored: true, wantScore: 50, wantBand: csv1alpha1.BandYellow,
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Value != "20" || b.ObservedAt == nil || !b.ObservedAt.Time.Equal(t0.Add(-5*time.Minute)) {
				t.Errorf("b=%+v", b)
			}
			if r.NextChange != t0.Add(10*time.Minute+time.Nanosecond) {
				t.Errorf("NextChange = %v, want when the held value turns stale", r.NextChange)
			}
		},
	},
	{
		name: "a refreshed value sets no wake-up for its staleness until a pull fails",
		measures: []Measure{
			measure("a", 1, obs(80, 5*time.Minute), refreshed),
			measure("b", 1, failed(40, 2*time.Minute, "HTTP 503"), refreshed, policyOf(csv1alpha1.MissingHoldLast)),
		},
		wantScored: true, wantScore: 60, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: HTTP 503"},
		check: func(t *testing.T, r Result) {
			if want := t0.Add(13*time.Minute + time.Nanosecond); !r.NextChange.Equal(want) {
				t.Errorf("NextChange = %v, want %v (the failing b turning stale, not a)", r.NextChange, want)
			}
		},
	},
	{
		name:       "HoldLast after a restart drops a previous value older than staleAfter",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, Observation{}, policyOf(csv1alpha1.MissingHoldLast), previous("20", 16*time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: stale since 2026-11-24T09:59:00Z"},
	},
	{
		name:       "HoldLast uses the observation when it is newer than the previous status",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, time.Minute), policyOf(csv1alpha1.MissingHoldLast), previous("60", 5*time.Minute))},
		wantScored: true, wantScore: 50, wantBand: csv1alpha1.BandYellow,
	},
	{
		name:       "HoldLast uses the previous status when it is newer than the last successful observation",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, 10*time.Minute, "HTTP 503"), policyOf(csv1alpha1.MissingHoldLast), previous("60", 2*time.Minute))},
		wantScored: true, wantScore: 70, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: HTTP 503"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Value != "60" {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "HoldLast does not hold a previous value that an override supplied",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, Observation{}, policyOf(csv1alpha1.MissingHoldLast), previous("20", time.Minute), func(m *Measure) { m.Previous.Overridden = true })},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: no value"},
	},
	{
		name:       "lower is better when bad is greater than good",
		measures:   []Measure{measure("openTickets", 1, obs(2, time.Minute), thresholds(10, 0))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
	},
	{
		name:       "lower-is-better values beyond good clamp to 100 and beyond bad to 0",
		measures:   []Measure{measure("a", 1, obs(-3, time.Minute), thresholds(10, 0)), measure("b", 1, obs(15, time.Minute), thresholds(10, 0))},
		wantScored: true, wantScore: 50, wantBand: csv1alpha1.BandYellow,
		check: func(t *testing.T, r Result) {
			if a, b := named(t, r, "a"), named(t, r, "b"); a.Score != 100 || b.Score != 0 {
				t.Errorf("a=%+v b=%+v", a, b)
			}
		},
	},
	{
		name:       "a value below bad is clamped to score 0",
		measures:   []Measure{measure("a", 1, obs(-50, time.Minute))},
		wantScored: true, wantScore: 0, wantBand: csv1alpha1.BandRed,
		check: func(t *testing.T, r Result) {
			if a := named(t, r, "a"); a.Score != 0 || a.Value != "-50" {
				t.Errorf("a=%+v", a)
			}
		},
	},
	{
		name:       "a value above good is clamped to score 100",
		measures:   []Measure{measure("a", 1, obs(250, time.Minute))},
		wantScored: true, wantScore: 100, wantBand: csv1alpha1.BandGreen,
	},
	{
		name:       "a weight 0 measure is shown with its score but does not count",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 0, obs(20, time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Score != 20 || b.Contribution != 0 || b.Value != "20" || b.Weight != 0 {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "a weight 0 measure under Zero does not count when missing",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 0, Observation{}, policyOf(csv1alpha1.MissingZero))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: no value"},
	},
	{
		name:       "only weight 0 measures having values leaves the health unscored",
		measures:   []Measure{measure("a", 1, Observation{}), measure("b", 0, obs(20, time.Minute))},
		prev:       prevYellow,
		wantScored: false, wantScore: 55, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"a: no value"},
	},
	{
		name:       "all measures missing keeps the previous score, band, trend and samples with fresh measures",
		measures:   []Measure{measure("a", 1, Observation{Err: "connection refused"}), measure("b", 2, obs(20, time.Hour))},
		prev:       prevYellow,
		wantScored: false, wantScore: 55, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"a: connection refused", "b: stale since 2026-11-24T09:15:00Z"},
		check: func(t *testing.T, r Result) {
			if r.Status.Trend != csv1alpha1.TrendDown || !reflect.DeepEqual(r.Status.Samples, prevYellow.Samples) {
				t.Errorf("trend %q samples %+v", r.Status.Trend, r.Status.Samples)
			}
			if r.Status.PlanGeneration != 2 || len(r.Status.Measures) != 2 || r.Status.Measures[0].Error != "connection refused" {
				t.Errorf("status %+v", r.Status)
			}
			if !r.NextChange.IsZero() {
				t.Errorf("NextChange = %v, want zero", r.NextChange)
			}
		},
	},
	{
		name:       "all measures missing without a previous status leaves zero values",
		measures:   []Measure{measure("a", 1, Observation{})},
		wantScored: false, wantScore: 0, wantBand: "",
		wantFailing: []string{"a: no value"},
		check: func(t *testing.T, r Result) {
			if r.Status.Trend != "" || r.Status.Samples != nil {
				t.Errorf("status %+v", r.Status)
			}
		},
	},
	{
		name:       "no measures at all leaves the health unscored",
		wantScored: false,
	},
	{
		name:       "a NaN value makes the measure missing",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(math.NaN(), time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: value is not a finite number"},
		check: func(t *testing.T, r Result) {
			if b := named(t, r, "b"); b.Value != "" || b.Score != 0 || b.ObservedAt == nil {
				t.Errorf("b=%+v", b)
			}
		},
	},
	{
		name:       "an infinite value makes the measure missing",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(math.Inf(1), time.Minute))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: value is not a finite number"},
	},
	{
		name:       "a negative infinite value under Zero counts 0",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(math.Inf(-1), time.Minute), policyOf(csv1alpha1.MissingZero))},
		wantScored: true, wantScore: 40, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"b: value is not a finite number"},
	},
	{
		name: "a normalize error makes the measure missing",
		measures: []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, time.Minute),
			normalizer(func(float64) (float64, error) { return 0, errors.New("no such key seats") }))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: normalize: no such key seats"},
	},
	{
		name: "a normalize result that is not finite makes the measure missing",
		measures: []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, time.Minute),
			normalizer(func(v float64) (float64, error) { return v / 0, nil }))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: normalize: result is not a finite number"},
	},
	{
		name: "a panicking normalize makes the measure missing instead of panicking",
		measures: []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, obs(20, time.Minute),
			normalizer(func(float64) (float64, error) { panic("boom") }))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: normalize: panic: boom"},
	},
	{
		name: "a failed pull and a normalize error are both reported",
		measures: []Measure{measure("a", 1, obs(80, time.Minute)), measure("b", 1, failed(20, time.Minute, "HTTP 503"), policyOf(csv1alpha1.MissingHoldLast),
			normalizer(func(float64) (float64, error) { return 0, errors.New("bad") }))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{"b: HTTP 503; normalize: bad"},
	},
	{
		name: "normalize maps the raw value before the thresholds and the raw value is shown",
		measures: []Measure{measure("activeSeats", 1, obs(31, time.Minute), thresholds(0.2, 0.7),
			normalizer(func(v float64) (float64, error) { return v / 50, nil }))},
		wantScored: true, wantScore: 84, wantBand: csv1alpha1.BandGreen,
		check: func(t *testing.T, r Result) {
			if m := named(t, r, "activeSeats"); m.Value != "31" || m.Score != 84 || m.Contribution != 84 {
				t.Errorf("activeSeats=%+v", m)
			}
		},
	},
	{
		name: "the design's account scores 58 and explains every measure",
		measures: []Measure{
			measure("activeSeats", 40, obs(31, time.Minute), thresholds(0.2, 0.7), normalizer(func(v float64) (float64, error) { return v / 50, nil })),
			measure("openTickets", 20, failed(3, 20*time.Minute, "support: HTTP 503"), thresholds(10, 0), policyOf(csv1alpha1.MissingZero)),
			measure("nps", 25, obs(designNPS, time.Minute), thresholds(0, 50)),
			measure("sentiment", 15, obs(4, time.Minute), thresholds(1, 5), override("2", time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))),
		},
		wantScored: true, wantScore: 58, wantBand: csv1alpha1.BandYellow,
		wantFailing: []string{"openTickets: support: HTTP 503"},
		check: func(t *testing.T, r Result) {
			want := []struct {
				value        csv1alpha1.Decimal
				score        int32
				contribution float64
			}{{"31", 84, 33.6}, {"", 0, 0}, {"41.666667", 83, 20.8}, {"2", 25, 3.8}}
			for i, w := range want {
				m := r.Status.Measures[i]
				if m.Value != w.value || m.Score != w.score || m.Contribution != w.contribution {
					t.Errorf("measure %d = %+v, want %+v", i, m, w)
				}
			}
			if s := r.Status.Measures[3]; !s.Overridden || s.Stale || s.ObservedAt != nil {
				t.Errorf("sentiment = %+v", s)
			}
			if o := r.Status.Measures[1]; !o.Stale || o.Error != "support: HTTP 503" {
				t.Errorf("openTickets = %+v", o)
			}
			if r.Status.PlanGeneration != 2 || r.Status.Trend != csv1alpha1.TrendFlat {
				t.Errorf("status = %+v", r.Status)
			}
			if want := t0.Add(14*time.Minute + time.Nanosecond); !r.NextChange.Equal(want) {
				t.Errorf("NextChange = %v, want %v (activeSeats turning stale)", r.NextChange, want)
			}
		},
	},
	{
		name:       "an unparsable override is ignored and reported",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute), override("high", t0.Add(time.Hour)))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		wantFailing: []string{`a: override: value "high" is not a decimal number`},
		check: func(t *testing.T, r Result) {
			if a := named(t, r, "a"); a.Overridden || a.Value != "80" {
				t.Errorf("a=%+v", a)
			}
		},
	},
	{
		name:       "an expired unparsable override is ignored silently",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute), override("high", t0.Add(-time.Hour)))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
	},
	{
		name:       "an override supplies a value the source never returned",
		measures:   []Measure{measure("a", 1, Observation{}, override("45", t0.Add(time.Hour)))},
		wantScored: true, wantScore: 45, wantBand: csv1alpha1.BandYellow,
		check: func(t *testing.T, r Result) {
			if !r.NextChange.Equal(t0.Add(time.Hour)) {
				t.Errorf("NextChange = %v, want the expiry", r.NextChange)
			}
		},
	},
	{
		name:       "an active override hides a stale source value",
		measures:   []Measure{measure("a", 1, obs(20, time.Hour), override("60", t0.Add(time.Hour)))},
		wantScored: true, wantScore: 60, wantBand: csv1alpha1.BandYellow,
		check: func(t *testing.T, r Result) {
			if a := named(t, r, "a"); a.Stale || !a.Overridden || a.Value != "60" || a.ObservedAt != nil {
				t.Errorf("a=%+v", a)
			}
		},
	},
	{
		name:       "an override is normalised like a measured value",
		measures:   []Measure{measure("a", 1, obs(20, time.Minute), override("30", t0.Add(time.Hour)), normalizer(func(v float64) (float64, error) { return v * 2, nil }))},
		wantScored: true, wantScore: 60, wantBand: csv1alpha1.BandYellow,
	},
	{
		name:       "observation times in the status are truncated to the second",
		measures:   []Measure{measure("a", 1, obs(80, time.Minute-300*time.Millisecond))},
		wantScored: true, wantScore: 80, wantBand: csv1alpha1.BandGreen,
		check: func(t *testing.T, r Result) {
			if a := named(t, r, "a"); !a.ObservedAt.Time.Equal(t0.Add(-time.Minute)) {
				t.Errorf("observedAt = %v", a.ObservedAt)
			}
			if s := r.Status.Samples; len(s) != 1 || !s[0].At.Time.Equal(t0) {
				t.Errorf("samples = %+v", s)
			}
		},
	},
	{
		name:       "a half point rounds up",
		measures:   []Measure{measure("a", 1, obs(70, time.Minute)), measure("b", 1, obs(69, time.Minute))},
		wantScored: true, wantScore: 70, wantBand: csv1alpha1.BandGreen,
		check: func(t *testing.T, r Result) {
			if a, b := named(t, r, "a"), named(t, r, "b"); a.Contribution != 35 || b.Contribution != 34.5 {
				t.Errorf("a=%+v b=%+v", a, b)
			}
		},
	},
}

func TestEvaluate(t *testing.T) {
	for _, tc := range evaluateCases {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(t0, tc.measures, model, tc.prev)
			if r.Scored != tc.wantScored || r.Status.Score != tc.wantScore || r.Status.Band != tc.wantBand {
				t.Errorf("scored %v score %d band %q, want %v %d %q", r.Scored, r.Status.Score, r.Status.Band, tc.wantScored, tc.wantScore, tc.wantBand)
			}
			if len(r.Failing) != 0 || len(tc.wantFailing) != 0 {
				if !reflect.DeepEqual(r.Failing, tc.wantFailing) {
					t.Errorf("failing %q, want %q", r.Failing, tc.wantFailing)
				}
			}
			if len(r.Status.Measures) != len(tc.measures) {
				t.Fatalf("%d measures in status, want %d", len(r.Status.Measures), len(tc.measures))
			}
			for i, m := range tc.measures {
				if got := r.Status.Measures[i]; got.Name != m.Name || got.Source != m.Source || got.Weight != m.Weight {
					t.Errorf("measure %d = %+v, want %s in input order", i, got, m.Name)
				}
			}
			if r.Status.PlanGeneration != model.PlanGeneration {
				t.Errorf("planGeneration %d", r.Status.PlanGeneration)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestWeightsNeedNotSumTo100(t *testing.T) {
	values := []float64{90, 35}
	cases := []struct {
		name      string
		a, b      []int32
		wantScore int32
	}{
		{"weights 3 and 1 give the same score as 30 and 10", []int32{3, 1}, []int32{30, 10}, 76},
		{"weights 1 and 1 give the same score as 1000 and 1000", []int32{1, 1}, []int32{1000, 1000}, 63},
		{"weights summing to 7 give the same score as weights summing to 700", []int32{4, 3}, []int32{400, 300}, 66},
	}
	eval := func(weights []int32) Result {
		var ms []Measure
		for i, w := range weights {
			ms = append(ms, measure(string(rune('a'+i)), w, obs(values[i], time.Minute)))
		}
		return Evaluate(t0, ms, model, nil)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ra, rb := eval(tc.a), eval(tc.b)
			if ra.Status.Score != tc.wantScore || rb.Status.Score != tc.wantScore {
				t.Errorf("scores %d and %d, want %d", ra.Status.Score, rb.Status.Score, tc.wantScore)
			}
			for i := range ra.Status.Measures {
				if ra.Status.Measures[i].Contribution != rb.Status.Measures[i].Contribution {
					t.Errorf("contributions differ: %+v vs %+v", ra.Status.Measures[i], rb.Status.Measures[i])
				}
			}
		})
	}
}

func TestOverrideExpiry(t *testing.T) {
	expires := t0.Add(2 * time.Hour)
	measures := []Measure{measure("sentiment", 1, obs(80, time.Minute), staleAfter(24*time.Hour), override("30", expires))}
	staleMoment := t0.Add(-time.Minute + 24*time.Hour + time.Nanosecond)
	cases := []struct {
		name           string
		now            time.Time
		wantScore      int32
		wantOverridden bool
		wantNext       time.Time
	}{
		{"before its expiry the override applies and its expiry is the next change", t0, 30, true, expires},
		{"one second before its expiry the override still applies", expires.Add(-time.Second), 30, true, expires},
		{"at its expiry the override no longer applies", expires, 80, false, staleMoment},
		{"after its expiry the measured value is back", expires.Add(time.Hour), 80, false, staleMoment},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.now, measures, model, nil)
			m := r.Status.Measures[0]
			if r.Status.Score != tc.wantScore || m.Overridden != tc.wantOverridden {
				t.Errorf("score %d overridden %v, want %d %v", r.Status.Score, m.Overridden, tc.wantScore, tc.wantOverridden)
			}
			if !r.NextChange.Equal(tc.wantNext) {
				t.Errorf("NextChange = %v, want %v", r.NextChange, tc.wantNext)
			}
		})
	}
}

func TestStaleness(t *testing.T) {
	measures := []Measure{measure("a", 1, obs(80, 10*time.Minute))}
	turnsStale := t0.Add(5*time.Minute + time.Nanosecond)
	cases := []struct {
		name        string
		now         time.Time
		wantStale   bool
		wantScored  bool
		wantNext    time.Time
		wantFailing []string
	}{
		{"a value younger than staleAfter is fresh and the moment it turns stale is the next change", t0, false, true, turnsStale, nil},
		{"a value exactly staleAfter old is still fresh", t0.Add(5 * time.Minute), false, true, turnsStale, nil},
		{"a value older than staleAfter is flagged stale", t0.Add(5*time.Minute + time.Second), true, false, time.Time{}, []string{"a: stale since 2026-11-24T10:05:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.now, measures, model, nil)
			if m := r.Status.Measures[0]; m.Stale != tc.wantStale || r.Scored != tc.wantScored {
				t.Errorf("stale %v scored %v, want %v %v", m.Stale, r.Scored, tc.wantStale, tc.wantScored)
			}
			if !r.NextChange.Equal(tc.wantNext) {
				t.Errorf("NextChange = %v, want %v", r.NextChange, tc.wantNext)
			}
			if !reflect.DeepEqual(r.Failing, tc.wantFailing) {
				t.Errorf("failing %q, want %q", r.Failing, tc.wantFailing)
			}
		})
	}
}

func TestLinear(t *testing.T) {
	cases := []struct {
		name         string
		v, bad, good float64
		want         float64
	}{
		{"a value halfway between bad and good scores 50", 0.45, 0.2, 0.7, 50},
		{"a value at bad scores 0", 0.2, 0.2, 0.7, 0},
		{"a value at good scores 100", 0.7, 0.2, 0.7, 100},
		{"a value below bad is clamped to 0", -1, 0.2, 0.7, 0},
		{"a value above good is clamped to 100", 3, 0.2, 0.7, 100},
		{"lower is better when bad is greater than good", 2, 10, 0, 80},
		{"lower-is-better values above bad are clamped to 0", 12, 10, 0, 0},
		{"lower-is-better values below good are clamped to 100", -1, 10, 0, 100},
		{"NaN scores 0", math.NaN(), 0, 1, 0},
		{"positive infinity above good scores 100", math.Inf(1), 0, 1, 100},
		{"negative infinity below bad scores 0", math.Inf(-1), 0, 1, 0},
		{"thresholds at the ends of the float range do not overflow", 0, -math.MaxFloat64, math.MaxFloat64, 50},
		{"equal thresholds score 100 at or above them", 5, 5, 5, 100},
		{"equal thresholds score 0 below them", 4, 5, 5, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Linear(tc.v, tc.bad, tc.good); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Linear(%v, %v, %v) = %v, want %v", tc.v, tc.bad, tc.good, got, tc.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		name   string
		v      float64
		want   csv1alpha1.Decimal
		wantOK bool
	}{
		{"an integer has no decimals", 31, "31", true},
		{"a negative fraction keeps its sign", -2.5, "-2.5", true},
		{"more than six decimals are rounded to six", 500.0 / 13, "38.461538", true},
		{"a tiny value rounds to zero", 1e-7, "0", true},
		{"a tiny negative value rounds to zero without a sign", -1e-7, "0", true},
		{"a fifteen-digit integer fits", 999999999999999, "999999999999999", true},
		{"a value of sixteen digits does not fit the API pattern", 1e15, "", false},
		{"a huge value does not fit the API pattern", 1e300, "", false},
		{"NaN has no decimal form", math.NaN(), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := formatValue(tc.v)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("formatValue(%v) = %q %v, want %q %v", tc.v, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
