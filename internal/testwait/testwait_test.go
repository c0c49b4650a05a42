package testwait

import (
	"fmt"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records instead of stopping the goroutine.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	For(r, "three calls", time.Minute, func() bool { calls++; return calls == 3 })
	if r.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", r.failed, calls)
	}
}

func TestForFailsAfterTheLimit(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	For(r, "the impossible", 30*time.Millisecond, func() bool { calls++; return false })
	if r.failed != "not within 30ms: the impossible" {
		t.Fatalf("failure %q", r.failed)
	}
	if calls < 2 {
		t.Fatalf("cond was called %d times: For gave up without polling", calls)
	}
}
