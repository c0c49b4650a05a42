package api

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/storage"
)

// A request id whose job was never queued is freed even when the caller has gone (the request's
// context is over), so that its retry runs.
func TestReleaseRequestOutlivesTheRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, claimed, err := h.srv.deps.Idempotency.Claim(ctx, "key:o", "req-1", "JOB1"); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	h.srv.releaseRequest(gone, "key:o", "req-1", "JOB1")
	if winner, claimed, err := h.srv.deps.Idempotency.Claim(ctx, "key:o", "req-1", "JOB2"); err != nil || !claimed {
		t.Fatalf("the id is still held by %s (claimed %v, %v)", winner, claimed, err)
	}
}

// A release that fails is logged: until the claim lapses, the caller's retries find a job that
// was never queued.
func TestReleaseRequestFailureIsLogged(t *testing.T) {
	var logs syncbuf.Buffer
	h := newHarness(t, func(_ *Config, d *Deps) {
		down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
		t.Cleanup(func() { _ = down.Close() })
		d.Idempotency = storage.NewIdempotency(down, storage.NewKeys(""), 0)
		d.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	h.srv.releaseRequest(context.Background(), "key:o", "req-1", "JOB1")
	if got := logs.String(); !strings.Contains(got, "release a request id") || !strings.Contains(got, "request_id=req-1") {
		t.Fatalf("no warning for the failed release; log:\n%s", got)
	}
}
