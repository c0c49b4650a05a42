// Package ctxsleep is the one "sleep unless the context is done" of the module: retries,
// back-offs, payment polling and the emulators' injected delays all wait through it, so a
// canceled request or a shutdown never waits out a timer.
package ctxsleep

import (
	"context"
	"time"
)

// For waits d or until ctx is done, whichever comes first, and reports whether the full wait
// happened. A non-positive d does not wait: it reports whether ctx is still live, so a caller
// never proceeds on a context that already ended.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
