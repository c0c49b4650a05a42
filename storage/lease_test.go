package storage

// In package storage so that the tests drive the limiter's clock (lease windows) and read the
// bucket's TAT directly.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage/redistest"
)

// twoLimiters are two apis' limiters on one Redis: they share every key's bucket.
func twoLimiters(t *testing.T) (*RateLimiter, *RateLimiter, *redis.Client, Keys) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := NewKeys(fmt.Sprintf("lease-%d:", time.Now().UnixNano()))
	return NewRateLimiter(rdb, keys), NewRateLimiter(rdb, keys), rdb, keys
}

// A burst through two apis admits no more than the bucket holds, leases or not (and, with leases
// spent before they expire, not much less).
func TestLeaseBurstIsExact(t *testing.T) {
	for _, tc := range []struct{ rpm, calls int }{{100, 300}, {960, 2000}, {6000, 9000}} {
		t.Run(fmt.Sprint("rpm=", tc.rpm), func(t *testing.T) {
			a, b, _, _ := twoLimiters(t)
			ctx := context.Background()
			start := time.Now()
			var allowed atomic.Int64
			var wg sync.WaitGroup
			var next atomic.Int64
			for g := range 16 {
				rl := a
				if g%2 == 1 {
					rl = b
				}
				wg.Go(func() {
					for next.Add(1) <= int64(tc.calls) {
						d, err := rl.Allow(ctx, "key_burst", tc.rpm)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						} else if d.RetryAfter <= 0 || d.Limit != tc.rpm {
							t.Errorf("refused without a wait: %+v", d)
							return
						}
					}
				})
			}
			wg.Wait()
			refill := int64(time.Since(start) * time.Duration(tc.rpm) / time.Minute)
			got := allowed.Load()
			if got > int64(tc.rpm)+refill {
				t.Fatalf("%d of %d calls admitted on a budget of %d (+%d refilled)", got, tc.calls, tc.rpm, refill)
			}
			if got < int64(tc.rpm-2*leaseCap(tc.rpm)) {
				t.Fatalf("%d admitted: more than one lease per api lost", got)
			}
			t.Logf("%d admitted of %d in %v", got, tc.calls, time.Since(start))
		})
	}
}

