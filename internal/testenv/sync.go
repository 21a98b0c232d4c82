package testenv

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer that a process's output copier (or a
// logger) writes while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cleanupGrace is how long before the test binary's deadline Deadline
// ends: time for the test to report what it waited for and to clean up.
const cleanupGrace = 30 * time.Second

// Deadline returns a context that ends shortly before the test binary's
// own deadline (go test -timeout), or with the test: the bound of a wait
// for real work, which takes as long as a busy machine makes it take.
func Deadline(t testing.TB) context.Context {
	ctx := t.Context()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if at, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, at.Add(-cleanupGrace))
			t.Cleanup(cancel)
		}
	}
	return ctx
}
