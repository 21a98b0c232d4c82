package sources

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"customersuccess.dev/success-operator/internal/health"
)

// Store keeps the latest observation of every remote measure of every
// account, in memory, per plan. It is safe for concurrent use.
type Store struct {
	mu   sync.RWMutex
	data map[types.NamespacedName]map[string]map[string]health.Observation // plan -> account -> measure
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{data: map[types.NamespacedName]map[string]map[string]health.Observation{}}
}

// Put records a sample taken at now and reports whether it changed what an
// evaluation sees (value, presence or error; not the time alone). A failed
// sample keeps the last good value, so HoldLast can hold it.
func (s *Store) Put(plan types.NamespacedName, account, measure string, sample Sample, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	accounts := s.data[plan]
	if accounts == nil {
		accounts = map[string]map[string]health.Observation{}
		s.data[plan] = accounts
	}
	measures := accounts[account]
	if measures == nil {
		measures = map[string]health.Observation{}
		accounts[account] = measures
	}
	old, had := measures[measure]
	obs := old
	if sample.Err != "" {
		obs.Err = sample.Err
	} else {
		obs = health.Observation{Value: sample.Value, Has: true, At: now}
	}
	measures[measure] = obs
	return !had || obs.Err != old.Err || obs.Has != old.Has || obs.Value != old.Value
}

// Get returns an account's observation of a measure.
func (s *Store) Get(plan types.NamespacedName, account, measure string) (health.Observation, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.data[plan][account][measure]
	return o, ok
}

// Retain drops the accounts of a plan that are not in keep, and measures
// that are not in measures.
func (s *Store) Retain(plan types.NamespacedName, keep map[string]bool, measures map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for account, ms := range s.data[plan] {
		if !keep[account] {
			delete(s.data[plan], account)
			continue
		}
		for m := range ms {
			if !measures[m] {
				delete(ms, m)
			}
		}
	}
}

// Forget drops everything of a plan.
func (s *Store) Forget(plan types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, plan)
}
