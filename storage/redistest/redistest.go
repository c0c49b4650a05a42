// Package redistest gives each test its own database on the machine's real Redis, so test
// packages running in parallel never see each other's keys (asynq's keys cannot be prefixed).
package redistest

import (
	"context"
	"errors"
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
	rdb, release, err := ClaimDB(context.Background(), base, t.Name())
	if err != nil {
		t.Fatalf("redistest: Redis at %s (start it, or set REDIS_TEST_URL): %v", URL(), err)
	}
	t.Cleanup(release)
	return rdb
}

// ClaimDB reserves a free database (1–15) of the server at base, empties it, and returns a
// client on it; release empties and frees it. The reservation is a lock key tbtest:db:N in
// database 0, held for 10 minutes and renewed while it lasts, so that tests and benchmarks
// (cmd/tbench) running at the same time on one server never share keys. owner names the
// holder in the lock. It waits up to 2 minutes for a database to come free.
func ClaimDB(ctx context.Context, base *redis.Options, owner string) (rdb *redis.Client, release func(), err error) {
	ctlOpts := *base
	ctlOpts.DB = 0
	ctl := redis.NewClient(&ctlOpts)
	token := fmt.Sprintf("%s-%d-%d", owner, os.Getpid(), time.Now().UnixNano())
	for deadline := time.Now().Add(2 * time.Minute); ; {
		for db := 1; db <= 15; db++ {
			lock := fmt.Sprintf("tbtest:db:%d", db)
			ok, err := ctl.SetNX(ctx, lock, token, lockTTL).Result()
			if err != nil {
				_ = ctl.Close()
				return nil, nil, err
			}
			if !ok {
				continue
			}
			opts := *base
			opts.DB = db
			rdb := redis.NewClient(&opts)
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				_ = rdb.Close()
				ctl.Del(context.WithoutCancel(ctx), lock)
				_ = ctl.Close()
				return nil, nil, err
			}
			return rdb, holdLock(ctx, ctl, rdb, lock, token), nil
		}
		if time.Now().After(deadline) {
			_ = ctl.Close()
			return nil, nil, errors.New("no free Redis database (1–15) within 2 minutes")
		}
		select {
		case <-ctx.Done():
			_ = ctl.Close()
			return nil, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockTTL bounds a database's reservation by a holder that died without releasing it.
const lockTTL = 10 * time.Minute

// holdLock renews lock while rdb is in use and returns its release: empty the database, close
// the clients and delete the lock if it is still ours.
func holdLock(ctx context.Context, ctl, rdb *redis.Client, lock, token string) func() {
	ctx = context.WithoutCancel(ctx)
	stop, renewed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(lockTTL / 10)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctl.Expire(ctx, lock, lockTTL)
			}
		}
	}()
	return func() {
		close(stop)
		<-renewed
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = rdb.FlushDB(rctx).Err()
		_ = rdb.Close()
		if v, _ := ctl.Get(rctx, lock).Result(); v == token {
			ctl.Del(rctx, lock)
		}
		_ = ctl.Close()
	}
}
