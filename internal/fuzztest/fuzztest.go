// Package fuzztest holds the helpers shared by the project's native fuzz
// targets.
package fuzztest

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

// Deadline is how long one fuzz input may take. The functions under fuzz
// take microseconds to milliseconds (plan expressions carry a cost limit),
// so anything near this is a hang.
const Deadline = 5 * time.Second

// Within runs fn and fails the test if it panics or does not return within
// Deadline. fn runs on its own goroutine so that a hang is reported as a
// failure of this input (the goroutine is left behind) rather than as a
// test binary that never ends.
func Within(t testing.TB, what string, fn func()) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
		}()
		fn()
		done <- ""
	}()
	timer := time.NewTimer(Deadline)
	defer timer.Stop()
	select {
	case p := <-done:
		if p != "" {
			t.Fatalf("%s panicked: %s", what, p)
		}
	case <-timer.C:
		t.Fatalf("%s did not return within %v", what, Deadline)
	}
}

// Bytes hands out the fuzzer's bytes one at a time, zeros once they run
// out: a fuzz input read as a sequence of small choices.
type Bytes []byte

// Next returns the next byte, or 0 when none is left.
func (b *Bytes) Next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}
