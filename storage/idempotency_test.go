package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func newIdempotency(t *testing.T, ttl time.Duration) (*storage.Idempotency, *redis.Client, storage.Keys) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	return storage.NewIdempotency(rdb, keys, ttl), rdb, keys
}

// idemStep is one Claim or Release and what it must answer.
type idemStep struct {
	release         bool
	owner, req, job string
	wantJob         string // Claim only
	wantClaimed     bool   // Claim only
	wantErr         error
}

func TestIdempotencyClaimAndRelease(t *testing.T) {
	claim := func(owner, req, job, wantJob string, claimed bool) idemStep {
		return idemStep{owner: owner, req: req, job: job, wantJob: wantJob, wantClaimed: claimed}
	}
	release := func(owner, req, job string) idemStep {
		return idemStep{release: true, owner: owner, req: req, job: job}
	}
	cases := []struct {
		name  string
		steps []idemStep
	}{
		{"first claim wins", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			claim("key_a", "req-1", "job-2", "job-1", false),
			claim("key_a", "req-1", "job-1", "job-1", false), // the winner asking again is not a new claim
		}},
		{"other request ids are independent", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			claim("key_a", "req-2", "job-2", "job-2", true),
			claim("key_a", "req-1 ", "job-3", "job-3", true),
			claim("key_a", "REQ-1", "job-4", "job-4", true),
		}},
		{"other owners are independent", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			claim("key_b", "req-1", "job-2", "job-2", true),
			claim("wallet:addr1xyz", "req-1", "job-3", "job-3", true),
			claim("key_a", "req-1", "job-9", "job-1", false),
			claim("key_b", "req-1", "job-9", "job-2", false),
		}},
		{"release by the winner frees the request", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			release("key_a", "req-1", "job-1"),
			claim("key_a", "req-1", "job-2", "job-2", true),
			claim("key_a", "req-1", "job-3", "job-2", false),
		}},
		{"release by another job is ignored", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			release("key_a", "req-1", "job-2"),
			release("key_a", "req-1", "job-1x"),
			claim("key_a", "req-1", "job-3", "job-1", false),
		}},
		{"release under another owner is ignored", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			release("key_b", "req-1", "job-1"),
			claim("key_a", "req-1", "job-3", "job-1", false),
		}},
		{"release of nothing is no error", []idemStep{
			release("key_a", "req-never", "job-1"),
			claim("key_a", "req-never", "job-1", "job-1", true),
		}},
		{"release twice", []idemStep{
			claim("key_a", "req-1", "job-1", "job-1", true),
			release("key_a", "req-1", "job-1"),
			release("key_a", "req-1", "job-1"),
			claim("key_a", "req-1", "job-2", "job-2", true),
		}},
		{"client-chosen request ids of any shape", []idemStep{
			claim("key_a", "", "job-1", "job-1", true),
			claim("key_a", "{key_b}", "job-2", "job-2", true),
			claim("key_b", "", "job-3", "job-3", true),
			claim("key_a", "x\ny:z}{", "job-4", "job-4", true),
			claim("key_a", strings.Repeat("r", 5000), "job-5", "job-5", true),
			claim("key_a", "", "job-9", "job-1", false),
		}},
		{"empty job id is refused", []idemStep{
			{owner: "key_a", req: "req-1", job: "", wantErr: storage.ErrEmptyJobID},
			{release: true, owner: "key_a", req: "req-1", job: "", wantErr: storage.ErrEmptyJobID},
			claim("key_a", "req-1", "job-1", "job-1", true),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idem, _, _ := newIdempotency(t, time.Hour)
			ctx := context.Background()
			for i, s := range c.steps {
				if s.release {
					err := idem.Release(ctx, s.owner, s.req, s.job)
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: Release(%q, %q, %q) = %v, want %v", i, s.owner, s.req, s.job, err, s.wantErr)
					}
					continue
				}
				job, claimed, err := idem.Claim(ctx, s.owner, s.req, s.job)
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: Claim(%q, %.20q, %q) error = %v, want %v", i, s.owner, s.req, s.job, err, s.wantErr)
				}
				if s.wantErr != nil {
					continue
				}
				if job != s.wantJob || claimed != s.wantClaimed {
					t.Fatalf("step %d: Claim(%q, %.20q, %q) = %q, %v; want %q, %v",
						i, s.owner, s.req, s.job, job, claimed, s.wantJob, s.wantClaimed)
				}
			}
		})
	}
}

