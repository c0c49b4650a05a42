package main

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/internal/testwait"
)

type tokenEnv struct {
	base, key string
	chain     *blockfrostemu.Emulator
	spec      *specChecker
}

func newTokenEnv(t *testing.T, env ...string) *tokenEnv {
	t.Helper()
	chain := blockfrostemu.New("proj")
	chainURL := serveEmulator(t, chain.Start)
	llm := openaiemu.New("sk-test")
	llmURL := serveEmulator(t, llm.Start)
	env = append([]string{"REDIS_URL", testRedisURL(t), "OPENAI_API_KEY", "sk-test", "OPENAI_BASE_URL", llmURL,
		"BLOCKFROST_PROJECT_ID", "proj", "BLOCKFROST_URL", chainURL}, env...)
	_, base, key := startDev(t, env...)
	return &tokenEnv{base: base, key: key, chain: chain, spec: newSpecChecker(t, base)}
}

func (e *tokenEnv) analyse(t *testing.T, body string, hdr ...string) reply {
	t.Helper()
	return e.spec.call(t, "POST", e.base+"/token-analysis", e.key, body, hdr...)
}

// firstPageScans counts how many holder scans of unit the chain has seen.
func (e *tokenEnv) firstPageScans(unit string) int64 {
	var n int64
	for p, c := range e.chain.Stats().Paths {
		path, query, _ := strings.Cut(p, "?")
		q, _ := url.ParseQuery(query)
		if path == "/assets/"+unit+"/addresses" && (q.Get("page") == "1" || q.Get("page") == "") {
			n += c
		}
	}
	return n
}

var snekBody = `{"token":"SNEK","policyId":"` + blockfrostemu.SNEKPolicyID + `"}`

func TestTokenAnalysisVersionsAndCache(t *testing.T) {
	e := newTokenEnv(t)
	r := e.analyse(t, snekBody, "X-Request-Id", "first")
	if r.status != 200 || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("V1: %d %s %s", r.status, r.header.Get("X-Cache"), r.raw)
	}
	meta := r.body["_meta"].(map[string]any)
	if r.body["analysis"] == "" || r.body["riskLevel"] == "" || meta["from_cache"] != false || meta["request_id"] != "first" {
		t.Fatalf("V1 body %s", r.raw)
	}
	computed := meta["computed_at"]

	// The same token named differently (snake case, lower-case ticker) is the same cache entry.
	r = e.analyse(t, `{"tokenName":"snek","policy_id":"`+blockfrostemu.SNEKPolicyID+`"}`, "X-Request-Id", "second")
	meta = r.body["_meta"].(map[string]any)
	if r.status != 200 || r.header.Get("X-Cache") != "HIT" || meta["from_cache"] != true ||
		meta["request_id"] != "second" || meta["computed_at"] != computed {
		t.Fatalf("cache hit: %d %s %s", r.status, r.header.Get("X-Cache"), r.raw)
	}
	scans := e.firstPageScans(blockfrostemu.SNEKUnit)

	// X-API-Version wins over the body's version.
	r = e.analyse(t, `{"token":"SNEK","policyId":"`+blockfrostemu.SNEKPolicyID+`","api_version":"1"}`, "X-API-Version", "2")
	if r.status != 200 || r.body["api_version"] != "2" || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("V2 by header: %d %s", r.status, r.raw)
	}
	if e.firstPageScans(blockfrostemu.SNEKUnit) != scans {
		t.Error("V2 rescanned the holders although V1 had just cached them")
	}
	policy := r.body["policy"].(map[string]any)
	if policy["locked"] != true || policy["locked_since"].(map[string]any)["slot"] != float64(90915881) {
		t.Errorf("SNEK policy %v", policy)
	}
	r = e.analyse(t, `{"token":"SNEK","policyId":"`+blockfrostemu.SNEKPolicyID+`","apiVersion":2}`)
	if r.header.Get("X-Cache") != "HIT" || r.body["api_version"] != "2" {
		t.Fatalf("V2 from the body, cached: %s %s", r.header.Get("X-Cache"), r.raw)
	}

	// x-bypass-cache recomputes from the chain and refreshes the entry.
	r = e.analyse(t, snekBody, "x-bypass-cache", "1")
	if r.status != 200 || r.header.Get("X-Cache") != "MISS" || r.body["_meta"].(map[string]any)["computed_at"] == computed {
		t.Fatalf("bypass: %s %s", r.header.Get("X-Cache"), r.raw)
	}
	if e.firstPageScans(blockfrostemu.SNEKUnit) != scans+1 {
		t.Errorf("bypass scanned the holders %d times, want once", e.firstPageScans(blockfrostemu.SNEKUnit)-scans)
	}
	fresh := r.body["_meta"].(map[string]any)["computed_at"]
	if r = e.analyse(t, snekBody); r.body["_meta"].(map[string]any)["computed_at"] != fresh {
		t.Errorf("the bypass did not refresh the cache: %s", r.raw)
	}

	// Async: 202, then the job holds the same body.
	r = e.analyse(t, `{"token":"`+blockfrostemu.SNEKUnit+`"}`, "Prefer", "respond-async", "x-bypass-cache", "1")
	if r.status != 202 {
		t.Fatalf("async: %d %s", r.status, r.raw)
	}
	var job reply
	testwait.For(t, "the async analysis", 60*time.Second, func() bool {
		job = e.spec.call(t, "GET", e.base+"/jobs/"+r.body["job_id"].(string), e.key, "")
		return job.body["status"] == "succeeded"
	})
	if res := job.body["result"].(map[string]any); res["token"] != blockfrostemu.SNEKUnit || res["analysis"] == "" {
		t.Fatalf("async result %s", job.raw)
	}
}

