package api

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// newLocalTokenHarness is newTokenHarness as deployed: answers kept in process for a second.
func newLocalTokenHarness(t *testing.T, keyCache time.Duration) (*harness, *roundTrips) {
	t.Helper()
	trips := &roundTrips{}
	rdb := redistest.Claim(t)
	h := newHarnessOn(t, rdb, withTokenCache(rdb, trips), func(_ *Config, d *Deps) {
		d.Tokens.KeepLocal(time.Second, 1<<20)
		d.Keys = storage.NewKeyStore(rdb, storage.NewKeys(""), keyCache)
	})
	cachedToken(t, h)
	return h, trips
}

// A busy key's hot cache hits make no Redis round trip: the limit is spent from the api's lease
// (taken in growing batches: one round trip each, the script alone) and the answer comes from
// the in-process copy. The rate-limit headers still count down call by call.
func TestHotTokenAnalysisSkipsRedis(t *testing.T) {
	h, trips := newLocalTokenHarness(t, time.Minute)
	const rpm = 960 // leases of up to 16; a token back every 62.5 ms
	_, plain := h.key(rpm, storage.ScopeTokenAnalysis)
	call := func(i int) int {
		res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", plain)
		if res.Status != http.StatusOK || res.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("call %d: %d X-Cache=%q %s", i, res.Status, res.Header.Get("X-Cache"), res.Body)
		}
		n, err := strconv.Atoi(res.Header.Get("x-ratelimit-remaining"))
		if err != nil {
			t.Fatalf("call %d: x-ratelimit-remaining %q", i, res.Header.Get("x-ratelimit-remaining"))
		}
		return n
	}
	start := time.Now()
	prev, at := call(1), time.Now()
	trips.take()
	const calls = 24 // the lease of 16 taken at call 16 still holds 7
	for i := 2; i <= calls; i++ {
		n := call(i)
		// Each call spends one; only the bucket's refill since the last call may add any.
		if refill := int(time.Since(at)*rpm/time.Minute) + 1; n > prev-1+refill {
			t.Fatalf("call %d: remaining went from %d to %d", i, prev, n)
		}
		prev, at = n, time.Now()
	}
	// The header counts the lease's unspent tokens as the key's: calls spent, refill added.
	if refill := int(time.Since(start) * rpm / time.Minute); prev < rpm-calls || prev > rpm-calls+refill+1 {
		t.Fatalf("after %d calls remaining is %d, want %d (+%d refilled)", calls, prev, rpm-calls, refill)
	}
	got := trips.take()
	for _, trip := range got {
		if slices.Contains(trip, "hmget") || len(trip) != 1 {
			t.Fatalf("round trips %v: the answer was read from Redis again", got)
		}
	}
	if len(got) > 5 { // leases of 2, 4, 8 and 16
		t.Fatalf("%d round trips for %d hot calls, want at most 5: %v", len(got), calls-1, got)
	}
	t.Logf("%d calls, %d round trips: %v", calls-1, len(got), got)
}

// Leases change no refusal: a key that spends its budget gets 429 with Retry-After, having been
// admitted no more than its budget.
func TestLeasedKeyStillGets429(t *testing.T) {
	h, _ := newLocalTokenHarness(t, time.Minute)
	const rpm = 240 // leases of up to 4
	_, plain := h.key(rpm, storage.ScopeTokenAnalysis)
	start := time.Now()
	ok := 0
	for {
		res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", plain)
		if res.Status == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("429 with Retry-After %q", res.Header.Get("Retry-After"))
			}
			break
		}
		if res.Status != http.StatusOK {
			t.Fatalf("call %d: %d %s", ok+1, res.Status, res.Body)
		}
		ok++
		if ok > 2*rpm {
			t.Fatal("never refused")
		}
	}
	if refill := int(time.Since(start) * rpm / time.Minute); ok < rpm-leaseMax || ok > rpm+refill {
		t.Fatalf("%d calls admitted on a budget of %d (+%d refilled)", ok, rpm, refill)
	}
}

const leaseMax = 16

// A revoked key is refused although its api holds a lease of its tokens and the answer is in
// process: both sit behind the key check, whose own cache bounds revocation as before.
func TestRevokedKeyRefusedDespiteLeaseAndLocalAnswer(t *testing.T) {
	h, _ := newLocalTokenHarness(t, 0)
	k, plain := h.key(60000, storage.ScopeTokenAnalysis)
	for i := range 4 { // the lease grows past one token
		if res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", plain); res.Status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	if err := h.keys.Revoke(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	if res := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "api-key", plain); res.Status != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d %s", res.Status, res.Body)
	}
}
