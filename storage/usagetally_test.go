package storage

// In package storage: the resend tests send one batch twice, as a lost reply would.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage/redistest"
)

func newTallied(t *testing.T) (*Usage, *redis.Client) {
	t.Helper()
	rdb := redistest.Claim(t)
	return NewUsage(rdb, NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))), rdb
}

func TestUsageCountIsReportedExactly(t *testing.T) {
	u, _ := newTallied(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 50 {
				u.Count("key_a", []string{"/x", "/y"}[g%2], now)
				if i == 25 && g == 0 {
					if err := u.Flush(ctx); err != nil { // flushes race the counting
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := u.Record(ctx, "key_a", "/x", 0, 7, now); err != nil { // a worker's tokens, beside
		t.Fatal(err)
	}
	r, err := u.Report(ctx, "key_a", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalCalls != 1000 || r.ByEndpoint["/x"].Calls != 500 || r.ByEndpoint["/y"].Calls != 500 ||
		r.Today.Calls != 1000 || r.ThisMonth.Calls != 1000 || r.TotalTokens != 7 {
		t.Fatalf("report = %+v", r)
	}
	if r2, _ := u.Report(ctx, "key_a", now); r2.TotalCalls != 1000 {
		t.Fatalf("a second report counts again: %+v", r2)
	}
}

func TestUsageCountKeepsTheCallsDay(t *testing.T) {
	u, rdb := newTallied(t)
	ctx := context.Background()
	late := time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC)
	u.Count("key_d", "/chat", late)
	u.Count("key_d", "/chat", late.Add(2*time.Second)) // the next day, and month
	u.Count("key_d", "/chat", late.In(time.FixedZone("UTC+3", 3*3600)))
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		u.keys.UsageDay("key_d", "2025-01-31"): "2", u.keys.UsageMonth("key_d", "2025-01"): "2",
		u.keys.UsageDay("key_d", "2025-02-01"): "1", u.keys.UsageMonth("key_d", "2025-02"): "1",
		u.keys.Usage("key_d"): "3",
	} {
		if got := rdb.HGet(ctx, key, "calls").Val(); got != want {
			t.Errorf("%s calls = %q, want %s", key, got, want)
		}
		if key != u.keys.Usage("key_d") && rdb.TTL(ctx, key).Val() <= 0 {
			t.Errorf("%s does not expire", key)
		}
	}
}

// A batch whose reply was lost is sent again: Redis must not count it twice, and must still count
// the batches after it.
func TestUsageResentBatchCountsOnce(t *testing.T) {
	u, _ := newTallied(t)
	ctx := context.Background()
	now := time.Now()
	u.Count("key_r", "/chat", now)
	u.Count("key_r", "/chat", now)
	batch := u.tally.take()
	for range 3 {
		if err := u.send(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	u.Count("key_r", "/usage", now)
	r, err := u.Report(ctx, "key_r", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalCalls != 3 || r.ByEndpoint["/chat"].Calls != 2 || r.ByEndpoint["/usage"].Calls != 1 {
		t.Fatalf("report = %+v", r)
	}
	// Another api instance's batches are its own sequence.
	other := NewUsage(u.rdb, u.keys)
	other.Count("key_r", "/chat", now)
	if err := other.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := u.Report(ctx, "key_r", now); r.TotalCalls != 4 {
		t.Fatalf("after another instance's call: %+v", r)
	}
}

// While Redis is unreachable the tally is kept, and nothing is lost or doubled once it answers.
func TestUsageTallySurvivesAnOutage(t *testing.T) {
	live, _ := newTallied(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	u := NewUsage(dead, live.keys)
	ctx := context.Background()
	now := time.Now()
	u.Count("key_o", "/chat", now)
	for range 2 {
		if err := u.Flush(ctx); err == nil || !Unavailable(err) {
			t.Fatalf("Flush to a dead Redis: %v", err)
		}
		u.Count("key_o", "/chat", now)
	}
	u.rdb = live.rdb
	r, err := u.Report(ctx, "key_o", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalCalls != 3 {
		t.Fatalf("after the outage: %+v, want 3 calls", r)
	}
}

func TestUsageRunFlushesWhenStopped(t *testing.T) {
	u, rdb := newTallied(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	u.Count("key_s", "/chat", time.Now())
	cancel()
	<-done
	if got := rdb.HGet(context.Background(), u.keys.Usage("key_s"), "calls").Val(); got != "1" {
		t.Fatalf("calls after Run stopped = %q, want 1", got)
	}
}

// Flushes of an empty tally race with the first counts of a key (run with -race).
func TestUsageFlushRacesCount(t *testing.T) {
	u, _ := newTallied(t)
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				if err := u.Flush(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for i := range 200 {
		u.Count(fmt.Sprint("key_", i), "/x", time.Now())
		time.Sleep(50 * time.Microsecond)
	}
	close(stop)
	<-done
	for i := range 200 {
		if r, err := u.Report(ctx, fmt.Sprint("key_", i), time.Now()); err != nil || r.TotalCalls != 1 {
			t.Fatalf("key_%d: %+v %v", i, r, err)
		}
	}
}
