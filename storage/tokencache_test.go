package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func TestTokenCache(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys("tc:")
	c := storage.NewTokenCache(rdb, keys)
	at := time.Date(2026, 11, 30, 5, 0, 0, 123, time.UTC)
	unit, naming := "aa"+"00", "cardano\x00\x00\x00snek"

	if b, _, err := c.Lookup(ctx, "cardano", "1", naming, ""); err != nil || b != nil {
		t.Fatalf("empty cache: %q %v", b, err)
	}
	if err := c.Store(ctx, "cardano", "1", naming, unit, []byte(`{"x":1}`), at, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ naming, unit string }{{naming, ""}, {"", unit}} {
		b, got, err := c.Lookup(ctx, "cardano", "1", tc.naming, tc.unit)
		if err != nil || string(b) != `{"x":1}` || !got.Equal(at) {
			t.Fatalf("%+v: %q %v %v", tc, b, got, err)
		}
	}
	for _, tc := range []struct{ network, version string }{{"cardano", "2"}, {"cardano-preprod", "1"}} {
		if b, _, _ := c.Lookup(ctx, tc.network, tc.version, naming, ""); b != nil {
			t.Fatalf("%+v shares an entry it must not", tc)
		}
	}
	if ttl := rdb.PTTL(ctx, keys.TokenResult("cardano", "1", unit)).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("answer TTL %v, want (0, 1m]", ttl)
	}
	if ttl := rdb.PTTL(ctx, keys.TokenNamed("cardano", "1", naming)).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("named answer TTL %v, want (0, 1m]", ttl)
	}

	type part struct{ A string }
	var got part
	if c.LoadPart(ctx, "cardano", "holders", unit, &got) {
		t.Fatal("part found before it was stored")
	}
	if err := c.StorePart(ctx, "cardano", "holders", unit, part{"v"}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if !c.LoadPart(ctx, "cardano", "holders", unit, &got) || got.A != "v" {
		t.Fatalf("part %+v", got)
	}
	if ttl := rdb.PTTL(ctx, keys.TokenPart("cardano", "holders", unit)).Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("part TTL %v", ttl)
	}
	// A corrupt entry is a miss, never an error the caller has to handle.
	rdb.HSet(ctx, keys.TokenResult("cardano", "1", unit), "at", "not a time")
	if b, _, err := c.Lookup(ctx, "cardano", "1", "", unit); b != nil || err != nil {
		t.Fatalf("corrupt entry: %q %v", b, err)
	}
}
