package health

import (
	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Rank orders bands from Red (0) to Green (2); -1 for anything else.
func Rank(b csv1alpha1.Band) int {
	switch b {
	case csv1alpha1.BandRed:
		return 0
	case csv1alpha1.BandYellow:
		return 1
	case csv1alpha1.BandGreen:
		return 2
	default:
		return -1
	}
}

// rawBand is the band of score without hysteresis.
func rawBand(score int64, m Model) csv1alpha1.Band {
	switch {
	case score >= int64(m.Green):
		return csv1alpha1.BandGreen
	case score >= int64(m.Yellow):
		return csv1alpha1.BandYellow
	default:
		return csv1alpha1.BandRed
	}
}

// BandOf is the band of score given the previous band prev, with
// hysteresis: without a previous band it is Green at or above m.Green,
// Yellow at or above m.Yellow, else Red. With one, the band moves up only
// when score >= threshold + m.Hysteresis and down only when
// score < threshold - m.Hysteresis, the threshold being the boundary
// crossed; it can move two bands at once when both boundaries are crossed
// that far.
func BandOf(score int32, prev csv1alpha1.Band, m Model) csv1alpha1.Band {
	s := int64(score)
	raw := rawBand(s, m)
	p := Rank(prev)
	if p < 0 {
		return raw
	}
	h := max(int64(m.Hysteresis), 0)
	green, yellow := int64(m.Green), int64(m.Yellow)
	b := prev
	switch r := Rank(raw); {
	case r > p:
		if b == csv1alpha1.BandRed && s >= yellow+h {
			b = csv1alpha1.BandYellow
		}
		if b == csv1alpha1.BandYellow && s >= green+h {
			b = csv1alpha1.BandGreen
		}
	case r < p:
		if b == csv1alpha1.BandGreen && s < green-h {
			b = csv1alpha1.BandYellow
		}
		if b == csv1alpha1.BandYellow && s < yellow-h {
			b = csv1alpha1.BandRed
		}
	}
	return b
}
