package blockfrostemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

func TestParseFault(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]blockfrostemu.Fault{
		"rate_limit;retry_after=2s":             {Kind: blockfrostemu.FaultRateLimit, RetryAfter: 2 * time.Second},
		"server_error":                          {Kind: blockfrostemu.FaultServerError},
		"slow=300ms":                            {Delay: 300 * time.Millisecond},
		"slow=250":                              {Delay: 250 * time.Millisecond},
		"times=3; 500":                          {Kind: blockfrostemu.FaultServerError, Times: 3},
		"429;after=2;times=1":                   {Kind: blockfrostemu.FaultRateLimit, After: 2, Times: 1},
		"daily_limit":                           {Kind: blockfrostemu.FaultDailyLimit},
		"banned;endpoint=/assets/{asset}":       {Kind: blockfrostemu.FaultBanned, Endpoint: blockfrostemu.EndpointAsset},
		"mempool_full;path=/tx/submit":          {Kind: blockfrostemu.FaultMempoolFull, Path: "/tx/submit"},
		"drop":                                  {Kind: blockfrostemu.FaultDrop},
		"malformed;slow=1s":                     {Kind: blockfrostemu.FaultMalformed, Delay: time.Second},
		" server_error ; slow = 10ms ; times=1": {Kind: blockfrostemu.FaultServerError, Delay: 10 * time.Millisecond, Times: 1},
	} {
		got, err := blockfrostemu.ParseFault(spec)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", spec, got, err, want)
		}
		if back, err := blockfrostemu.ParseFault(got.String()); err != nil || back != got {
			t.Errorf("%q does not round-trip: %q → %+v %v", spec, got.String(), back, err)
		}
	}
	for _, bad := range []string{"explode", "slow=fast", "times=-1", "rate_limit;server_error", "colour=red", "after=x"} {
		if _, err := blockfrostemu.ParseFault(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Every fault kind, requested per request with the header.
func TestFaultHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := "/assets/" + blockfrostemu.SNEKUnit
	wantError(t, h.get(path, blockfrostemu.FaultHeader, "daily_limit"), 402, "Project Over Limit", "Usage is over limit.")
	wantError(t, h.get(path, blockfrostemu.FaultHeader, "banned"), 418, "Requested Banned", "IP has been auto-banned for flooding.")
	wantError(t, h.get(path, blockfrostemu.FaultHeader, "server_error"), 500, "Internal Server Error",
		"An unexpected response was received from the backend.")
	r := h.get(path, blockfrostemu.FaultHeader, "rate_limit;retry_after=2500ms")
	wantError(t, r, 429, "Project Over Limit", "Usage is over limit.")
	if r.header.Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if r := h.get(path, blockfrostemu.FaultHeader, "rate_limit"); r.header.Get("Retry-After") != "1" {
		t.Fatalf("default Retry-After %q", r.header.Get("Retry-After"))
	}
	raw := []byte{0x84, 0xa0, 0xa0, 0xf5, 0xf6}
	r = h.do("POST", "/tx/submit", "application/cbor", raw, map[string]string{blockfrostemu.FaultHeader: "mempool_full"})
	wantError(t, r, 425, "Mempool Full", "Mempool is full, please try resubmitting again later.")

	// slow: the answer is right, just late.
	start := time.Now()
	r = h.get(path, blockfrostemu.FaultHeader, "slow=150ms")
	if el := time.Since(start); el < 150*time.Millisecond || r.status != 200 {
		t.Fatalf("slow: %v %d", el, r.status)
	}
	// slow + error.
	start = time.Now()
	r = h.get(path, blockfrostemu.FaultHeader, "server_error;slow=100ms")
	if el := time.Since(start); el < 100*time.Millisecond || r.status != 500 {
		t.Fatalf("slow error: %v %d", el, r.status)
	}
	// malformed: a 200 whose JSON is cut.
	r = h.get(path, blockfrostemu.FaultHeader, "malformed")
	var v any
	if r.status != 200 || json.Unmarshal(r.body, &v) == nil || !strings.HasPrefix(string(r.body), `{"asset":"`) {
		t.Fatalf("malformed: %d %.80s", r.status, r.body)
	}
	// drop: no answer at all.
	req, _ := http.NewRequestWithContext(ctx(t), "GET", h.base+path, nil)
	req.Header.Set("project_id", testProject)
	req.Header.Set(blockfrostemu.FaultHeader, "drop")
	// A fresh connection: on a reused one net/http would retry the GET once by itself.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := fresh.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("drop answered %d", res.StatusCode)
	}
	// A bad spec is the test's bug: 400 naming the header.
	r = h.get(path, blockfrostemu.FaultHeader, "explode")
	wantError(t, r, 400, "Bad Request", "")
	if !strings.Contains(string(r.body), blockfrostemu.FaultHeader) {
		t.Fatalf("bad fault: %s", r.body)
	}
	// An endpoint-scoped header fault leaves other endpoints alone.
	if r := h.get("/blocks/latest", blockfrostemu.FaultHeader, "server_error;endpoint=/assets/{asset}"); r.status != 200 {
		t.Fatalf("scoped header fault hit another endpoint: %d", r.status)
	}
	if s := h.emu.Stats(); s.Faults != 10 {
		t.Fatalf("Faults = %d, want 10", s.Faults)
	}
}

