package main

import (
	"bufio"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
)

// exporter serves one gauge with one series per account, labelled by
// account, in the Prometheus text format. Values change with set, so a
// test can move one account's telemetry.
type exporter struct {
	// values are float64 bits, one per account.
	values []atomic.Uint64
}

// newExporter serves n accounts at their resting usage.
func newExporter(n int) *exporter {
	e := &exporter{values: make([]atomic.Uint64, n)}
	for i := range e.values {
		e.set(i, usage(i))
	}
	return e
}

// set changes account i's value.
func (e *exporter) set(i int, v float64) { e.values[i].Store(math.Float64bits(v)) }

// ServeHTTP writes every series; one scrape of 100,000 accounts is about
// 4 MB, written without keeping it in memory.
func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	b := bufio.NewWriterSize(w, 64<<10)
	_, _ = b.WriteString("# TYPE " + metricName + " gauge\n")
	line := make([]byte, 0, 64)
	for i := range e.values {
		line = append(line[:0], metricName+"{"+accountLabel+"=\""...)
		line = append(line, accountName(i)...)
		line = append(line, "\"} "...)
		line = strconv.AppendFloat(line, math.Float64frombits(e.values[i].Load()), 'g', -1, 64)
		line = append(line, '\n')
		if _, err := b.Write(line); err != nil {
			return
		}
	}
	_ = b.Flush()
}
