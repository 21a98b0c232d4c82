package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"customersuccess.dev/success-operator/internal/actions"
)

// Delivery is one webhook the sink received.
type Delivery struct {
	Payload   actions.Payload
	Signed    bool // the signature verified with the sink's secret
	Duplicate bool // the idempotency key was seen before
}

// Sink is a webhook receiver that verifies signatures, deduplicates by
// idempotency key and reports each delivery.
type Sink struct {
	secret []byte
	report func(Delivery)

	mu   sync.Mutex
	seen map[string]bool
	all  []Delivery
}

// NewSink returns a sink verifying with secret; report, if not nil, is
// called for every delivery.
func NewSink(secret []byte, report func(Delivery)) *Sink {
	return &Sink{secret: secret, report: report, seen: map[string]bool{}}
}

// ServeHTTP implements http.Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	var d Delivery
	if err := json.Unmarshal(body, &d.Payload); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	d.Signed = actions.Verify(s.secret, body, r.Header.Get(actions.HeaderSignature))
	s.mu.Lock()
	d.Duplicate = s.seen[d.Payload.Key]
	s.seen[d.Payload.Key] = true
	s.all = append(s.all, d)
	s.mu.Unlock()
	if s.report != nil {
		s.report(d)
	}
	if !d.Signed {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// Deliveries returns what the sink received so far.
func (s *Sink) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.all...)
}
