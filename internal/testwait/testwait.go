// Package testwait is the tests' one way to wait for something that happens in the background:
// poll a condition until it holds or a limit passes.
package testwait

import (
	"testing"
	"time"
)

// Every is how often For polls: often enough that a test waits little past the moment cond
// holds, rarely enough that polling Redis or HTTP stays cheap.
const Every = 10 * time.Millisecond

// For polls cond every Every until it holds; after limit it fails the test, naming what it
// waited for.
func For(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
			return
		}
		time.Sleep(Every)
	}
}
