package health

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/fuzztest"
)

// fuzzBytes reads numbers of the health model from the fuzzer's bytes.
type fuzzBytes struct{ fuzztest.Bytes }

// float is a small integer most of the time, sometimes a special value or
// eight raw bytes (any float64, NaN included).
func (b *fuzzBytes) float() float64 {
	switch c := b.Next(); {
	case c < 200:
		return float64(c) - 50
	case c == 200:
		return math.NaN()
	case c == 201:
		return math.Inf(1)
	case c == 202:
		return math.Inf(-1)
	case c == 203:
		return math.MaxFloat64
	case c == 204:
		return -math.MaxFloat64
	case c == 205:
		return math.SmallestNonzeroFloat64
	case c < 230:
		return float64(c-205) / 8
	default:
		var raw [8]byte
		for i := range raw {
			raw[i] = b.Next()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(raw[:]))
	}
}

// integer is a small integer, sometimes an extreme one.
func (b *fuzzBytes) integer() int32 {
	switch c := b.Next(); c {
	case 255:
		return math.MaxInt32
	case 254:
		return math.MinInt32
	default:
		return int32(c) - 20
	}
}

// duration is up to about ten days either way.
func (b *fuzzBytes) duration() time.Duration {
	return time.Duration(int8(b.Next())) * 2 * time.Hour
}

var (
	fuzzPolicies = []csv1alpha1.MissingPolicy{"", csv1alpha1.MissingRedistribute, csv1alpha1.MissingZero, csv1alpha1.MissingHoldLast, "Bogus"}
	fuzzBands    = []csv1alpha1.Band{"", csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed, "Purple"}
)

// fuzzNormalize is a measure's normalize, chosen by c: none, a scaling, an
// error, a non-finite result or a panic.
func fuzzNormalize(c byte, k float64) func(float64) (float64, error) {
	switch c % 6 {
	case 1:
		return func(v float64) (float64, error) { return v * k, nil }
	case 2:
		return func(v float64) (float64, error) { return v / k, nil }
	case 3:
		return func(float64) (float64, error) { return 0, errors.New("no such key") }
	case 4:
		return func(float64) (float64, error) { return math.NaN(), nil }
	case 5:
		return func(float64) (float64, error) { panic("normalize panicked") }
	default:
		return nil
	}
}

// fuzzCase copies the inputs of evaluateCases[i] (deeply: Evaluate must not
// change them, and neither may the mutations) and mutates them as data
// says, one operation per step: a measure's weight, thresholds, value,
// failure, policy, staleness, normalisation, override or previous status,
// a new measure, the model, or the previous health status.
func fuzzCase(i int, data []byte) ([]Measure, Model, *csv1alpha1.HealthStatus) {
	tc := evaluateCases[i%len(evaluateCases)]
	measures := make([]Measure, len(tc.measures))
	for k, m := range tc.measures {
		m.Previous, m.Override = m.Previous.DeepCopy(), m.Override.DeepCopy()
		measures[k] = m
	}
	prev := tc.prev.DeepCopy()
	mod := model
	b := &fuzzBytes{Bytes: fuzztest.Bytes(data)}
	for step := 0; len(b.Bytes) > 0 && step < 64; step++ {
		op := b.Next()
		if op%13 == 10 && len(measures) < 16 {
			measures = append(measures, Measure{Name: "fuzz" + strconv.Itoa(len(measures)), Source: "s", Weight: 1, Good: 100})
		}
		if len(measures) == 0 {
			continue
		}
		m := &measures[int(b.Next())%len(measures)]
		switch op % 13 {
		case 0:
			m.Weight = b.integer()
		case 1:
			m.Bad = b.float()
		case 2:
			m.Good = b.float()
		case 3:
			m.Obs.Value = b.float()
		case 4:
			flags := b.Next()
			m.Obs.Has, m.Obs.Err = flags&1 != 0, map[bool]string{true: "support: HTTP 503"}[flags&2 != 0]
			if flags&4 != 0 {
				m.Obs.At = time.Time{} // static signals have no observation time
			} else {
				m.Obs.At = t0.Add(-b.duration())
			}
		case 5:
			m.Missing = fuzzPolicies[int(b.Next())%len(fuzzPolicies)]
		case 6:
			m.StaleAfter = b.duration()
		case 7:
			m.Normalize = fuzzNormalize(b.Next(), b.float())
		case 8:
			v := strconv.FormatFloat(b.float(), 'g', -1, 64)
			if c := b.Next(); c%4 == 0 {
				v = "not a number"
			}
			m.Override = &csv1alpha1.Override{Measure: m.Name, Value: csv1alpha1.Decimal(v), Expires: metav1.NewTime(t0.Add(b.duration()))}
		case 9:
			at := metav1.NewTime(t0.Add(-b.duration()))
			m.Previous = &csv1alpha1.MeasureStatus{Name: m.Name, Value: csv1alpha1.Decimal(strconv.FormatFloat(b.float(), 'f', -1, 64)),
				ObservedAt: &at, Overridden: b.Next()%2 == 0}
		case 11:
			mod.Green, mod.Yellow, mod.Hysteresis, mod.TrendWindow = b.integer(), b.integer(), b.integer(), b.duration()*4
		case 12:
			if prev == nil {
				prev = &csv1alpha1.HealthStatus{}
			}
			prev.Score, prev.Band = b.integer(), fuzzBands[int(b.Next())%len(fuzzBands)]
			// Samples are never newer than now: the clock moves forward.
			for range int(b.Next() % 40) {
				prev.Samples = append(prev.Samples, csv1alpha1.ScoreSample{At: metav1.NewTime(t0.Add(-b.duration().Abs())), Score: b.integer()})
			}
		}
	}
	return measures, mod, prev
}

