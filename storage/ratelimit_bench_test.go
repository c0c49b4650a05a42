package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
)

// BenchmarkCachedCallRedis is the Redis side of an authenticated cache hit, many callers at once:
// the rate limit, then the cache read (two round trips, as before issue 17), against the read
// riding along the limit's pipeline, which concurrent calls share (pipelines/op).
//
//	.ci/with-services go test -run '^$' -bench CachedCallRedis -cpu 16 ./storage/
func BenchmarkCachedCallRedis(b *testing.B) {
	rl, rdb := newLimiter(b)
	counted := &pipelines{}
	rdb.AddHook(counted)
	keys := storage.NewKeys(fmt.Sprintf("bench-%d:", time.Now().UnixNano()))
	cache := storage.NewTokenCache(rdb, keys)
	ctx := context.Background()
	if err := cache.Store(ctx, "cardano", "1", "snek", "u", make([]byte, 2300), time.Now(), time.Hour); err != nil {
		b.Fatal(err)
	}
	const rpm = 1 << 30
	check := func(b *testing.B, d storage.RateDecision, err error, body []byte, rerr error) {
		if err != nil || !d.Allowed || rerr != nil || len(body) != 2300 {
			b.Fatalf("Allow %+v %v, read %d bytes %v", d, err, len(body), rerr)
		}
	}
	b.Run("two round trips", func(b *testing.B) {
		counted.n.Store(0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d, err := rl.Allow(ctx, "key_bench", rpm)
				body, _, rerr := cache.Lookup(ctx, "cardano", "1", "snek", "")
				check(b, d, err, body, rerr)
			}
		})
	})
	b.Run("one pipeline", func(b *testing.B) {
		counted.n.Store(0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				read := cache.Read("cardano", "1", "snek", "")
				d, err := rl.Allow(ctx, "key_bench", rpm, read)
				body, _, rerr := read.Result(ctx)
				check(b, d, err, body, rerr)
			}
		})
		b.ReportMetric(float64(counted.n.Load())/float64(b.N), "pipelines/op")
	})
}
