package main

// Benchmarks of the chat streaming path through the real service: `tbackend dev` run in-process
// with run(), on the test Redis (redistest), against an openaiemu emulator the benchmark controls
// (no added latency). They report numbers with b.ReportMetric and assert no timings:
//
//	go test -run '^$' -bench ChatStream -benchtime 200x ./cmd/tbackend/
//	go test -run '^$' -bench ChatIdle -benchtime 1x ./cmd/tbackend/   (BENCH_IDLE_STREAMS=2000)
//
// startDev and newChatEnv take a *testing.T, so the benchmarks start the service with the
// testing.TB helpers below; they are otherwise the same (run(ctx, {"dev"}, …) on a claimed DB).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// tailBuffer keeps the last 32–64 KiB written to it: the service's log, kept for diagnostics
// without growing with the number of requests (which would distort the memory figures).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep, limit = 32 << 10, 64 << 10
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.b == nil {
		t.b = make([]byte, 0, limit)
	}
	q := p
	if len(q) > keep {
		q = q[len(q)-keep:]
	}
	if len(t.b)+len(q) > limit {
		n := copy(t.b, t.b[len(t.b)-(keep-len(q)):])
		t.b = t.b[:n]
	}
	t.b = append(t.b, q...)
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// benchEnv is `tbackend dev` on a claimed test Redis DB, talking to an emulator the benchmark
// controls, with an API key without a rate limit.
type benchEnv struct {
	base, key string
	emu       *openaiemu.Emulator
	emuURL    string // ends in /v1
	rdb       *redis.Client
	db        int
	stderr    *tailBuffer
}

