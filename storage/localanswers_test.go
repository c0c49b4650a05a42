package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage/redistest"
)

// The in-process copy answers a hot token with no Redis read, for ttl only, and keeps its
// bodies under the byte bound, dropping the least recently used first.
func TestLocalAnswers(t *testing.T) {
	now := time.Now()
	l := newLocalAnswers(time.Second, 10)
	l.now = func() time.Time { return now }
	l.put("a", []byte("aaaa"), now)
	l.put("b", []byte("bbbb"), now)
	if _, _, ok := l.get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	l.put("c", []byte("cccc"), now) // 12 bytes > 10: b goes
	if _, _, ok := l.get("b"); ok {
		t.Fatal("b kept beyond the byte bound")
	}
	if b, _, ok := l.get("a"); !ok || string(b) != "aaaa" {
		t.Fatalf("a: %q %v", b, ok)
	}
	l.put("big", make([]byte, 11), now)
	if _, _, ok := l.get("big"); ok || l.bytes > 10 {
		t.Fatalf("a body over the bound was kept (%d bytes)", l.bytes)
	}
	now = now.Add(time.Second)
	if _, _, ok := l.get("a"); ok {
		t.Fatal("a served after its ttl")
	}
	if l.bytes != 4 || len(l.byKey) != 1 {
		t.Fatalf("%d bytes in %d entries, want c's 4", l.bytes, len(l.byKey))
	}
}

// With KeepLocal, a second lookup of a hit reads nothing from Redis, and a change in Redis shows
// once the copy's ttl is over.
func TestTokenCacheKeepLocal(t *testing.T) {
	rdb := redistest.Claim(t)
	keys := NewKeys(fmt.Sprintf("local-%d:", time.Now().UnixNano()))
	ctx := context.Background()
	c := NewTokenCache(rdb, keys)
	c.KeepLocal(time.Second, 1<<20)
	now := time.Now()
	c.local.now = func() time.Time { return now }
	other := NewTokenCache(rdb, keys) // another process
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := other.Store(ctx, "cardano", "1", "snek", "", []byte(`{"v":1}`), at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := c.Read("cardano", "1", "snek", ""); r.answered() {
		t.Fatal("answered in process before any read")
	}
	if b, _, err := c.Lookup(ctx, "cardano", "1", "snek", ""); err != nil || string(b) != `{"v":1}` {
		t.Fatalf("first lookup: %q %v", b, err)
	}
	if err := other.Store(ctx, "cardano", "1", "snek", "", []byte(`{"v":2}`), at, time.Minute); err != nil {
		t.Fatal(err)
	}
	r := c.Read("cardano", "1", "snek", "")
	b, got, err := r.Result(ctx)
	if !r.answered() || err != nil || string(b) != `{"v":1}` || !got.Equal(at) {
		t.Fatalf("within the ttl: answered %v, %q %v %v; want the copy", r.answered(), b, got, err)
	}
	now = now.Add(time.Second)
	if b, _, _ := c.Lookup(ctx, "cardano", "1", "snek", ""); string(b) != `{"v":2}` {
		t.Fatalf("after the ttl: %q, want the refreshed answer", b)
	}
	// Forget: an analysis this process ran is read back from Redis at once.
	if err := other.Store(ctx, "cardano", "1", "snek", "", []byte(`{"v":3}`), at, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Forget("cardano", "1", "snek", "")
	if b, _, _ := c.Lookup(ctx, "cardano", "1", "snek", ""); string(b) != `{"v":3}` {
		t.Fatalf("after Forget: %q, want the answer in Redis", b)
	}
	if miss := c.Read("cardano", "1", "other", ""); miss.answered() {
		t.Fatal("a miss answered in process")
	}
}
