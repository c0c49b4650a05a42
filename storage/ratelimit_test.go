package storage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func newLimiter(t testing.TB) (*storage.RateLimiter, *redis.Client) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	return storage.NewRateLimiter(rdb, keys), rdb
}

func TestRateLimiterUnlimited(t *testing.T) {
	rl, rdb := newLimiter(t)
	ctx := context.Background()
	for _, rpm := range []int{0, -1, -100} {
		for i := range 100 {
			d, err := rl.Allow(ctx, "key_unlimited", rpm)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed || d.Limit != 0 || d.RetryAfter != 0 {
				t.Fatalf("rpm %d call %d: %+v, want allowed with Limit 0", rpm, i, d)
			}
		}
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("unlimited keys wrote %d Redis keys", n)
	}
}

func TestRateLimiterBurst(t *testing.T) {
	cases := []struct {
		rpm int
	}{{1}, {2}, {5}, {7}, {60}}
	for _, c := range cases {
		t.Run(fmt.Sprint("rpm=", c.rpm), func(t *testing.T) {
			rl, _ := newLimiter(t)
			ctx := context.Background()
			key := "key_burst"
			interval := time.Minute / time.Duration(c.rpm)
			for i := range c.rpm {
				d, err := rl.Allow(ctx, key, c.rpm)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Allowed {
					t.Fatalf("call %d of a burst of %d refused: %+v", i+1, c.rpm, d)
				}
				if d.Limit != c.rpm {
					t.Errorf("Limit = %d, want %d", d.Limit, c.rpm)
				}
				if want := c.rpm - 1 - i; d.Remaining != want {
					t.Errorf("call %d: Remaining = %d, want %d", i+1, d.Remaining, want)
				}
				if d.RetryAfter != 0 {
					t.Errorf("allowed call %d has RetryAfter %v", i+1, d.RetryAfter)
				}
				// Reset is when the bucket is full again: (i+1) intervals from now, less elapsed time.
				if d.Reset <= 0 || d.Reset > time.Duration(i+1)*interval+time.Millisecond {
					t.Errorf("call %d: Reset = %v, want in (0, %v]", i+1, d.Reset, time.Duration(i+1)*interval)
				}
			}
			prevRetry := time.Duration(1 << 62)
			for range 3 {
				d, err := rl.Allow(ctx, key, c.rpm)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					t.Fatalf("call %d allowed past the burst of %d: %+v", c.rpm+1, c.rpm, d)
				}
				if d.Remaining != 0 || d.Limit != c.rpm {
					t.Errorf("refused: Remaining %d Limit %d, want 0 and %d", d.Remaining, d.Limit, c.rpm)
				}
				if d.RetryAfter <= 0 || d.RetryAfter > interval+time.Millisecond {
					t.Errorf("refused: RetryAfter = %v, want in (0, %v]", d.RetryAfter, interval)
				}
				if d.Reset <= 0 || d.Reset > time.Minute {
					t.Errorf("refused: Reset = %v, want in (0, 1m]", d.Reset)
				}
				// A refused request spends nothing: the wait does not grow.
				if d.RetryAfter > prevRetry {
					t.Errorf("refused calls pushed the wait from %v to %v", prevRetry, d.RetryAfter)
				}
				prevRetry = d.RetryAfter
			}
		})
	}
}

func TestRateLimiterStateKey(t *testing.T) {
	rdb := redistest.Claim(t)
	ctx := context.Background()
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	rl := storage.NewRateLimiter(rdb, keys)
	if _, err := rl.Allow(ctx, "key_a", 6); err != nil {
		t.Fatal(err)
	}
	all, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0] != keys.RateLimit("key_a") {
		t.Fatalf("keys = %v, want only %s", all, keys.RateLimit("key_a"))
	}
	// One request at 6 rpm fills the bucket back in 10 s; the state lives about that long.
	ttl, err := rdb.PTTL(ctx, keys.RateLimit("key_a")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 12*time.Second {
		t.Fatalf("state TTL = %v, want in (0, 12s]", ttl)
	}
}

func TestRateLimiterKeysIndependent(t *testing.T) {
	rl, rdb := newLimiter(t)
	ctx := context.Background()
	const rpm = 3
	for range rpm {
		if d, err := rl.Allow(ctx, "key_a", rpm); err != nil || !d.Allowed {
			t.Fatalf("key_a: %+v %v", d, err)
		}
	}
	if d, _ := rl.Allow(ctx, "key_a", rpm); d.Allowed {
		t.Fatal("key_a allowed past its burst")
	}
	for i := range rpm {
		d, err := rl.Allow(ctx, "key_b", rpm)
		if err != nil || !d.Allowed {
			t.Fatalf("key_b call %d refused after key_a ran out: %+v %v", i+1, d, err)
		}
		if d.Remaining != rpm-1-i {
			t.Fatalf("key_b call %d: Remaining %d, want %d", i+1, d.Remaining, rpm-1-i)
		}
	}
	// Same id under another prefix is another bucket too.
	other := storage.NewRateLimiter(rdb, storage.NewKeys("other:"))
	if d, err := other.Allow(ctx, "key_a", rpm); err != nil || !d.Allowed {
		t.Fatalf("key_a under another prefix: %+v %v", d, err)
	}
}