// tat reads a key's bucket TAT (ms).
func tat(t *testing.T, rdb *redis.Client, keys Keys, keyID string) float64 {
	t.Helper()
	s, err := rdb.Get(context.Background(), keys.RateLimit(keyID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// allowAt is one Allow at the limiter's clock now.
func allowAt(t *testing.T, rl *RateLimiter, now time.Time, keyID string, rpm int) RateDecision {
	t.Helper()
	rl.now = func() time.Time { return now }
	d, err := rl.Allow(context.Background(), keyID, rpm)
	if err != nil || !d.Allowed {
		t.Fatalf("Allow: %+v %v", d, err)
	}
	return d
}

// A quiet key takes one token a call; a busy one doubles its lease up to one second of its rate
// (16 here), spending it in process; the unspent rest of an expired lease goes back to the
// bucket with the next take, so the bucket is charged only for what was spent.
func TestLeaseGrowsAndGivesBack(t *testing.T) {
	rl, _, rdb, keys := twoLimiters(t)
	const rpm = 960 // 62.5 ms a token; the test's real time stays far below the TAT's lead
	const interval = 62.5
	t0 := time.Now()
	allowAt(t, rl, t0, "k", rpm) // quiet: takes 1
	first := tat(t, rdb, keys, "k")
	sizes := []int{}
	spent := 1
	for range 30 { // within the window: 2, 4, 8, 16
		before := tat(t, rdb, keys, "k")
		allowAt(t, rl, t0.Add(10*time.Millisecond), "k", rpm)
		spent++
		if took := (tat(t, rdb, keys, "k") - before) / interval; took > 0 {
			sizes = append(sizes, int(took+0.5))
		}
	}
	if fmt.Sprint(sizes) != "[2 4 8 16]" {
		t.Fatalf("leases taken %v, want [2 4 8 16]", sizes)
	}
	// 1+2+4+8+16 = 31 taken, 31 spent: the bucket is charged exactly 31.
	if got := (tat(t, rdb, keys, "k") - first) / interval; got != 30 {
		t.Fatalf("TAT moved %v tokens past the first, want 30", got)
	}
	d := allowAt(t, rl, t0.Add(20*time.Millisecond), "k", rpm) // takes 16 (size kept), spends 1
	spent++
	if d.Remaining < rpm-spent-16 || d.Remaining > rpm-spent {
		t.Fatalf("Remaining %d, want what the bucket holds (%d) plus the lease's rest", d.Remaining, rpm-47)
	}
	for range 4 {
		allowAt(t, rl, t0.Add(30*time.Millisecond), "k", rpm)
		spent++
	}
	// The lease (11 left) expires; the next call gives them back and takes a halved lease of 8.
	allowAt(t, rl, t0.Add(1500*time.Millisecond), "k", rpm)
	spent++
	if got := (tat(t, rdb, keys, "k") - first) / interval; got != float64(spent-1+7) {
		t.Fatalf("after the give-back the TAT is %v tokens past the first, want %d (spent %d, 7 leased)", got, spent-1+7, spent)
	}
}

// A give-back applies only while the bucket is as the api's last take left it: after another api
// took a token, the rest lapses instead of crediting tokens the bucket may have refilled.
func TestLeaseGiveBackNeedsAnUntouchedBucket(t *testing.T) {
	a, b, rdb, keys := twoLimiters(t)
	const rpm, interval = 960, 62.5
	t0 := time.Now()
	for range 4 { // a takes 1, 2 (spends all), then 4: 1 spent, 3 left
		allowAt(t, a, t0, "k", rpm)
	}
	allowAt(t, b, t0, "k", rpm) // b takes 1
	before := tat(t, rdb, keys, "k")
	allowAt(t, a, t0.Add(1500*time.Millisecond), "k", rpm) // a's lease expired: 3 not given back
	if got := (tat(t, rdb, keys, "k") - before) / interval; got != 2 {
		t.Fatalf("a's next take moved the TAT by %v tokens, want its lease of 2 and no give-back", got)
	}
}

// After a quiet spell a key takes one token again.
func TestLeaseQuietKeyTakesOne(t *testing.T) {
	rl, _, rdb, keys := twoLimiters(t)
	const rpm, interval = 960, 62.5
	t0 := time.Now()
	for range 3 {
		allowAt(t, rl, t0, "k", rpm)
	}
	before := tat(t, rdb, keys, "k")
	allowAt(t, rl, t0.Add(5*time.Second), "k", rpm)
	if got := (tat(t, rdb, keys, "k") - before) / interval; got != 1 {
		t.Fatalf("after a quiet spell the take moved the TAT by %v tokens, want 1", got)
	}
}

// An empty bucket refuses with a wait, even when the api's lease had just run out.
func TestLeaseEmptyBucketRefuses(t *testing.T) {
	a, b, _, _ := twoLimiters(t)
	const rpm = 240 // cap 4
	ctx := context.Background()
	n := 0
	for {
		d, err := a.Allow(ctx, "k", rpm)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.RetryAfter > 250*time.Millisecond || d.Remaining != 0 {
				t.Fatalf("refused: %+v, want a wait of at most one interval", d)
			}
			break
		}
		n++
		if n > rpm+10 {
			t.Fatal("the bucket never ran out")
		}
	}
	if d, err := b.Allow(ctx, "k", rpm); err != nil || d.Allowed && d.Remaining > 1 {
		t.Fatalf("the other api after the bucket ran out: %+v %v", d, err)
	}
}

// Concurrent calls that find the lease empty wait for one take instead of each making their own:
// a busy key costs about one round trip per lease, not one per call.
func TestLeaseConcurrentMissesShareATake(t *testing.T) {
	rl, _, rdb, _ := twoLimiters(t)
	var scripts atomic.Int64
	rdb.AddHook(scriptCounter{n: &scripts})
	const calls = 1600
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= calls {
				if d, err := rl.Allow(context.Background(), "k", 1_000_000); err != nil || !d.Allowed {
					t.Errorf("%+v %v", d, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := scripts.Load(); n > calls/8 {
		t.Fatalf("%d scripts for %d calls, want about one per lease of %d", n, calls, maxLease)
	}
	t.Logf("%d calls, %d scripts", calls, scripts.Load())
}

// scriptCounter counts the limiter's script calls; with hold, they wait for it to close.
type scriptCounter struct {
	n    *atomic.Int64
	hold chan struct{}
}

func (s scriptCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (s scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (s scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "evalsha" || c.Name() == "eval" {
				s.n.Add(1)
				if s.hold != nil {
					<-s.hold
				}
			}
		}
		return next(ctx, cmds)
	}
}

// Calls waiting for a take that the empty bucket refuses share the refusal (with its wait)
// instead of each asking Redis in turn.
func TestLeaseWaitersShareARefusal(t *testing.T) {
	rl, _, rdb, _ := twoLimiters(t)
	ctx := context.Background()
	const rpm = 120
	for {
		d, err := rl.Allow(ctx, "k", rpm)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
	}
	var scripts atomic.Int64
	release := make(chan struct{})
	rdb.AddHook(scriptCounter{n: &scripts, hold: release}) // the leader's take waits for the rest
	var wg sync.WaitGroup
	const calls = 32
	for range calls {
		wg.Go(func() {
			d, err := rl.Allow(ctx, "k", rpm)
			if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 500*time.Millisecond {
				t.Errorf("on an empty bucket: %+v %v", d, err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for waiting := 0; waiting < calls-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d calls wait for the leader's take, want %d", waiting, calls-1)
		}
		rl.leases.mu.Lock()
		waiting = len(rl.leases.m["k"].waiters)
		rl.leases.mu.Unlock()
	}
	close(release)
	wg.Wait()
	if n := scripts.Load(); n != 1 {
		t.Fatalf("%d scripts for %d refused calls, want the leader's alone", n, calls)
	}
}