func TestTokenAnalysisRejectsBadRequests(t *testing.T) {
	e := newTokenEnv(t)
	for _, tc := range []struct {
		body, header, want string
		status             int
	}{
		{`{}`, "", "token is required", 400},
		{`{"policyId":"` + blockfrostemu.SNEKPolicyID + `"}`, "", "token is required", 400},
		{`{"token":"SNEK","policyId":"abc"}`, "", "policyId must be 56 hexadecimal", 400},
		{`{"token":"SNEK","policyId":"` + strings.Repeat("z", 56) + `"}`, "", "policyId must be 56 hexadecimal", 400},
		{`{"token":"SNEK","assetNameHex":"xyz1"}`, "", "assetNameHex must be hexadecimal", 400},
		{`{"token":"SNEK","asset_name_hex":"` + strings.Repeat("ab", 33) + `"}`, "", "at most 32 bytes", 400},
		{`{"token":"SNEK","network":"ethereum"}`, "", "this service analyses cardano", 400},
		{`{"token":"SNEK","network":"cardano-preprod"}`, "", "Unsupported network", 400},
		{`{"token":"SNEK"}`, "3", "Unsupported api_version", 400},
		{`{"token":"SNEK","api_version":"7"}`, "", "Unsupported api_version", 400},
		{`{"token":5}`, "", "", 422},
		{`not json`, "", "", 422},
	} {
		hdr := []string{}
		if tc.header != "" {
			hdr = []string{"X-API-Version", tc.header}
		}
		r := e.analyse(t, tc.body, hdr...)
		if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
			t.Errorf("%s (X-API-Version %q): %d %s, want %d with %q", tc.body, tc.header, r.status, r.raw, tc.status, tc.want)
		}
	}
	if r := call(t, "POST", e.base+"/token-analysis", "", snekBody); r.status != 401 {
		t.Errorf("without a key: %d", r.status)
	}
}

func TestTokenAnalysisNotFoundAndOutage(t *testing.T) {
	e := newTokenEnv(t)
	r := e.analyse(t, `{"token":"NOSUCH","policyId":"`+blockfrostemu.SNEKPolicyID+`"}`)
	if r.status != 404 || !strings.Contains(r.raw, "Token not found") {
		t.Fatalf("unknown token: %d %s", r.status, r.raw)
	}
	for _, kind := range []blockfrostemu.FaultKind{blockfrostemu.FaultDailyLimit, blockfrostemu.FaultBanned, blockfrostemu.FaultRateLimit} {
		e.chain.SetFaults(blockfrostemu.Fault{Kind: kind})
		r = e.analyse(t, snekBody, "x-bypass-cache", "1")
		if r.status != 503 || r.header.Get("Retry-After") == "" || strings.Contains(r.raw, "Limit") || strings.Contains(r.raw, "Banned") {
			t.Errorf("%s: %d Retry-After %q %s", kind, r.status, r.header.Get("Retry-After"), r.raw)
		}
	}
	e.chain.ClearFaults()
	if r = e.analyse(t, snekBody, "x-bypass-cache", "1"); r.status != 200 {
		t.Fatalf("after the outage: %d %s", r.status, r.raw)
	}
}

func TestTokenAnalysisConcurrentRequestsShareOneJob(t *testing.T) {
	e := newTokenEnv(t)
	// Slow chain answers keep the first analysis running while the others arrive.
	e.chain.SetFaults(blockfrostemu.Fault{Endpoint: "/assets/{asset}", Delay: 300 * time.Millisecond})
	var wg sync.WaitGroup
	jobIDs := make([]string, 8)
	for i := range jobIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := call(t, "POST", e.base+"/token-analysis", e.key, snekBody, "X-API-Version", "2")
			if r.status != 200 {
				t.Errorf("request %d: %d %s", i, r.status, r.raw)
			}
			jobIDs[i] = r.header.Get("X-Job-Id")
		}()
	}
	wg.Wait()
	if n := e.firstPageScans(blockfrostemu.SNEKUnit); n != 1 {
		t.Errorf("8 identical concurrent requests scanned the holders %d times, want once", n)
	}
	seen := map[string]bool{}
	for _, id := range jobIDs {
		if id != "" {
			seen[id] = true
		}
	}
	if len(seen) > 1 {
		t.Errorf("identical concurrent requests ran %d jobs: %v", len(seen), jobIDs)
	}
}

func TestTokenAnalysisPartialHolderScan(t *testing.T) {
	e := newTokenEnv(t, "TOKEN_HOLDER_PAGES", "3")
	herd := e.chain.MustToken(blockfrostemu.TokenHerd)
	r := e.analyse(t, fmt.Sprintf(`{"token":"%s","api_version":"2"}`, herd.Unit))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	h := r.body["holders"].(map[string]any)
	scan := r.body["data_quality"].(map[string]any)["holders_scan"].(map[string]any)
	if h["complete"] != false || h["top_10_pct"] != nil || h["gini"] != nil || h["holder_count_is_lower_bound"] != true ||
		scan["complete"] != false || scan["pages_read"] != float64(3) {
		t.Fatalf("partial scan presented as complete: holders %v scan %v", h, scan)
	}
	r = e.analyse(t, fmt.Sprintf(`{"token":"%s"}`, herd.Unit))
	if r.body["marketData"].(map[string]any)["holderCount"] != nil {
		t.Errorf("V1 shows a holder count from a partial scan: %s", r.raw)
	}
}
