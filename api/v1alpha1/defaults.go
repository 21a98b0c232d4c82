package v1alpha1

import "time"

// Defaults of optional fields. The API server applies the same values
// from the +kubebuilder:default markers; the getters below apply them to
// objects that did not pass through it (tests, previews, old objects), and
// a test checks that the two agree.
const (
	// DefaultInterval is spec.interval's default.
	DefaultInterval = 5 * time.Minute
	// DefaultKPIPeriod is spec.kpiPeriod's default.
	DefaultKPIPeriod = 720 * time.Hour
	// DefaultAccountLabel is spec.sources[].prometheus.accountLabel's
	// default.
	DefaultAccountLabel = "account"
	// DefaultHysteresis is spec.health.hysteresis's default.
	DefaultHysteresis int32 = 2
	// DefaultTrendWindow is spec.health.trendWindow's default.
	DefaultTrendWindow = 168 * time.Hour
	// DefaultGreen is spec.health.bands.green's default.
	DefaultGreen int32 = 70
	// DefaultYellow is spec.health.bands.yellow's default.
	DefaultYellow int32 = 40
	// StaleIntervals is how many plan intervals a measure's value stays
	// current when its staleAfter is unset.
	StaleIntervals = 3
)

// GetInterval returns how often the plan's sources are pulled.
func (s *SuccessPlanSpec) GetInterval() time.Duration {
	if s.Interval.Duration > 0 {
		return s.Interval.Duration
	}
	return DefaultInterval
}

// GetKPIPeriod returns the window of the plan's portfolio KPIs.
func (s *SuccessPlanSpec) GetKPIPeriod() time.Duration {
	if s.KPIPeriod.Duration > 0 {
		return s.KPIPeriod.Duration
	}
	return DefaultKPIPeriod
}

// GetStaleAfter returns the age after which the measure's value is stale:
// its staleAfter, else StaleIntervals plan intervals.
func (m *Measure) GetStaleAfter(interval time.Duration) time.Duration {
	if m.StaleAfter != nil && m.StaleAfter.Duration > 0 {
		return m.StaleAfter.Duration
	}
	return StaleIntervals * interval
}

// GetAccountLabel returns the result label that identifies the account.
func (p *PrometheusSource) GetAccountLabel() string {
	if p.AccountLabel != "" {
		return p.AccountLabel
	}
	return DefaultAccountLabel
}

// GetHysteresis returns how many points a score must cross a threshold by.
func (h *HealthModel) GetHysteresis() int32 {
	if h.Hysteresis != nil {
		return *h.Hysteresis
	}
	return DefaultHysteresis
}

// GetTrendWindow returns how far back the trend compares the score.
func (h *HealthModel) GetTrendWindow() time.Duration {
	if h.TrendWindow.Duration > 0 {
		return h.TrendWindow.Duration
	}
	return DefaultTrendWindow
}

// GetBands returns the lowest Green and Yellow scores.
func (h *HealthModel) GetBands() (green, yellow int32) {
	if h.Bands.Green == 0 && h.Bands.Yellow == 0 {
		return DefaultGreen, DefaultYellow
	}
	return h.Bands.Green, h.Bands.Yellow
}
