package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkUsageCall is what counting one answered call costs the api: a MULTI of the key's
// lifetime, day and month counters per call (Record, as before issue 17), against the in-process
// tally (Count) with its flush, one pipeline a second, measured apart.
//
//	.ci/with-services go test -run '^$' -bench UsageCall ./storage/
func BenchmarkUsageCall(b *testing.B) {
	u, _, _ := newUsage(b)
	ctx := context.Background()
	now := time.Now()
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			if err := u.Record(ctx, "key_b", "/token-analysis", 1, 0, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				u.Count("key_b", "/token-analysis", now)
			}
		})
	})
	keyIDs := make([]string, 100)
	for i := range keyIDs {
		keyIDs[i] = fmt.Sprint("key_", i)
	}
	b.Run("flush of 100 keys", func(b *testing.B) {
		for b.Loop() {
			for i := range 100 {
				u.Count(keyIDs[i], "/token-analysis", now)
			}
			if err := u.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
