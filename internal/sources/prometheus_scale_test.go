package sources

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
)

// fleetServer answers every query with a vector of n series, one per
// account acct-0000000, acct-0000001, ..., generated while it is written
// (about 70 bytes a series, never held in memory). Account i's value is
// i + 0.25.
func fleetServer(n int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 64<<10)
		_, _ = bw.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
		buf := make([]byte, 0, 128)
		for i := range n {
			buf = buf[:0]
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"metric":{"account":"`...)
			buf = appendFleetID(buf, i)
			buf = append(buf, `"},"value":[1767225600.123,"`...)
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, `.25"]}`...)
			if _, err := bw.Write(buf); err != nil {
				return // the client stopped reading
			}
		}
		_, _ = bw.WriteString(`]}}`)
		_ = bw.Flush()
	}))
}

// fleetID is the account label of series i of fleetServer.
func fleetID(i int) string { return string(appendFleetID(nil, i)) }

// appendFleetID appends fleetID(i) without allocating, so that the
// server's allocations do not blur the client's.
func appendFleetID(buf []byte, i int) []byte {
	buf = append(buf, "acct-"...)
	for d := 1_000_000; d > 1 && i < d; d /= 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, int64(i), 10)
}

// fleetTargets are every step-th account of a fleet of n, and one account
// without a series.
func fleetTargets(n, step int) []Target {
	var out []Target
	for i := 0; i < n; i += step {
		out = append(out, Target{Name: fmt.Sprintf("a%d", i), ExternalIDs: map[string]string{"telemetry": fleetID(i)}})
	}
	return append(out, Target{Name: "last", ExternalIDs: map[string]string{"telemetry": fleetID(n - 1)}},
		Target{Name: "gone", ExternalIDs: map[string]string{"telemetry": "acct-gone"}})
}

// TestPrometheusStreamsAMillionSeries queries a vector of 1,000,000 series
// (about 70 MB, far past the guard's body limit) for 1,000 accounts: each
// gets its value; past the series limit, every account gets the error that
// names the limit.
func TestPrometheusStreamsAMillionSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 140 MB")
	}
	const n = 1_000_000
	srv := fleetServer(n)
	defer srv.Close()
	targets := fleetTargets(n, 1000)
	measure := &csv1alpha1.Measure{Name: "activeSeats", Query: "max by (account) (active_users_7d)"}
	// A generous timeout: the machine may be busy; nothing here is timed.
	guard := outbound.Options{Timeout: 5 * time.Minute}

	t.Run("every account gets its own value", func(t *testing.T) {
		src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(guard))
		if err != nil {
			t.Fatal(err)
		}
		got := pullOne(context.Background(), src, measure, targets)
		if len(got) != len(targets) {
			t.Fatalf("%d samples for %d accounts", len(got), len(targets))
		}
		for i := 0; i < n; i += 1000 {
			if s := got[fmt.Sprintf("a%d", i)]; s != (Sample{Value: float64(i) + 0.25}) {
				t.Fatalf("account %d: %+v", i, s)
			}
		}
		if s := got["last"]; s != (Sample{Value: n - 1 + 0.25}) {
			t.Errorf("last account: %+v", s)
		}
		if s := got["gone"]; s.Err != `no series with account="acct-gone"` {
			t.Errorf("account without a series: %+v", s)
		}
	})
	t.Run("one series past the limit fails every account", func(t *testing.T) {
		limited := guard
		limited.MaxSeries = n - 1
		src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(limited))
		if err != nil {
			t.Fatal(err)
		}
		got := pullOne(context.Background(), src, measure, targets)
		want := Sample{Err: "query returned more than 999999 series, the limit (--source-max-series)"}
		for name, s := range got {
			if s != want {
				t.Fatalf("%s: %+v, want %+v", name, s, want)
			}
		}
	})
}

// BenchmarkPrometheusAnswer reads a vector answer of 100,000 and of
// 1,000,000 series for 1,000 accounts, streamed (the source) and, as the
// baseline, decoded whole by client_golang's API client into a
// model.Vector (how the source read answers before), from the same
// server in the same run. It reports the bytes allocated per series and
// the peak of the heap; it asserts nothing about time.
//
//	go test ./internal/sources -run '^$' -bench PrometheusAnswer -benchtime 3x
func BenchmarkPrometheusAnswer(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		srv := fleetServer(n)
		targets := fleetTargets(n, n/1000)
		guard := outbound.Options{Timeout: 5 * time.Minute, MaxBody: 1 << 30}
		b.Run(fmt.Sprintf("series=%d/streamed", n), func(b *testing.B) {
			src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(guard))
			if err != nil {
				b.Fatal(err)
			}
			measure := &csv1alpha1.Measure{Name: "m", Query: "up"}
			measureAllocs(b, n, func() {
				if s := pullOne(context.Background(), src, measure, targets)["last"]; s.Err != "" {
					b.Fatal(s.Err)
				}
			})
		})
		b.Run(fmt.Sprintf("series=%d/full-decode", n), func(b *testing.B) {
			c, err := promapi.NewClient(promapi.Config{Address: srv.URL, Client: outbound.NewClient(guard)})
			if err != nil {
				b.Fatal(err)
			}
			api := promv1.NewAPI(c)
			measureAllocs(b, n, func() {
				v, _, _, err := api.Query(context.Background(), "up", time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				byID := make(map[string]float64, len(targets))
				for _, s := range v.(model.Vector) {
					byID[string(s.Metric["account"])] = float64(s.Value)
				}
				if _, ok := byID[fleetID(n-1)]; !ok {
					b.Fatal("last account missing")
				}
			})
		})
		srv.Close()
	}
}

// measureAllocs runs read b.N times and reports the bytes allocated per
// series and the peak of the heap's objects (live or not yet collected)
// above the live heap it started from.
func measureAllocs(b *testing.B, series int, read func()) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := watchHeap()
	b.ResetTimer()
	for range b.N {
		read()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*series), "B/series")
	b.ReportMetric(max(float64(peak())-float64(before.HeapAlloc), 0)/(1<<20), "peak-heap-MiB")
}

// watchHeap samples the heap's live objects every millisecond until the
// returned function is called, which returns the largest sample.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
