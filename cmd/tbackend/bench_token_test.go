package main

// Cache-hit throughput of POST /token-analysis (api-key check, rate limit, usage counting and
// the cache read all on) against GET /health in the same run, same process, same client:
//
//	go test -run '^$' -bench TokenCacheHit -benchtime 5000x ./cmd/tbackend/

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

func BenchmarkTokenCacheHit(b *testing.B) {
	e := newBenchEnv(b)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "bench-token", "--scopes", "token-analysis",
		"--rpm", "0", "--max-jobs", "-1", "--json"}, envOf("REDIS_URL", e.redisURL()), &out, io.Discard); err != nil {
		b.Fatal(err)
	}
	var k struct{ Key string }
	_ = json.Unmarshal(out.Bytes(), &k)
	body := `{"token":"SNEK","policyId":"` + blockfrostemu.SNEKPolicyID + `"}`
	token := func() *http.Request {
		req, _ := http.NewRequest("POST", e.base+"/token-analysis", strings.NewReader(body))
		req.Header.Set("api-key", k.Key)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	health := func() *http.Request {
		req, _ := http.NewRequest("GET", e.base+"/health", nil)
		return req
	}
	client := benchClient()
	defer closeClient(client)
	// Warm the cache (the dev Blockfrost emulator computes it once).
	res, err := client.Do(token())
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("warm-up: %d", res.StatusCode)
	}

	b.ResetTimer()
	h := loadRun(b, client, health, b.N, 8, "")
	t := loadRun(b, client, token, b.N, 8, "HIT")
	b.StopTimer()
	b.ReportMetric(h.rps, "health-req/s")
	b.ReportMetric(t.rps, "hit-req/s")
	b.ReportMetric(t.rps/h.rps, "hit/health-rps")
	b.ReportMetric(ms(h.p50), "health-p50-ms")
	b.ReportMetric(ms(h.p99), "health-p99-ms")
	b.ReportMetric(ms(t.p50), "hit-p50-ms")
	b.ReportMetric(ms(t.p99), "hit-p99-ms")
}

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
}

// loadRun sends n requests from conc goroutines and measures each. wantCache, when set, is the
// X-Cache every answer must carry.
func loadRun(b *testing.B, client *http.Client, req func() *http.Request, n, conc int, wantCache string) loadResult {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				res, err := client.Do(req())
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[i] = time.Since(t0)
				if res.StatusCode != 200 || (wantCache != "" && res.Header.Get("X-Cache") != wantCache) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, n)
	}
	slices.Sort(lat)
	return loadResult{rps: float64(n) / elapsed.Seconds(), p50: percentile(lat, 0.50), p99: percentile(lat, 0.99)}
}

// redisURL is the URL of the benchmark's Redis database.
func (e *benchEnv) redisURL() string {
	o := e.rdb.Options()
	return "redis://" + o.Addr + "/" + strconv.Itoa(o.DB)
}
