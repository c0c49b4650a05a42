package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// roundTrips records the Redis round trips of a client: one entry per command or pipeline sent,
// naming its commands.
type roundTrips struct {
	mu    sync.Mutex
	trips [][]string
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.add([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.add(cmds)
		return next(ctx, cmds)
	}
}

func (r *roundTrips) add(cmds []redis.Cmder) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name()
	}
	r.mu.Lock()
	r.trips = append(r.trips, names)
	r.mu.Unlock()
}

func (r *roundTrips) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.trips
	r.trips = nil
	return out
}

// cachedToken stores an answer for {"token":"SNEK"} in the harness's token cache.
func cachedToken(t *testing.T, h *harness) {
	t.Helper()
	p := jobs.TokenAnalysisPayload{Token: "SNEK", Network: "cardano", APIVersion: "1"}
	body := `{"token":"SNEK","network":"cardano","analysis":"cached","riskLevel":"low",` +
		`"marketData":{"priceUsd":null,"marketCapUsd":null,"volume24hUsd":null,"liquidityUsd":null,"supply":"1"},` +
		`"dataQuality":{"coverage":1,"sourcesUsed":["chain"]}}`
	err := storage.NewTokenCache(h.rdb, storage.NewKeys("")).Store(context.Background(), p.Network, p.APIVersion, p.Naming(), "",
		[]byte(body), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
}

func withTokenCache(rdb *redis.Client, trips *roundTrips) func(*Config, *Deps) {
	return func(_ *Config, d *Deps) {
		keys := storage.NewKeys("")
		d.Tokens = storage.NewTokenCache(rdb, keys)
		d.Keys = storage.NewKeyStore(rdb, keys, time.Minute) // as deployed: lookups cached
		rdb.AddHook(trips)
	}
}

func newTokenHarness(t *testing.T) (*harness, *roundTrips) {
	t.Helper()
	trips := &roundTrips{}
	rdb := redistest.Claim(t)
	h := newHarnessOn(t, rdb, withTokenCache(rdb, trips))
	cachedToken(t, h)
	return h, trips
}

// An authenticated cache hit costs one Redis round trip: the rate limit and the cache read in
// one pipeline; the call is counted in process and shows in /usage.
func TestCachedTokenAnalysisIsOneRoundTrip(t *testing.T) {
	h, trips := newTokenHarness(t)
	_, plain := h.key(100, storage.ScopeTokenAnalysis)
	for i := range 3 {
		trips.take()
		res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", plain)
		if res.Status != http.StatusOK || res.Header.Get("X-Cache") != "HIT" || !strings.Contains(string(res.Body), `"cached"`) {
			t.Fatalf("call %d: %d X-Cache=%q %s", i+1, res.Status, res.Header.Get("X-Cache"), res.Body)
		}
		got := trips.take()
		if i == 0 {
			continue // the first call also looks the key up
		}
		if len(got) != 1 || !slices.Contains(got[0], "evalsha") || !slices.Contains(got[0], "hmget") {
			t.Fatalf("call %d: round trips %v, want one pipeline of the limit and the cache read", i+1, got)
		}
	}
	u := h.do("GET", "/usage", "", "api-key", plain).json(t)
	ep := u["usage"].(map[string]any)["by_endpoint"].(map[string]any)["/token-analysis"].(map[string]any)
	if u["lifetime_calls"] != float64(3) || ep["calls"] != float64(3) {
		t.Fatalf("usage after 3 cached calls: %v", u)
	}
}

// Riding along changes no decision: the limit refuses (429, Retry-After) a call the cache could
// answer, a scope still gates it, and a bad body of a refused call gets the 429 first.
func TestCachedTokenAnalysisKeepsTheGates(t *testing.T) {
	h, _ := newTokenHarness(t)
	k, plain := h.key(2, storage.ScopeTokenAnalysis)
	for i, want := range []int{200, 200, 429, 429} {
		body := `{"token":"SNEK"}`
		if i == 3 {
			body = `{"token":""}`
		}
		res := h.do("POST", "/token-analysis", body, "api-key", plain)
		if res.Status != want {
			t.Fatalf("call %d: %d, want %d: %s", i+1, res.Status, want, res.Body)
		}
		if want == 429 && res.Header.Get("Retry-After") == "" {
			t.Fatalf("call %d: 429 without Retry-After", i+1)
		}
	}
	_, other := h.key(100, storage.ScopeChat)
	if res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", other); res.Status != http.StatusForbidden {
		t.Fatalf("without the scope: %d %s", res.Status, res.Body)
	}
	_, fresh := h.key(100, storage.ScopeTokenAnalysis)
	if res := h.do("POST", "/token-analysis", `{"token":""}`, "api-key", fresh); res.Status != http.StatusBadRequest {
		t.Fatalf("bad body within the limit: %d %s", res.Status, res.Body)
	}
	// The key's own /usage would be refused by its limit: read what it would say.
	if u, err := h.srv.deps.Usage.Report(context.Background(), k.ID, time.Now()); err != nil || u.TotalCalls != 2 {
		t.Fatalf("usage = %+v, %v; want the 2 answered calls", u, err)
	}
}