func TestIdempotencyConcurrentClaims(t *testing.T) {
	idem, rdb, keys := newIdempotency(t, time.Hour)
	ctx := context.Background()
	const n = 50
	type result struct {
		mine, winner string
		claimed      bool
		err          error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			mine := fmt.Sprintf("job-%d", i)
			winner, claimed, err := idem.Claim(ctx, "key_a", "req-race", mine)
			results[i] = result{mine, winner, claimed, err}
		})
	}
	close(start)
	wg.Wait()
	var winners []string
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.claimed {
			winners = append(winners, r.mine)
			if r.winner != r.mine {
				t.Errorf("claimed by %s but told the owner is %s", r.mine, r.winner)
			}
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d claims succeeded (%v), want exactly 1", len(winners), winners)
	}
	for _, r := range results {
		if r.winner != winners[0] {
			t.Errorf("%s was told %s owns the request, want %s", r.mine, r.winner, winners[0])
		}
	}
	if got := rdb.Get(ctx, keys.Idempotency("key_a", "req-race")).Val(); got != winners[0] {
		t.Fatalf("stored job %q, want %q", got, winners[0])
	}
}

func TestIdempotencyTTL(t *testing.T) {
	cases := []struct {
		name     string
		ttl      time.Duration
		min, max time.Duration // -1: no expiry
	}{
		{"a day", 24 * time.Hour, 24*time.Hour - time.Minute, 24 * time.Hour},
		{"sub-millisecond rounds up, never to none", 300 * time.Microsecond, -2, 1 * time.Millisecond},
		{"none", 0, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idem, rdb, keys := newIdempotency(t, c.ttl)
			ctx := context.Background()
			if _, _, err := idem.Claim(ctx, "key_a", "req-1", "job-1"); err != nil {
				t.Fatal(err)
			}
			// -2: already expired, which a 1 ms TTL may well be by now.
			ttl := rdb.PTTL(ctx, keys.Idempotency("key_a", "req-1")).Val()
			if ttl < c.min || ttl > c.max || (c.min != -1 && ttl == -1) {
				t.Fatalf("TTL = %v, want in [%v, %v]", ttl, c.min, c.max)
			}
		})
	}
	// A later claim of a taken request does not extend the record's life.
	idem, rdb, keys := newIdempotency(t, 24*time.Hour)
	ctx := context.Background()
	key := keys.Idempotency("key_a", "req-1")
	if _, _, err := idem.Claim(ctx, "key_a", "req-1", "job-1"); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Expire(ctx, key, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := idem.Claim(ctx, "key_a", "req-1", "job-2"); err != nil || claimed {
		t.Fatalf("second claim: claimed=%v err=%v", claimed, err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl > time.Hour {
		t.Fatalf("TTL after a losing claim = %v, want at most 1h", ttl)
	}
}

func TestIdempotencyExpiredRequestIsNew(t *testing.T) {
	idem, _, _ := newIdempotency(t, 100*time.Millisecond)
	ctx := context.Background()
	if _, claimed, err := idem.Claim(ctx, "key_a", "req-1", "job-1"); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		job, claimed, err := idem.Claim(ctx, "key_a", "req-1", fmt.Sprintf("job-late-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if claimed {
			return
		}
		if job != "job-1" {
			t.Fatalf("before expiry the owner is %q, want job-1", job)
		}
		if time.Now().After(deadline) {
			t.Fatal("a claim with a 100 ms TTL still holds after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	idem, rdb, keys := newIdempotency(t, time.Hour)
	ctx := context.Background()
	const owner = "key:key_abc"
	reqs := []string{"r1", "", "{x}", "a:b", "new\nline", "ünï 🙂", strings.Repeat("z", 4096)}
	want := map[string]bool{}
	for i, r := range reqs {
		if _, claimed, err := idem.Claim(ctx, owner, r, fmt.Sprint("job-", i)); err != nil || !claimed {
			t.Fatalf("Claim(%.20q): %v %v", r, claimed, err)
		}
		k := keys.Idempotency(owner, r)
		prefix := keys.Prefix() + "idem:{" + owner + "}:"
		if !strings.HasPrefix(k, prefix) || len(k) != len(prefix)+32 || strings.Trim(k[len(prefix):], "0123456789abcdef") != "" {
			t.Errorf("Idempotency(%q, %.20q) = %q, want %q and 32 hex digits", owner, r, k, prefix)
		}
		want[k] = true
	}
	all, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(reqs) {
		t.Fatalf("%d keys for %d requests: %q", len(all), len(reqs), all)
	}
	for _, k := range all {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		if slot(k) != slot("{"+owner+"}") {
			t.Errorf("key %q is not in the owner's slot", k)
		}
	}
}

func TestIdempotencyRedisErrors(t *testing.T) {
	idem, _, _ := newIdempotency(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := idem.Claim(ctx, "key_a", "r", "job-1"); err == nil {
		t.Error("Claim with a canceled context: no error")
	}
	if err := idem.Release(ctx, "key_a", "r", "job-1"); err == nil {
		t.Error("Release with a canceled context: no error")
	}
}