func newBenchEnv(b *testing.B, env ...string) *benchEnv {
	b.Helper()
	emu := openaiemu.New("sk-test")
	emuURL := serveEmulator(b, emu.Start) // registered first: runs after the service has stopped
	rdb := redistest.Claim(b)
	o := rdb.Options()
	redisURL := fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)

	// The bootstrap key allows 600 requests a minute; the idle benchmark alone opens 2000 streams.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "bench", "--scopes", "chat", "--rpm", "0",
		"--max-jobs", "-1", "--max-streams", "-1", "--json"},
		envOf("REDIS_URL", redisURL), &out, io.Discard); err != nil {
		b.Fatalf("keys create: %v", err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out.Bytes(), &k); err != nil || k.Key == "" {
		b.Fatalf("keys create --json: %v: %s", err, out.String())
	}

	env = append([]string{"HTTP_ADDR", "127.0.0.1:0", "STORAGE_DIR", b.TempDir(), "LOG_LEVEL", "info",
		"DEV_WALLET", filepath.Join(b.TempDir(), "dev-wallet.skey"), "REDIS_URL", redisURL, "OPENAI_API_KEY", "sk-test", "OPENAI_BASE_URL", emuURL}, env...)
	// Knobs for looking into a result: BENCH_LOG_LEVEL, BENCH_WORKER_POLL_INTERVAL, and
	// BENCH_SERVICE_LOG (a file that receives the service's whole log); for the idle benchmark
	// also BENCH_IDLE_HEAPPROFILE (a heap profile written with all streams open).
	for _, kv := range [][2]string{{"BENCH_LOG_LEVEL", "LOG_LEVEL"}, {"BENCH_WORKER_POLL_INTERVAL", "WORKER_POLL_INTERVAL"}} {
		if v := os.Getenv(kv[0]); v != "" {
			env = append(env, kv[1], v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncbuf.Buffer{}, &tailBuffer{}
	var logw io.Writer = stderr
	if path := os.Getenv("BENCH_SERVICE_LOG"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() }) // registered before the service's: runs after it stopped
		logw = io.MultiWriter(stderr, f)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, envOf(env...), stdout, logw) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("the service stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			b.Errorf("the service did not stop within 30 s; log tail:\n%s", stderr)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !upRE.MatchString(stdout.String()) {
		select {
		case err := <-done:
			done <- err
			b.Fatalf("the service ended before it was up: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no dev banner within 20 s; log tail:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &benchEnv{base: upRE.FindStringSubmatch(stdout.String())[1], key: k.Key, emu: emu, emuURL: emuURL,
		rdb: rdb, db: o.DB, stderr: stderr}
}

// benchClient is a keep-alive client without compression or proxy, like a typical SSE consumer.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   8,
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}

func closeClient(c *http.Client) { c.Transport.(*http.Transport).CloseIdleConnections() }

// chatRequest is a streamed POST /chat.
func (e *benchEnv) chatRequest(message string) *http.Request {
	body, _ := json.Marshal(map[string]any{"stream": true, "message": message})
	req, _ := http.NewRequest("POST", e.base+"/chat", bytes.NewReader(body))
	req.Header.Set("api-key", e.key)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// directRequest is the streamed completion the worker sends upstream for message, sent straight
// to the emulator (the baseline).
func (e *benchEnv) directRequest(message string) *http.Request {
	body, _ := json.Marshal(map[string]any{
		"model":          "gpt-4o-mini",
		"messages":       []map[string]string{{"role": "user", "content": message}},
		"max_tokens":     2048,
		"stream":         true,
		"stream_options": map[string]bool{"include_usage": true},
	})
	req, _ := http.NewRequest("POST", e.emuURL+"/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-test")
	req.Header.Set("Content-Type", "application/json")
	return req
}

// apiContent tells a content event of the api ("data: {…"type":"content"…}").
func apiContent(line []byte) bool {
	return bytes.HasPrefix(line, []byte("data: {")) && bytes.Contains(line, []byte(`"type":"content"`))
}

// directContent tells an upstream chunk that carries text (not the role chunk, whose content is
// "", nor the finish or usage chunks).
func directContent(line []byte) bool {
	const marker = `"delta":{"content":"`
	i := bytes.Index(line, []byte(marker))
	return bytes.HasPrefix(line, []byte("data: {")) && i >= 0 && i+len(marker) < len(line) && line[i+len(marker)] != '"'
}

// streamTiming is what one streamed request measured, since just before the request was sent.
type streamTiming struct {
	first, last time.Duration // first and last content event
	contents    int
}

// timeStream sends req, reads the event stream to its end (so the connection is reused) and
// times the content events.
func timeStream(c *http.Client, req *http.Request, isContent func([]byte) bool) (streamTiming, error) {
	var st streamTiming
	t0 := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return st, fmt.Errorf("%s %s: %d %.300s", req.Method, req.URL, res.StatusCode, b)
	}
	rd := bufio.NewReaderSize(res.Body, 64<<10)
	done := false
	for {
		line, err := rd.ReadSlice('\n')
		if isContent(line) {
			at := time.Since(t0)
			if st.contents == 0 {
				st.first = at
			}
			st.last = at
			st.contents++
		}
		switch {
		case bytes.HasPrefix(line, []byte("data: [DONE]")):
			done = true
		case bytes.HasPrefix(line, []byte("data: {")) && bytes.Contains(line, []byte(`"type":"error"`)):
			return st, fmt.Errorf("error frame: %s", line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read stream: %w", err)
		}
	}
	if !done {
		return st, errors.New("the stream ended without [DONE]")
	}
	if st.contents == 0 {
		return st, errors.New("the stream had no content event")
	}
	return st, nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkChatStreamTTFB measures time to the first content event of a streamed chat through
// the whole service (client → api → queue → worker → emulator → Redis → api → client) and, in the
// same run and interleaved with it, of the same completion asked of the emulator directly. The
// added figures are differences of percentiles (api p50 − direct p50, api p99 − direct p99), not
// percentiles of per-request differences.
func BenchmarkChatStreamTTFB(b *testing.B) {
	e := newBenchEnv(b)
	api, direct := benchClient(), benchClient()
	defer closeClient(api)
	defer closeClient(direct)
	const msg = "How long until the first token arrives?"
	for range 5 { // warm-up: connections, pools, the worker's upstream connection
		if _, err := timeStream(api, e.chatRequest(msg), apiContent); err != nil {
			b.Fatalf("warm-up via the api: %v\n%s", err, e.stderr)
		}
		if _, err := timeStream(direct, e.directRequest(msg), directContent); err != nil {
			b.Fatalf("warm-up direct: %v", err)
		}
	}
	apiT := make([]time.Duration, 0, b.N)
	dirT := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		// Alternate the order, so neither path always runs right after the other's burst.
		for k := range 2 {
			if (i+k)%2 == 0 {
				st, err := timeStream(api, e.chatRequest(msg), apiContent)
				if err != nil {
					b.Fatalf("via the api: %v\n%s", err, e.stderr)
				}
				apiT = append(apiT, st.first)
			} else {
				st, err := timeStream(direct, e.directRequest(msg), directContent)
				if err != nil {
					b.Fatalf("direct: %v", err)
				}
				dirT = append(dirT, st.first)
			}
		}
	}
	b.StopTimer()
	slices.Sort(apiT)
	slices.Sort(dirT)
	a50, a99, d50, d99 := percentile(apiT, .50), percentile(apiT, .99), percentile(dirT, .50), percentile(dirT, .99)
	b.ReportMetric(ms(a50), "ttfb-api-p50-ms")
	b.ReportMetric(ms(a99), "ttfb-api-p99-ms")
	b.ReportMetric(ms(d50), "ttfb-direct-p50-ms")
	b.ReportMetric(ms(d99), "ttfb-direct-p99-ms")
	b.ReportMetric(ms(a50-d50), "ttfb-added-p50-ms")
	b.ReportMetric(ms(a99-d99), "ttfb-added-p99-ms")
}

// BenchmarkChatStreamPerFrame measures the relay's cost per frame: a 400-word message comes back
// echoed as ~410 content frames, and the inter-arrival of content frames (last − first, over the
// number of gaps, summed over all streams) is compared with the same completion read straight
// from the emulator, which writes its chunks back to back.
func BenchmarkChatStreamPerFrame(b *testing.B) {
	e := newBenchEnv(b)
	api, direct := benchClient(), benchClient()
	defer closeClient(api)
	defer closeClient(direct)
	words := make([]string, 400)
	for i := range words {
		words[i] = []string{"lorem", "ipsum", "dolor", "sit", "amet"}[i%5]
	}
	msg := strings.Join(words, " ")
	for range 2 {
		if _, err := timeStream(api, e.chatRequest(msg), apiContent); err != nil {
			b.Fatalf("warm-up via the api: %v\n%s", err, e.stderr)
		}
		if _, err := timeStream(direct, e.directRequest(msg), directContent); err != nil {
			b.Fatalf("warm-up direct: %v", err)
		}
	}
	var apiSpan, dirSpan time.Duration
	var apiGaps, dirGaps, apiFrames int
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			if (i+k)%2 == 0 {
				st, err := timeStream(api, e.chatRequest(msg), apiContent)
				if err != nil {
					b.Fatalf("via the api: %v\n%s", err, e.stderr)
				}
				apiSpan += st.last - st.first
				apiGaps += st.contents - 1
				apiFrames += st.contents
			} else {
				st, err := timeStream(direct, e.directRequest(msg), directContent)
				if err != nil {
					b.Fatalf("direct: %v", err)
				}
				dirSpan += st.last - st.first
				dirGaps += st.contents - 1
			}
		}
	}
	b.StopTimer()
	us := func(d time.Duration, n int) float64 {
		return float64(d) / float64(time.Microsecond) / float64(max(n, 1))
	}
	b.ReportMetric(us(apiSpan, apiGaps), "frame-api-us")
	b.ReportMetric(us(dirSpan, dirGaps), "frame-direct-us")
	b.ReportMetric(us(apiSpan, apiGaps)-us(dirSpan, dirGaps), "frame-added-us")
	b.ReportMetric(float64(apiFrames)/float64(b.N), "frames/stream")
}

// memInUse is HeapInuse+StackInuse after two collections.
func memInUse() uint64 {
	m := memStats()
	return m.HeapInuse + m.StackInuse
}

func memStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// openMany opens len(out) streams with mk(i), at most 64 of them being dialed and written at a
// time (the limit is released once a request is written, not when its headers arrive), and
// returns when every response's headers are in.
func openMany(c *http.Client, out []*http.Response, mk func(i int) *http.Request) error {
	sem := make(chan struct{}, 64)
	errs := make(chan error, len(out))
	var wg sync.WaitGroup
	for i := range out {
		sem <- struct{}{}
		var once sync.Once
		release := func() { once.Do(func() { <-sem }) }
		req := mk(i)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(),
			&httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { release() }}))
		wg.Go(func() {
			defer release()
			res, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			if res.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				errs <- fmt.Errorf("stream %d: %d %.300s", i, res.StatusCode, body)
				return
			}
			out[i] = res
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return fmt.Errorf("%d of %d streams failed to open; first: %w", len(all), len(out), all[0])
	}
	return nil
}

