package sources

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
)

// TestThrottledHTTPSource: a rate-limited source keeps its concurrency
// and rate, waits out a 429's Retry-After before trying again, and gives
// up with the status after maxAttempts.
func TestThrottledHTTPSource(t *testing.T) {
	var (
		mu               sync.Mutex
		inFlight, most   int
		starts           []time.Time
		limited, refused atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		starts = append(starts, time.Now())
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		switch r.URL.Path {
		case "/limited":
			// The first request is told to come back in a second.
			if limited.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
		case "/refused":
			refused.Add(1)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		default:
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprint(w, `{"open": 4}`)
	}))
	t.Cleanup(srv.Close)
	hc := outbound.NewClient(outbound.Options{Timeout: 5 * time.Second})
	open := []*csv1alpha1.Measure{{Name: "open", JSONPath: "{.open}"}}
	reset := func() {
		mu.Lock()
		defer mu.Unlock()
		most, starts = 0, nil
	}
	seen := func() (int, []time.Time) {
		mu.Lock()
		defer mu.Unlock()
		return most, append([]time.Time(nil), starts...)
	}

	t.Run("concurrency", func(t *testing.T) {
		reset()
		var targets []Target
		for i := range 20 {
			targets = append(targets, Target{Name: fmt.Sprintf("a%d", i)})
		}
		src := &HTTP{URL: srv.URL + "/accounts/{{ .Name }}", Client: hc, Throttle: NewThrottle(&csv1alpha1.RateLimit{Concurrency: 2})}
		got := src.Pull(context.Background(), open, targets)
		for _, tg := range targets {
			if got["open"][tg.Name] != (Sample{Value: 4}) {
				t.Fatalf("%s = %+v", tg.Name, got["open"][tg.Name])
			}
		}
		if most, _ := seen(); most > 2 {
			t.Errorf("%d requests in flight, want at most 2", most)
		}
	})

	t.Run("rate", func(t *testing.T) {
		reset()
		targets := []Target{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
		// 600 a minute: one request every 100ms after the first.
		src := &HTTP{URL: srv.URL + "/accounts/{{ .Name }}", Client: hc, Throttle: NewThrottle(&csv1alpha1.RateLimit{RequestsPerMinute: 600})}
		src.Pull(context.Background(), open, targets)
		_, starts := seen()
		if len(starts) != 4 {
			t.Fatalf("%d requests, want 4", len(starts))
		}
		if span := starts[3].Sub(starts[0]); span < 290*time.Millisecond {
			t.Errorf("4 requests within %s, want them 100ms apart", span)
		}
	})

	t.Run("Retry-After", func(t *testing.T) {
		reset()
		src := &HTTP{URL: srv.URL + "/limited", Client: hc, Throttle: NewThrottle(nil)}
		got := src.Pull(context.Background(), open, []Target{{Name: "a"}})
		if got["open"]["a"] != (Sample{Value: 4}) {
			t.Errorf("a = %+v, want the value of the second attempt", got["open"]["a"])
		}
		if _, starts := seen(); len(starts) != 2 || starts[1].Sub(starts[0]) < 990*time.Millisecond {
			t.Errorf("requests at %v, want a second one a second after the first", starts)
		}
	})

	t.Run("too many requests, every time", func(t *testing.T) {
		src := &HTTP{URL: srv.URL + "/refused", Client: hc}
		got := src.Pull(context.Background(), open, []Target{{Name: "a"}})
		if got["open"]["a"] != (Sample{Err: "HTTP 429"}) {
			t.Errorf("a = %+v", got["open"]["a"])
		}
		if n := refused.Load(); n != maxAttempts {
			t.Errorf("%d attempts, want %d", n, maxAttempts)
		}
	})
}
