package health

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

const (
	green  = csv1alpha1.BandGreen
	yellow = csv1alpha1.BandYellow
	red    = csv1alpha1.BandRed
)

func TestBandOf(t *testing.T) {
	type step struct {
		score int32
		want  csv1alpha1.Band
	}
	noHysteresis := model
	noHysteresis.Hysteresis = 0
	cases := []struct {
		name  string
		model Model
		start csv1alpha1.Band
		steps []step
	}{
		{"a score oscillating by a point around green from Yellow stays Yellow", model, yellow,
			[]step{{69, yellow}, {70, yellow}, {71, yellow}, {70, yellow}, {69, yellow}}},
		{"72 makes a Yellow account Green, then 68 keeps it Green and 67 makes it Yellow", model, yellow,
			[]step{{72, green}, {68, green}, {67, yellow}}},
		{"the brief's whole sequence never flaps", model, yellow,
			[]step{{69, yellow}, {70, yellow}, {71, yellow}, {70, yellow}, {69, yellow}, {72, green}, {68, green}, {67, yellow}}},
		{"Red needs yellow plus hysteresis to become Yellow", model, red,
			[]step{{40, red}, {41, red}, {42, yellow}}},
		{"Yellow falls to Red only below yellow minus hysteresis", model, yellow,
			[]step{{38, yellow}, {37, red}}},
		{"a fall from Green below both thresholds by hysteresis jumps to Red", model, green,
			[]step{{37, red}}},
		{"a fall from Green to just under yellow lands in Yellow", model, green,
			[]step{{39, yellow}}},
		{"a rise from Red above both thresholds by hysteresis jumps to Green", model, red,
			[]step{{72, green}}},
		{"a rise from Red past green but not green plus hysteresis lands in Yellow", model, red,
			[]step{{71, yellow}}},
		{"hysteresis 0 follows the raw band", noHysteresis, yellow,
			[]step{{70, green}, {69, yellow}, {39, red}, {40, yellow}}},
		{"without a previous band the raw band applies", model, "",
			[]step{{70, green}}},
		{"without a previous band 69 is Yellow", model, "",
			[]step{{69, yellow}}},
		{"without a previous band 39 is Red", model, "",
			[]step{{39, red}}},
		{"an unknown previous band is ignored", model, "Purple",
			[]step{{50, yellow}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			band := tc.start
			for i, s := range tc.steps {
				band = BandOf(s.score, band, tc.model)
				if band != s.want {
					t.Fatalf("step %d: score %d gives %q, want %q", i, s.score, band, s.want)
				}
			}
		})
	}
}

// TestEvaluateHysteresis feeds each result back as the previous status.
func TestEvaluateHysteresis(t *testing.T) {
	prev := &csv1alpha1.HealthStatus{Score: 65, Band: yellow, Samples: []csv1alpha1.ScoreSample{{At: metav1.NewTime(t0.Add(-time.Hour)), Score: 65}}}
	steps := []struct {
		name  string
		score float64
		want  csv1alpha1.Band
	}{
		{"69 keeps a Yellow account Yellow", 69, yellow},
		{"70 reaches green but not by the hysteresis", 70, yellow},
		{"71 is still short of green plus hysteresis", 71, yellow},
		{"70 again stays Yellow", 70, yellow},
		{"69 again stays Yellow", 69, yellow},
		{"72 makes it Green", 72, green},
		{"68 keeps it Green", 68, green},
		{"67 makes it Yellow", 67, yellow},
	}
	now := t0
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			o := Observation{Value: s.score, Has: true, At: now}
			r := Evaluate(now, []Measure{measure("a", 1, o)}, model, prev)
			if r.Status.Band != s.want || r.Status.Score != int32(s.score) {
				t.Errorf("score %d band %q, want %v %q", r.Status.Score, r.Status.Band, s.score, s.want)
			}
			prev = &r.Status
			now = now.Add(5 * time.Minute)
		})
	}
}