func closeAll(rs []*http.Response) {
	for _, r := range rs {
		if r != nil {
			r.Body.Close()
		}
	}
}

// clientCostPerStream measures what n idle SSE client connections (the same client, the same
// request, the same response headers) cost this process: they are opened against a trivial
// server that answers the headers and then holds the connection without a goroutine per
// connection, so the difference is the client side plus a few hundred bytes per accepted
// connection (net.TCPConn, netFD; poll descriptors are allocated off heap).
func clientCostPerStream(n int, header http.Header, mk func(base string) *http.Request) (float64, error) {
	var head strings.Builder
	head.WriteString("HTTP/1.1 200 OK\r\n")
	for k, vs := range header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	resp := []byte(head.String())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var mu sync.Mutex
	conns := make([]net.Conn, 0, n)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // reads the request, answers the headers, and ends
				if serveHeadOnly(c, resp) != nil {
					c.Close()
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}()
		}
	}()
	c := benchClient()
	defer closeClient(c)
	res := make([]*http.Response, n)
	base := "http://" + ln.Addr().String()
	before := memInUse()
	if err := openMany(c, res, func(int) *http.Request { return mk(base) }); err != nil {
		closeAll(res)
		return 0, err
	}
	after := memInUse()
	closeAll(res)
	return (float64(after) - float64(before)) / float64(n), nil
}