// times=N with the header: a client that retries with the same header sees N failures, then
// the answer — how a test checks a retry policy.
func TestFaultHeaderTimesDrivesRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := "rate_limit;times=2;retry_after=1s"
	var statuses []int
	for i := 0; i < 4; i++ {
		statuses = append(statuses, h.get("/blocks/latest", blockfrostemu.FaultHeader, spec).status)
	}
	if statuses[0] != 429 || statuses[1] != 429 || statuses[2] != 200 || statuses[3] != 200 {
		t.Fatalf("statuses %v", statuses)
	}
	// after=1;times=1: one success, one failure, then successes.
	statuses = statuses[:0]
	for i := 0; i < 3; i++ {
		statuses = append(statuses, h.get("/blocks/latest", blockfrostemu.FaultHeader, "server_error;after=1;times=1").status)
	}
	if statuses[0] != 200 || statuses[1] != 500 || statuses[2] != 200 {
		t.Fatalf("after/times statuses %v", statuses)
	}
	// The real client gets Blockfrost's typed errors.
	client := blockfrost.NewAPIClient(blockfrost.APIClientOptions{ProjectID: testProject, Server: h.base,
		Client: &http.Client{Transport: headerTransport{blockfrostemu.FaultHeader, "server_error;times=1;endpoint=/blocks/latest"}}})
	_, err := client.BlockLatest(ctx(t))
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("client error %v", err)
	}
	if ise, ok := apiErr.Response.(blockfrost.InternalServerError); !ok || ise.StatusCode != 500 {
		t.Fatalf("client error %#v", apiErr.Response)
	}
	if _, err := client.BlockLatest(ctx(t)); err != nil {
		t.Fatalf("the retry should pass: %v", err)
	}
}

type headerTransport struct{ k, v string }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(t.k, t.v)
	return http.DefaultTransport.RoundTrip(r)
}

// Emulator-wide faults, set at run time, with scope and budgets.
func TestRuntimeFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	herd := h.emu.MustToken(blockfrostemu.TokenHerd)
	h.emu.SetFaults(
		blockfrostemu.Fault{Kind: blockfrostemu.FaultRateLimit, Endpoint: blockfrostemu.EndpointAssetAddresses, Times: 2, RetryAfter: 2 * time.Second},
		blockfrostemu.Fault{Kind: blockfrostemu.FaultServerError, Path: "/assets/" + herd.Unit},
	)
	r := h.get("/assets/" + herd.Unit + "/addresses")
	wantError(t, r, 429, "Project Over Limit", "")
	if r.header.Get("Retry-After") != "2" || !strings.Contains(r.header.Get(blockfrostemu.FaultHeader), "rate_limit") {
		t.Fatalf("headers %v", r.header)
	}
	_, err := h.api.AssetAddresses(ctx(t), herd.Unit, blockfrost.APIQueryParams{})
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("client error %v", err)
	}
	if ol, ok := apiErr.Response.(blockfrost.OverusageLimit); !ok || ol.StatusCode != 429 {
		t.Fatalf("client error %#v", apiErr.Response)
	}
	if r := h.get("/assets/" + herd.Unit + "/addresses"); r.status != 200 {
		t.Fatalf("after the budget: %d", r.status)
	}
	wantError(t, h.get("/assets/"+herd.Unit), 500, "Internal Server Error", "")
	if r := h.get("/assets/" + blockfrostemu.SNEKUnit); r.status != 200 {
		t.Fatalf("path-scoped fault hit another asset: %d", r.status)
	}
	h.emu.AddFault(blockfrostemu.Fault{Kind: blockfrostemu.FaultDailyLimit})
	wantError(t, h.get("/blocks/latest"), 402, "Project Over Limit", "")
	h.emu.ClearFaults()
	for _, p := range []string{"/blocks/latest", "/assets/" + herd.Unit} {
		if r := h.get(p); r.status != 200 {
			t.Fatalf("after ClearFaults %s: %d", p, r.status)
		}
	}
	// A slow emulator-wide fault, and the header still wins over it.
	h.emu.SetFaults(blockfrostemu.Fault{Delay: 120 * time.Millisecond})
	start := time.Now()
	if r := h.get("/health"); r.status != 200 || time.Since(start) < 120*time.Millisecond {
		t.Fatal("slow runtime fault")
	}
	if r := h.get("/health", blockfrostemu.FaultHeader, "banned"); r.status != 418 {
		t.Fatalf("header over runtime fault: %d", r.status)
	}
	// Faults reach the submit endpoint too.
	h.emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultMempoolFull, Endpoint: blockfrostemu.EndpointTxSubmit})
	_, err = h.api.TransactionSubmit(ctx(t), []byte{0x84})
	if !errors.As(err, &apiErr) || !strings.Contains(apiErr.Error(), "425") && !strings.Contains(apiErr.Error(), "Mempool") {
		t.Fatalf("mempool_full through the client: %v", err)
	}
	h.emu.ClearFaults()
	// A client that gives up on a slow answer: the emulator notices and stops.
	h.emu.SetFaults(blockfrostemu.Fault{Delay: 5 * time.Second, Endpoint: blockfrostemu.EndpointBlockLatest})
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.api.BlockLatest(c); err == nil {
		t.Fatal("no timeout")
	}
	wait, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := h.emu.WaitFor(wait, func(s blockfrostemu.Stats) bool { return s.InFlight[blockfrostemu.EndpointBlockLatest] == 0 }); err != nil {
		t.Fatal(err)
	}
}

