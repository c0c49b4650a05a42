// Package redistest gives each test its own database on the machine's real Redis, so test
// packages running in parallel never see each other's keys (asynq's keys cannot be prefixed).
package redistest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the test server: REDIS_TEST_URL, or the local default.
func URL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Claim reserves a free database (1–15) for the rest of the test, empties it, and empties and
// releases it at cleanup. It fails the test when Redis does not answer: integration tests need it.
func Claim(t testing.TB) *redis.Client {
	t.Helper()
	base, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	ctx := context.Background()
	ctl := redis.NewClient(base)
	t.Cleanup(func() { _ = ctl.Close() })
	if err := ctl.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis at %s does not answer (start it, or set REDIS_TEST_URL): %v", URL(), err)
	}
	token := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := 1; db <= 15; db++ {
			lock := fmt.Sprintf("tbtest:db:%d", db)
			ok, err := ctl.SetNX(ctx, lock, token, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("redistest: %v", err)
			}
			if !ok {
				continue
			}
			opts := *base
			opts.DB = db
			rdb := redis.NewClient(&opts)
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("redistest: %v", err)
			}
			t.Cleanup(func() {
				_ = rdb.FlushDB(ctx).Err()
				_ = rdb.Close()
				ctl.Del(ctx, lock)
			})
			return rdb
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no free database in 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
