package sources

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"customersuccess.dev/success-operator/internal/health"
)

// Store keeps the latest observation of every remote measure of every
// account, in memory, per plan. It is safe for concurrent use. A plan's
// observations are one flat map keyed by account and measure: a map per
// account would cost more than the observations it holds.
type Store struct {
	mu   sync.RWMutex
	data map[types.NamespacedName]map[accountMeasure]health.Observation
}

// accountMeasure keys one measure of one account.
type accountMeasure struct{ account, measure string }

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{data: map[types.NamespacedName]map[accountMeasure]health.Observation{}}
}

// Put records a sample taken at now and reports whether it changed what an
// evaluation sees (value, presence or error; not the time alone). A failed
// sample keeps the last good value, so HoldLast can hold it.
func (s *Store) Put(plan types.NamespacedName, account, measure string, sample Sample, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	obsByKey := s.data[plan]
	if obsByKey == nil {
		obsByKey = map[accountMeasure]health.Observation{}
		s.data[plan] = obsByKey
	}
	key := accountMeasure{account, measure}
	old, had := obsByKey[key]
	obs := old
	if sample.Err != "" {
		obs.Err = sample.Err
	} else {
		obs = health.Observation{Value: sample.Value, Has: true, At: now}
	}
	obsByKey[key] = obs
	return !had || obs.Err != old.Err || obs.Has != old.Has || obs.Value != old.Value
}

// Get returns an account's observation of a measure.
func (s *Store) Get(plan types.NamespacedName, account, measure string) (health.Observation, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.data[plan][accountMeasure{account, measure}]
	return o, ok
}

// Retain drops the accounts of a plan that are not in keep, and measures
// that are not in measures.
func (s *Store) Retain(plan types.NamespacedName, keep map[string]bool, measures map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.data[plan] {
		if !keep[key.account] || !measures[key.measure] {
			delete(s.data[plan], key)
		}
	}
}

// Forget drops everything of a plan.
func (s *Store) Forget(plan types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, plan)
}