// serveHeadOnly reads one HTTP/1.1 request with a Content-Length body and writes resp.
func serveHeadOnly(c net.Conn, resp []byte) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rd := bufio.NewReader(c)
	length := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, rd, int64(length)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Time{})
	_, err := c.Write(resp)
	return err
}

// redisConns counts the service's connections to the test Redis: CLIENT LIST entries whose db=
// is the claimed DB, less the benchmark's own client on that DB; pubsub those of TYPE pubsub;
// maxChannels the most channels one pub/sub connection is subscribed to.
type redisConns struct{ total, pubsub, maxChannels int }

func (e *benchEnv) redisConns(ctx context.Context, probe *redis.Conn) (redisConns, error) {
	var rc redisConns
	db := "db=" + strconv.Itoa(e.db)
	all, err := probe.ClientList(ctx).Result()
	if err != nil {
		return rc, err
	}
	for line := range strings.Lines(all) {
		if slices.Contains(strings.Fields(line), db) {
			rc.total++
		}
	}
	rc.total -= int(e.rdb.PoolStats().TotalConns) // the benchmark's (the probe among them)
	ps, err := probe.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		return rc, err
	}
	for line := range strings.Lines(ps) {
		fields := strings.Fields(line)
		if !slices.Contains(fields, db) {
			continue
		}
		rc.pubsub++
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "sub="); ok {
				n, _ := strconv.Atoi(v)
				rc.maxChannels = max(rc.maxChannels, n)
			}
		}
	}
	return rc, nil
}

// subscribed counts the channels among chans that have a subscriber (PUBSUB NUMSUB; channels
// are global to the server, so the count is taken on the streams' own channels, not a pattern).
func subscribed(ctx context.Context, rdb redis.Cmdable, chans []string) (int, error) {
	n := 0
	for batch := range slices.Chunk(chans, 500) {
		m, err := rdb.PubSubNumSub(ctx, batch...).Result()
		if err != nil {
			return 0, err
		}
		for _, c := range batch {
			if m[c] > 0 {
				n++
			}
		}
	}
	return n, nil
}