func TestRateLimiterRefill(t *testing.T) {
	rl, _ := newLimiter(t)
	ctx := context.Background()
	// 600 rpm: one request back every 100 ms.
	const rpm = 600
	for range rpm {
		if d, err := rl.Allow(ctx, "key_r", rpm); err != nil || !d.Allowed {
			t.Fatalf("burst refused early: %+v %v", d, err)
		}
	}
	d, err := rl.Allow(ctx, "key_r", rpm)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed {
		// 600 calls may take longer than 100 ms under the race detector: then a refill is due.
		t.Logf("a request refilled during the burst (slow machine)")
	}
	// Once refused, a request is allowed again after RetryAfter (bounded wait).
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := rl.Allow(ctx, "key_r", rpm)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond {
				t.Fatalf("RetryAfter = %v, want in (0, 100ms]", d.RetryAfter)
			}
			if time.Now().After(deadline) {
				t.Fatal("no request allowed again within 5 s")
			}
			time.Sleep(d.RetryAfter)
			continue
		}
		break
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	rl, _ := newLimiter(t)
	ctx := context.Background()
	const (
		rpm        = 50
		goroutines = 20
		calls      = 10
	)
	interval := time.Minute / rpm // 1.2 s
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for range calls {
				d, err := rl.Allow(ctx, "key_c", rpm)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Exactly the burst is allowed; only if the run outlasted an interval (a very slow machine)
	// may refills have added one request per interval.
	want := int64(rpm)
	maxAllowed := want + int64(elapsed/interval)
	if got := allowed.Load(); got < want || got > maxAllowed {
		t.Fatalf("allowed %d of %d concurrent calls in %v, want %d (the check is not atomic)",
			got, goroutines*calls, elapsed, want)
	}
	if allowed.Load()+refused.Load() != goroutines*calls {
		t.Fatalf("answers %d, want %d", allowed.Load()+refused.Load(), goroutines*calls)
	}
}

// AllowDistinct admits the first few distinct members of a window, repeats of them for free, and
// nothing new until the window ends.
func TestRateLimiterDistinct(t *testing.T) {
	rl, rdb := newLimiter(t)
	ctx := context.Background()
	allow := func(member string) storage.RateDecision {
		t.Helper()
		d, err := rl.AllowDistinct(ctx, "proofs:inv_1", member, 3, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, m := range []string{"a", "b", "a", "c", "c", "b"} {
		if d := allow(m); !d.Allowed {
			t.Fatalf("%s refused: %+v", m, d)
		}
	}
	d := allow("d")
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 300*time.Millisecond {
		t.Fatalf("a fourth distinct member: %+v", d)
	}
	if d, err := rl.AllowDistinct(ctx, "proofs:inv_2", "d", 3, time.Second); err != nil || !d.Allowed {
		t.Fatalf("another key: %+v %v", d, err)
	}
	time.Sleep(350 * time.Millisecond)
	if d := allow("d"); !d.Allowed {
		t.Fatalf("after the window: %+v", d)
	}
	if n := rdb.DBSize(ctx).Val(); n != 2 {
		t.Fatalf("%d keys, want one set per limited key", n)
	}
}

// Hold admits one holder at a time (the same holder again shares it) until released or expired.
func TestRateLimiterHold(t *testing.T) {
	rl, _ := newLimiter(t)
	ctx := context.Background()
	held, release, err := rl.Hold(ctx, "payment:inv_1", "check-a", time.Minute)
	if err != nil || !held {
		t.Fatalf("first hold: %v %v", held, err)
	}
	if again, _, err := rl.Hold(ctx, "payment:inv_1", "check-a", time.Minute); err != nil || !again {
		t.Fatalf("the same holder: %v %v", again, err)
	}
	if other, _, err := rl.Hold(ctx, "payment:inv_1", "check-b", time.Minute); err != nil || other {
		t.Fatalf("another holder while held: %v %v", other, err)
	}
	if other, _, err := rl.Hold(ctx, "payment:inv_2", "check-b", time.Minute); err != nil || !other {
		t.Fatalf("another key: %v %v", other, err)
	}
	release()
	if other, _, err := rl.Hold(ctx, "payment:inv_1", "check-b", 100*time.Millisecond); err != nil || !other {
		t.Fatalf("after release: %v %v", other, err)
	}
	release() // check-a no longer holds it: check-b keeps it
	if c, _, _ := rl.Hold(ctx, "payment:inv_1", "check-c", time.Minute); c {
		t.Fatal("a stale release freed another holder's hold")
	}
	time.Sleep(150 * time.Millisecond)
	if c, _, err := rl.Hold(ctx, "payment:inv_1", "check-c", time.Minute); err != nil || !c {
		t.Fatalf("after expiry: %v %v", c, err)
	}
}

// A read given to Allow rides along the limit's round trip: its result is there without Redis
// afterwards, whatever the decision, for limited and unlimited keys, and on a Redis that has not
// loaded the limiter's script yet.
func TestRateLimiterAllowWithRead(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t) // a fresh server: the first Allow meets NOSCRIPT
	for _, tc := range []struct {
		name    string
		rpm     int
		allowed bool
	}{{"first call, script not loaded", 2, true}, {"second", 2, true}, {"refused", 2, false}, {"unlimited", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := srv.Client()
			keys := storage.NewKeys("rr:")
			cache := storage.NewTokenCache(rdb, keys)
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			if err := cache.Store(ctx, "cardano", "1", "snek", "aa00", []byte(`{"a":1}`), at, time.Minute); err != nil {
				t.Fatal(err)
			}
			hit, miss := cache.Read("cardano", "1", "snek", ""), cache.Read("cardano", "1", "other", "")
			d, err := storage.NewRateLimiter(rdb, keys).Allow(ctx, "key_rr", tc.rpm, hit, miss)
			if err != nil || d.Allowed != tc.allowed {
				t.Fatalf("Allow = %+v, %v; want allowed %v", d, err, tc.allowed)
			}
			_ = rdb.Close() // the results must already be here
			if b, got, err := hit.Result(ctx); err != nil || string(b) != `{"a":1}` || !got.Equal(at) {
				t.Fatalf("hit: %q %v %v", b, got, err)
			}
			if b, _, err := miss.Result(ctx); err != nil || b != nil {
				t.Fatalf("miss: %q %v", b, err)
			}
		})
	}
	t.Run("Redis down", func(t *testing.T) {
		rdb := srv.Client()
		read := storage.NewTokenCache(rdb, storage.NewKeys("rr:")).Read("cardano", "1", "snek", "")
		srv.Stop()
		for _, rpm := range []int{2, 0} {
			if _, err := storage.NewRateLimiter(rdb, storage.NewKeys("rr:")).Allow(ctx, "key_rr", rpm, read); !storage.Unavailable(err) {
				t.Fatalf("rpm %d: Allow with Redis down: %v, want an outage", rpm, err)
			}
		}
	})
}

