package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"customersuccess.dev/success-operator/internal/actions"
)

// Delivery is one webhook the sink received.
type Delivery struct {
	Payload   actions.Payload
	Signed    bool // the Standard Webhooks signature verified with the sink's secret
	Duplicate bool // the idempotency key was seen before
}

// String is the sink's line for a delivery: the action, account and stage,
// whether it verified and was a duplicate, the key's start, and the
// contacts it was for, by role and name (the demo's own, made-up people).
func (d Delivery) String() string {
	key := d.Payload.Key
	if len(key) > 12 {
		key = key[:12]
	}
	line := fmt.Sprintf("webhook  %-16s %-12s %-14s signed=%v duplicate=%v key=%s",
		d.Payload.Action, d.Payload.Account, d.Payload.Stage, d.Signed, d.Duplicate, key)
	if len(d.Payload.Contacts) > 0 {
		to := make([]string, len(d.Payload.Contacts))
		for i, c := range d.Payload.Contacts {
			to[i] = c.Role + " " + c.Name
		}
		line += " to: " + strings.Join(to, ", ")
	}
	return line
}

// Print returns a report function for NewSink that writes each delivery's
// line to w.
func Print(w io.Writer) func(Delivery) {
	return func(d Delivery) { _, _ = fmt.Fprintln(w, d) }
}

// Sink is a webhook receiver that verifies Standard Webhooks signatures
// (webhook-id, webhook-timestamp, webhook-signature), deduplicates by
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
	d.Signed = actions.Verify(s.secret, r.Header, body, time.Now())
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