// BenchmarkChatIdleStreams opens BENCH_IDLE_STREAMS (default 2000) concurrent streams on one
// `tbackend dev` process, each stalled upstream before its first token (the worker runs 32 at a
// time, the rest wait in the queue: the api side is what is measured), and reports the process's
// Redis connections and memory per idle stream; then it closes them all and checks that every
// job ends canceled and nothing stays open upstream.
//
// Memory: this process hosts the api, the worker, the emulator and the N HTTP clients.
//   - bytes-per-stream-total = (HeapInuse+StackInuse with N streams − before any) / N.
//   - bytes-per-stream-client: the same N client connections, measured first against a trivial
//     server that holds connections without goroutines (see clientCostPerStream).
//   - bytes-per-stream-api = (mem with N streams − mem with the first 32 streams) / (N − 32)
//     − bytes-per-stream-client. Taking the difference above the first 32 streams leaves out the
//     worker and emulator: their cost is per running job (32, the worker's concurrency, reached
//     with the first 32 streams), while the other N−32 jobs only wait in Redis. What remains is
//     the api's per-stream state (fasthttp connection, relay goroutine and buffers, hub member
//     channel) plus the client's, which is subtracted.
//
// Redis: redis-conns-* and pubsub-conns count the whole dev process (api and worker share one
// go-redis client: up to 10 × GOMAXPROCS pooled connections plus up to 10 of its pipeline pool).
// Its two pub/sub connections are the api's Hub, which carries every stream's channel plus the
// job-notice channel (pubsub-max-channels = N + 1), and asynq's cancellation subscriber in the
// worker; an api process alone has the one.
//
// The figures are also logged, because a run that fails the wind-down checks prints no metrics
// line.
func BenchmarkChatIdleStreams(b *testing.B) {
	n := 2000
	if v := os.Getenv("BENCH_IDLE_STREAMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("BENCH_IDLE_STREAMS=%q: want a positive integer", v)
		}
	}
	const workers = 32 // WORKER_CONCURRENCY below
	// Two descriptors per stream (client and api ends, all in this process), two per running job
	// (worker → emulator), plus Redis, listeners and slack.
	need := uint64(2*n + 4*workers + 1024)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Max < need {
		b.Skipf("RLIMIT_NOFILE hard limit is %d, %d streams need about %d descriptors: raise the hard limit "+
			"(ulimit -Hn, LimitNOFILE=) or lower BENCH_IDLE_STREAMS", lim.Max, n, need)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatalf("raise RLIMIT_NOFILE to %d: %v", lim.Max, err)
		}
	}

	e := newBenchEnv(b, "OPENAI_FIRST_TOKEN_TIMEOUT", "5m", "WORKER_CONCURRENCY", strconv.Itoa(workers))
	ctx := context.Background()
	probe := e.rdb.Conn()
	defer probe.Close()

	// Warm-up: one stream end to end (pools, lazily built state); its headers are what the
	// trivial server of the client-side measurement answers.
	warm := benchClient()
	res, err := warm.Do(e.chatRequest("warm up"))
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("warm-up stream: %v %v\n%s", err, res, e.stderr)
	}
	header := res.Header.Clone()
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	closeClient(warm)

	before, err := e.redisConns(ctx, probe)
	if err != nil {
		b.Fatal(err)
	}
	// A burst of 64 concurrent streams grows the Redis pools (up to 10 × GOMAXPROCS connections
	// of 2 × 32 KiB buffers, and up to 10 pipeline connections of 2 × 128 KiB) and fasthttp's
	// worker pool before memory is measured: that is a fixed cost, not one per stream.
	gPre := runtime.NumGoroutine()
	warmClient := benchClient()
	var wg sync.WaitGroup
	warmErrs := make([]error, 64)
	for i := range warmErrs {
		wg.Go(func() { _, warmErrs[i] = timeStream(warmClient, e.chatRequest("warm up"), apiContent) })
	}
	wg.Wait()
	closeClient(warmClient)
	if err := errors.Join(warmErrs...); err != nil {
		b.Fatalf("concurrent warm-up: %v\n%s", err, e.stderr)
	}
	// fasthttp keeps idle connection workers for 10 s (checked every 10 s): let those of the
	// burst go, so that the baseline holds none that the streams would then reuse.
	for settle := time.Now().Add(25 * time.Second); runtime.NumGoroutine() > gPre+8 && time.Now().Before(settle); {
		time.Sleep(200 * time.Millisecond)
	}

	const stall = "[[openaiemu:stall;stall_for=240s]]"
	idleMessage := func(i int) string { return fmt.Sprintf("%s idle stream %d", stall, i) }
	clientPer, err := clientCostPerStream(n, header, func(base string) *http.Request {
		r := e.chatRequest(idleMessage(0))
		r.URL.Scheme, r.URL.Host, r.Host = "http", strings.TrimPrefix(base, "http://"), ""
		return r
	})
	if err != nil {
		b.Fatalf("client-side measurement: %v", err)
	}

	warmed, err := e.redisConns(ctx, probe)
	if err != nil {
		b.Fatal(err)
	}
	streams := make([]*http.Response, n)
	defer closeAll(streams)
	c := benchClient()
	defer closeClient(c)
	g0, ms0 := runtime.NumGoroutine(), memStats()
	m0 := ms0.HeapInuse + ms0.StackInuse
	b.ResetTimer()

	opened := time.Now()
	first := min(workers, n)
	if err := openMany(c, streams[:first], func(i int) *http.Request { return e.chatRequest(idleMessage(i)) }); err != nil {
		b.Fatalf("%v\n%s", err, e.stderr)
	}
	firstHeaders := time.Since(opened) // all written at once: about the slowest time to headers
	waitUntil := func(what string, d time.Duration, ok func() (bool, error)) {
		b.Helper()
		deadline := time.Now().Add(d)
		for {
			done, err := ok()
			if err != nil {
				b.Fatalf("waiting for %s: %v", what, err)
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: not within %s (stats %+v)\nlog tail:\n%s", what, d, e.emu.Stats(), e.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("the first streams running upstream", 60*time.Second, func() (bool, error) {
		return e.emu.OpenStreams() == int64(first), nil
	})
	mFirst := memInUse()
	if err := openMany(c, streams[first:], func(i int) *http.Request { return e.chatRequest(idleMessage(first + i)) }); err != nil {
		b.Fatalf("%v\n%s", err, e.stderr)
	}
	headers := time.Since(opened)
	chans := make([]string, n)
	for i, r := range streams {
		chans[i] = storage.NewKeys("").StreamChannel(r.Header.Get("X-Job-Id"))
	}
	waitUntil("every stream's relay subscribed", 60*time.Second, func() (bool, error) {
		k, err := subscribed(ctx, probe, chans)
		return k == n, err
	})
	msN, gN := memStats(), runtime.NumGoroutine()
	mN := msN.HeapInuse + msN.StackInuse
	if path := os.Getenv("BENCH_IDLE_HEAPPROFILE"); path != "" { // where the bytes are, at the peak
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	with, err := e.redisConns(ctx, probe)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	total := (float64(mN) - float64(m0)) / float64(n)
	apiPer := total - clientPer
	if n > first {
		apiPer = (float64(mN)-float64(mFirst))/float64(n-first) - clientPer
	}
	b.ReportMetric(float64(n), "streams")
	b.ReportMetric(float64(before.total), "redis-conns-before")
	b.ReportMetric(float64(with.total), "redis-conns-with-streams")
	b.ReportMetric(float64(with.pubsub), "pubsub-conns")
	b.ReportMetric(float64(with.maxChannels), "pubsub-max-channels")
	b.ReportMetric(total, "bytes-per-stream-total")
	b.ReportMetric(clientPer, "bytes-per-stream-client")
	b.ReportMetric(apiPer, "bytes-per-stream-api")
	b.ReportMetric(float64(gN-g0)/float64(n), "goroutines-per-stream")
	b.ReportMetric(firstHeaders.Seconds(), "headers-first-32-s")
	b.ReportMetric(headers.Seconds(), "open-all-s")
	b.Logf("%d streams: Redis connections %d before (%d pub/sub), %d after a burst of 64 short streams, %d with the streams "+
		"(%d pub/sub, the busiest on %d channels); HeapInuse+StackInuse %d → %d bytes (%d with the first %d streams); "+
		"bytes per stream: total %.0f (heap %.0f, stacks %.0f), client %.0f, api %.0f; goroutines %d → %d; "+
		"first %d streams' headers after %s, all after %s",
		n, before.total, before.pubsub, warmed.total, with.total, with.pubsub, with.maxChannels, m0, mN, mFirst, first,
		total, (float64(msN.HeapInuse)-float64(ms0.HeapInuse))/float64(n), (float64(msN.StackInuse)-float64(ms0.StackInuse))/float64(n),
		clientPer, apiPer, g0, gN, first, firstHeaders.Round(time.Millisecond), headers.Round(time.Millisecond))

	// Close every stream: each relay notices on its next write (a heartbeat), leaves the channel
	// and, after the reattach grace, cancels its job (archived if still queued, canceled if
	// running). Everything must wind down: no job queued or running, no upstream stream open, no
	// channel subscribed. asynq's cancel signals are watched (from DB 0, so that the connection
	// counts above are not touched; pub/sub channels are global) to explain a job that stays.
	signals := watchCancelSignals(b, e.rdb.Options())
	closed := time.Now()
	closeAll(streams)
	closeClient(c)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	var qi *asynq.QueueInfo
	var open int64
	var subs int
	var relaysLeft time.Duration
	drained := false
	const drainLimit = 75 * time.Second // three heartbeats (15 s) and the reattach grace, with margin
	for deadline := time.Now().Add(drainLimit); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if qi, err = insp.GetQueueInfo(jobs.QueueDefault); err != nil {
			b.Fatal(err)
		}
		open = e.emu.OpenStreams()
		if subs, err = subscribed(ctx, probe, chans); err != nil {
			b.Fatal(err)
		}
		if subs == 0 && relaysLeft == 0 {
			relaysLeft = time.Since(closed)
		}
		if qi.Pending == 0 && qi.Active == 0 && qi.Retry == 0 && qi.Scheduled == 0 && open == 0 && subs == 0 {
			drained = true
			break
		}
	}
	drain := time.Since(closed)
	time.Sleep(500 * time.Millisecond) // let goroutines of the last cancellations return
	gAfter := runtime.NumGoroutine()
	b.ReportMetric(relaysLeft.Seconds(), "relays-gone-s")
	b.ReportMetric(drain.Seconds(), "drain-s")
	b.ReportMetric(float64(gAfter-g0), "goroutines-left")
	b.Logf("after closing: relays gone after %s, %s to drain; queue pending %d active %d retry %d archived %d completed %d; upstream streams open %d "+
		"(canceled %d); channels still subscribed %d; goroutines %d (before the streams %d)",
		relaysLeft.Round(time.Millisecond), drain.Round(time.Millisecond), qi.Pending, qi.Active, qi.Retry, qi.Archived, qi.Completed, open,
		e.emu.CanceledStreams(), subs, gAfter, g0)
	if !drained {
		var left []string
		if active, err := insp.ListActiveTasks(jobs.QueueDefault); err == nil {
			for _, t := range active {
				if at, ok := signals.at(t.ID); ok {
					left = append(left, fmt.Sprintf("%s (cancel signal sent %s after the clients left)", t.ID, at.Sub(closed).Round(time.Millisecond)))
				} else {
					left = append(left, t.ID+" (no cancel signal seen)")
				}
			}
		}
		b.Errorf("the service did not wind down within %s of the clients leaving: queue %+v, upstream streams open %d, "+
			"channels subscribed %d, jobs still running %v", drainLimit, *qi, open, subs, left)
	}
	if qi.Archived != n {
		b.Errorf("%d of %d jobs ended canceled (archived); completed %d", qi.Archived, n, qi.Completed)
	}
}

// cancelSignals records when asynq's cancel signal (its pub/sub channel) named each task.
type cancelSignals struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (c *cancelSignals) at(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.seen[id]
	return t, ok
}

func watchCancelSignals(b *testing.B, o *redis.Options) *cancelSignals {
	opts := *o
	opts.DB = 0
	rdb := redis.NewClient(&opts)
	ps := rdb.Subscribe(context.Background(), "asynq:cancel")
	if _, err := ps.Receive(context.Background()); err != nil {
		b.Fatalf("subscribe asynq:cancel: %v", err)
	}
	c := &cancelSignals{seen: map[string]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			c.mu.Lock()
			if _, ok := c.seen[m.Payload]; !ok {
				c.seen[m.Payload] = time.Now()
			}
			c.mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		_ = ps.Close()
		<-done
		_ = rdb.Close()
	})
	return c
}