// pipelines counts the pipelines a client sends and the commands in the largest.
type pipelines struct {
	n, largest atomic.Int64
}

func (p *pipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.n.Add(1)
		for {
			l := p.largest.Load()
			if int64(len(cmds)) <= l || p.largest.CompareAndSwap(l, int64(len(cmds))) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

// Concurrent calls share pipelines, and sharing changes no decision: a burst of 300 calls on a
// budget of 100 admits exactly 100, and each call gets its own reads' results.
func TestRateLimiterBatchesConcurrentCalls(t *testing.T) {
	rl, rdb := newLimiter(t)
	counted := &pipelines{}
	rdb.AddHook(counted)
	ctx := context.Background()
	keys := storage.NewKeys(fmt.Sprintf("test-b-%d:", time.Now().UnixNano()))
	cache := storage.NewTokenCache(rdb, keys)
	for i := range 3 {
		if err := cache.Store(ctx, "cardano", "1", fmt.Sprint("t", i), fmt.Sprint("u", i), []byte(fmt.Sprint(i)), time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	counted.n.Store(0)
	start := make(chan struct{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 300 {
		wg.Go(func() {
			<-start
			read := cache.Read("cardano", "1", fmt.Sprint("t", g%3), "")
			d, err := rl.Allow(ctx, "key_burst", 100, read)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
			if b, _, err := read.Result(ctx); err != nil || string(b) != fmt.Sprint(g%3) {
				t.Errorf("call %d read %q, %v", g, b, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("%d of 300 calls admitted on a budget of 100", allowed.Load())
	}
	if n := counted.n.Load(); n >= 300 || counted.largest.Load() < 4 {
		t.Fatalf("%d pipelines for 300 calls, the largest of %d commands: the calls were not batched", n, counted.largest.Load())
	}
	t.Logf("300 calls in %d pipelines (largest: %d commands)", counted.n.Load(), counted.largest.Load())
}

// A caller that stops waiting gets its context's error, and the batcher goes on serving others.
func TestRateLimiterCanceledWait(t *testing.T) {
	rl, _ := newLimiter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rl.Allow(ctx, "key_c", 10); err == nil {
		t.Fatal("a canceled call succeeded")
	}
	if d, err := rl.Allow(context.Background(), "key_c", 10); err != nil || !d.Allowed {
		t.Fatalf("after a canceled call: %+v %v", d, err)
	}
}