// FuzzEvaluateMeasures starts from each case of TestEvaluate and mutates
// its measures (values, thresholds, weights, policies, normalisations that
// fail or panic, overrides, previous values), the model and the previous
// status, and checks the result: scores within 0..100, no NaN,
// contributions that add up to the score, a score and value only from an
// available value, a valid band and trend, sorted and bounded samples,
// prev left alone, and the same result twice.
func FuzzEvaluateMeasures(f *testing.F) {
	for i := range evaluateCases {
		f.Add(uint8(i), []byte(nil))
	}
	// Mutated cases, so that the corpus starts with failures too (a NaN
	// value, a panicking normalisation, extreme weights and staleness).
	f.Add(uint8(0), []byte{3, 0, 200, 7, 1, 5, 1, 2, 0, 201, 0, 0, 255, 8, 1, 5, 10, 10, 0, 9, 14, 0, 11, 0, 20, 90, 0, 10})
	f.Add(uint8(1), []byte{12, 0, 60, 1, 30, 40, 2, 41, 3, 42, 4, 43, 5, 44, 6, 45, 9, 0, 3, 199, 1, 4, 0, 1, 5})
	f.Add(uint8(2), []byte{0, 0, 254, 0, 1, 255, 6, 0, 128, 6, 1, 0, 4, 0, 2, 4, 1, 5})
	f.Fuzz(func(t *testing.T, tc uint8, data []byte) {
		measures, mod, prev := fuzzCase(int(tc), data)
		var before *csv1alpha1.HealthStatus
		if prev != nil {
			before = prev.DeepCopy()
		}
		r := Evaluate(t0, measures, mod, prev)
		if !reflect.DeepEqual(prev, before) {
			t.Fatalf("Evaluate changed prev: %+v, was %+v", prev, before)
		}
		if again := Evaluate(t0, measures, mod, prev); !reflect.DeepEqual(r, again) {
			t.Fatalf("Evaluate is not deterministic:\n%+v\n%+v", r, again)
		}
		s := r.Status
		if len(s.Measures) != len(measures) || len(r.Values) != len(measures) {
			t.Fatalf("%d measure statuses and %d values for %d measures", len(s.Measures), len(r.Values), len(measures))
		}
		var total float64
		for i, m := range s.Measures {
			if m.Name != measures[i].Name || m.Weight != measures[i].Weight {
				t.Fatalf("measure %d is %+v", i, m)
			}
			if m.Score < 0 || m.Score > 100 || math.IsNaN(m.Contribution) || m.Contribution < 0 || m.Contribution > 100 {
				t.Fatalf("measure %+v: score or contribution out of range", m)
			}
			if m.Value != "" && !decimalPattern.MatchString(string(m.Value)) {
				t.Fatalf("measure %+v: value is not a Decimal", m)
			}
			switch v := r.Values[i]; {
			case !v.Available && (v.Raw != 0 || m.Value != "" || m.Score != 0 || m.Contribution != 0):
				t.Fatalf("measure %+v scored without an available value (%+v)", m, v)
			case v.Available && !Finite(v.Raw):
				t.Fatalf("measure %+v: available value %v is not finite", m, v.Raw)
			case v.Available && m.Value != "":
				if d, _ := formatValue(v.Raw); d != m.Value {
					t.Fatalf("measure %+v shows a value other than the available %v", m, v.Raw)
				}
			}
			total += m.Contribution
		}
		names := map[string]bool{}
		for _, m := range measures {
			names[m.Name] = true
		}
		for _, msg := range r.Failing {
			if name, _, ok := strings.Cut(msg, ": "); !ok || !names[name] {
				t.Fatalf("failing %q does not name its measure", msg)
			}
		}
		if !r.NextChange.IsZero() && !r.NextChange.After(t0) {
			t.Fatalf("NextChange %v is not after now", r.NextChange)
		}
		if !r.Scored {
			want := csv1alpha1.HealthStatus{PlanGeneration: mod.PlanGeneration, Measures: s.Measures}
			if prev != nil && len(prev.Samples) > 0 {
				want.Samples = prev.Samples
			}
			if prev != nil {
				want.Score, want.Band, want.Trend = prev.Score, prev.Band, prev.Trend
			}
			if !reflect.DeepEqual(s, want) {
				t.Fatalf("an unscored status %+v does not keep the previous one %+v", s, want)
			}
			return
		}
		if s.Score < 0 || s.Score > 100 {
			t.Fatalf("score %d out of 0..100", s.Score)
		}
		// Each contribution is rounded to 0.1, the score to 1.
		if d := math.Abs(total - float64(s.Score)); d > 0.5+0.05*float64(len(measures))+1e-6 {
			t.Fatalf("contributions add up to %v, score %d", total, s.Score)
		}
		if Rank(s.Band) < 0 {
			t.Fatalf("band %q", s.Band)
		}
		if s.Trend != csv1alpha1.TrendUp && s.Trend != csv1alpha1.TrendDown && s.Trend != csv1alpha1.TrendFlat {
			t.Fatalf("trend %q", s.Trend)
		}
		if n := len(s.Samples); n == 0 || n > MaxSamples || s.Samples[n-1].Score != s.Score {
			t.Fatalf("samples %+v do not end with the score %d", s.Samples, s.Score)
		}
		for i := 1; i < len(s.Samples); i++ {
			if s.Samples[i].At.Before(&s.Samples[i-1].At) {
				t.Fatalf("samples out of order: %+v", s.Samples)
			}
		}
	})
}
