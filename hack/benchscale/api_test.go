package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWatchReadsAnExpiredStreamAsExpired: a watch that outlives its
// resourceVersion ends with an ERROR event whose object is a Status (its
// status a string, not an account's); the tracker lists again on
// errExpired, so the watch must return it, after the events before it.
func TestWatchReadsAnExpiredStreamAsExpired(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, `{"type":"MODIFIED","object":{"kind":"CustomerAccount","metadata":{"name":"a","resourceVersion":"7"},"status":{"observedGeneration":1}}}`)
		_, _ = fmt.Fprintln(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}}`)
	}))
	defer srv.Close()
	api := &rawAPI{host: srv.URL, hc: srv.Client()}
	var seen []string
	rv, err := api.watch(context.Background(), "/accounts", "5", func(ev watchEvent) {
		seen = append(seen, ev.Type+" "+ev.Object.Metadata.Name)
	})
	if !errors.Is(err, errExpired) {
		t.Fatalf("watch returned %v, want errExpired", err)
	}
	if rv != "7" || fmt.Sprint(seen) != "[MODIFIED a]" {
		t.Errorf("watch saw %v up to resourceVersion %q, want [MODIFIED a] up to 7", seen, rv)
	}
}
