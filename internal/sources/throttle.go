package sources

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Bounds of the answers that ask a source's client to wait.
const (
	// maxAttempts is how often one request is tried when the server
	// answers 429 Too Many Requests (or 503 with Retry-After).
	maxAttempts = 3
	// maxRetryAfter caps a Retry-After: a server cannot stall a
	// collection for longer.
	maxRetryAfter = time.Minute
	// firstBackoff is the wait after a 429 without Retry-After; it doubles
	// with each attempt.
	firstBackoff = time.Second
)

// Throttle paces the requests of one source: at most Concurrency in
// flight, a rate of requests, and a pause every request waits out once
// the server answered 429 or Retry-After. The zero value bounds nothing
// but the concurrency (the package's Concurrency).
type Throttle struct {
	// Concurrency bounds the requests in flight; 0 means Concurrency.
	Concurrency int
	rate        *rate.Limiter
	mu          sync.Mutex
	until       time.Time
}

// NewThrottle returns the throttle of a source's rateLimit (nil: none).
func NewThrottle(rl *csv1alpha1.RateLimit) *Throttle {
	t := &Throttle{}
	if rl == nil {
		return t
	}
	t.Concurrency = int(rl.Concurrency)
	if rl.RequestsPerMinute > 0 {
		t.rate = rate.NewLimiter(rate.Limit(float64(rl.RequestsPerMinute)/60), max(int(rl.Burst), 1))
	}
	return t
}

// limit is how many requests may be in flight.
func (t *Throttle) limit() int {
	if t == nil || t.Concurrency <= 0 {
		return Concurrency
	}
	return t.Concurrency
}

// wait returns when a request may go: after any pause, at the rate.
func (t *Throttle) wait(ctx context.Context) error {
	if t == nil {
		return ctx.Err()
	}
	t.mu.Lock()
	until := t.until
	t.mu.Unlock()
	if d := time.Until(until); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
	if t.rate != nil {
		return t.rate.Wait(ctx)
	}
	return ctx.Err()
}

// backOff reads whether resp asks the client to wait before trying again
// (429, or 503 with Retry-After), and if so pauses every request of the
// source for that long: Retry-After (seconds or a date, at most
// maxRetryAfter), else firstBackoff doubled per attempt made.
func (t *Throttle) backOff(resp *http.Response, attempt int) bool {
	ra := resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusTooManyRequests && (resp.StatusCode != http.StatusServiceUnavailable || ra == "") {
		return false
	}
	d := firstBackoff << (attempt - 1)
	if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if at, err := http.ParseTime(ra); err == nil {
		d = time.Until(at)
	}
	d = min(max(d, 0), maxRetryAfter)
	if t != nil {
		t.mu.Lock()
		if u := time.Now().Add(d); u.After(t.until) {
			t.until = u
		}
		t.mu.Unlock()
	}
	return true
}