// Counters let tests assert caching (no second call) and "no stampede" (one upstream scan for
// many concurrent identical requests).
func TestCounters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	herd := h.emu.MustToken(blockfrostemu.TokenHerd)
	for i := 0; i < 3; i++ {
		h.get("/assets/" + herd.Unit + "/addresses?page=2&count=50")
	}
	h.get("/assets/" + herd.Unit + "/addresses?count=50&page=3")
	h.get("/assets/" + herd.Unit)
	h.get("/nope")
	s := h.emu.Stats()
	if s.Requests[blockfrostemu.EndpointAssetAddresses] != 4 || s.Requests[blockfrostemu.EndpointAsset] != 1 ||
		s.Requests[blockfrostemu.EndpointUnknown] != 1 || s.Total != 6 {
		t.Fatalf("requests %+v total %d", s.Requests, s.Total)
	}
	if n := h.emu.PathRequests("/assets/" + herd.Unit + "/addresses?count=50&page=2"); n != 3 {
		t.Fatalf("PathRequests = %d, want 3 (query order does not matter)", n)
	}
	if n := h.emu.Requests(blockfrostemu.EndpointAssetAddresses); n != 4 {
		t.Fatalf("Requests = %d", n)
	}
	h.emu.ResetStats()
	if s := h.emu.Stats(); s.Total != 0 || len(s.Requests) != 0 {
		t.Fatalf("after reset %+v", s)
	}

	// Ten concurrent slow scans: the emulator sees all ten at once…
	h.emu.SetFaults(blockfrostemu.Fault{Delay: 150 * time.Millisecond, Endpoint: blockfrostemu.EndpointAssetAddresses})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = h.api.AssetAddresses(context.Background(), herd.Unit, blockfrost.APIQueryParams{})
		}()
	}
	wg.Wait()
	if s := h.emu.Stats(); s.MaxInFlight[blockfrostemu.EndpointAssetAddresses] != 10 || s.Requests[blockfrostemu.EndpointAssetAddresses] != 10 {
		t.Fatalf("stampede not visible: %+v", s.MaxInFlight)
	}
	// …while a caller that coalesces identical requests makes one.
	h.emu.ResetStats()
	var once sync.Once
	var shared []blockfrost.AssetAddress
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			once.Do(func() {
				shared, _ = h.api.AssetAddresses(context.Background(), herd.Unit, blockfrost.APIQueryParams{})
			})
		}()
	}
	wg.Wait()
	if s := h.emu.Stats(); s.MaxInFlight[blockfrostemu.EndpointAssetAddresses] != 1 || s.Requests[blockfrostemu.EndpointAssetAddresses] != 1 || len(shared) != 100 {
		t.Fatalf("coalesced: %+v %+v", s.Requests, s.MaxInFlight)
	}
	// WaitFor wakes on counter changes.
	done := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- h.emu.WaitFor(c, func(s blockfrostemu.Stats) bool { return s.Requests[blockfrostemu.EndpointBlockLatest] >= 2 })
	}()
	h.get("/blocks/latest")
	h.get("/blocks/latest")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := h.emu.WaitFor(c, func(s blockfrostemu.Stats) bool { return s.Total > 1000 }); err == nil {
		t.Fatal("WaitFor returned for an unmet condition")
	}
}
