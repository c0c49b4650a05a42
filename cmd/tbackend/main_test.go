package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/storage/redistest"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// testRedisURL claims a private database on the test Redis and returns its URL.
// serveEmulator starts an emulator (its Start method) for the rest of the test and returns its
// base URL.
func serveEmulator(t testing.TB, start func(addr string) (string, func(), error)) string {
	t.Helper()
	url, stop, err := start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

func testRedisURL(t *testing.T) string {
	rdb := redistest.Claim(t)
	o := rdb.Options()
	return fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// started is a service running in the test process through run().
type started struct {
	stdout, stderr *syncbuf.Buffer
	cancel         context.CancelFunc
	done           chan error
}

func start(t *testing.T, args []string, getenv func(string) string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, args, getenv, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("service did not stop within 30 s")
		}
	})
	return s
}

// stop ends the service and returns what run returned.
func (s *started) stop(t *testing.T) error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("service did not stop within 30 s")
		return nil
	}
}

var (
	upRE  = regexp.MustCompile(`dev is up at (http://\S+) `)
	keyRE = regexp.MustCompile(`\(shown once\): (tb_[0-9a-f]{64})`)
)

// startDev runs `tbackend dev` and returns its base URL and bootstrap key.
func startDev(t *testing.T, env ...string) (*started, string, string) {
	t.Helper()
	env = append([]string{"HTTP_ADDR", "127.0.0.1:0", "STORAGE_DIR", t.TempDir(), "LOG_LEVEL", "debug",
		"DEV_WALLET", filepath.Join(t.TempDir(), "dev-wallet.skey")}, env...)
	s := start(t, []string{"dev"}, envOf(env...))
	testwait.For(t, "the dev banner", 20*time.Second, func() bool {
		return keyRE.MatchString(s.stdout.String())
	})
	out := s.stdout.String()
	return s, upRE.FindStringSubmatch(out)[1], keyRE.FindStringSubmatch(out)[1]
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, key, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("api-key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func TestUsageAndHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"api", "-h"}, {"worker", "-h"}, {"dev", "-h"}, {"keys", "-h"}, {"keys", "create", "-h"}, {"pay", "-h"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, envOf(), &out, &errOut); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("%v printed no usage: %q %q", args, out.String(), errOut.String())
		}
	}
	var ue usageError
	for _, args := range [][]string{{}, {"serve"}, {"api", "extra"}, {"api", "--port", "1"}, {"keys"}, {"keys", "rotate"}} {
		err := run(context.Background(), args, envOf("REDIS_URL", "redis://127.0.0.1:1"), io.Discard, io.Discard)
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		role string
		env  []string
		want string
	}{
		{"api", nil, "REDIS_URL: required"},
		{"api", []string{"REDIS_URL", "redis://x:6379"}, "FILES_SIGNING_KEY: required"},
		{"dev", []string{"FILES_SIGNING_KEY", "short"}, "FILES_SIGNING_KEY:"},
		{"dev", []string{"OBJECT_RETENTION", "forever"}, "OBJECT_RETENTION:"},
		{"dev", []string{"IMAGE_URL_TTL", "30d"}, "IMAGE_URL_TTL:"},
		{"dev", []string{"IMAGE_URL_TTL", "10s"}, "IMAGE_URL_TTL:"},
		{"dev", []string{"S3_PUBLIC_URL", "minio:9000"}, "S3_PUBLIC_URL:"},
		{"dev", []string{"METRICS_ADDR", "9090"}, "METRICS_ADDR:"},
		{"dev", []string{"ADMIN_QUEUES_WRITE", "sure"}, "ADMIN_QUEUES_WRITE:"},
		{"worker", []string{"REDIS_URL", "redis://x:6379", "S3_ENDPOINT", "s3:9000", "S3_ACCESS_KEY", "a", "S3_SECRET_KEY", "b"}, "OPENAI_API_KEY: required"},
		{"worker", []string{"REDIS_URL", "redis://x:6379", "FILES_SIGNING_KEY", strings.Repeat("k", 32), "OPENAI_API_KEY", "k"}, "BLOCKFROST_PROJECT_ID: required"},
		{"api", []string{"REDIS_URL", "mysql://x"}, "REDIS_URL:"},
		{"api", []string{"REDIS_SENTINEL_ADDRS", "a:1,b:2"}, "REDIS_MASTER_NAME:"},
		{"dev", []string{"CARDANO_NETWORK", "testnet"}, "CARDANO_NETWORK:"},
		{"dev", []string{"LOG_LEVEL", "loud"}, "LOG_LEVEL:"},
		{"dev", []string{"LOG_FORMAT", "xml"}, "LOG_FORMAT:"},
		{"dev", []string{"HTTP_ADDR", "8080"}, "HTTP_ADDR:"},
		{"dev", []string{"OPENAI_BASE_URL", "not a url"}, "OPENAI_BASE_URL:"},
		{"dev", []string{"PUBLIC_BASE_URL", "ftp://x"}, "PUBLIC_BASE_URL:"},
		{"dev", []string{"TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33"}, "TRUSTED_PROXIES:"},
		{"dev", []string{"TRUSTED_PROXIES", "ingress"}, "TRUSTED_PROXIES:"},
		{"dev", []string{"S3_ENDPOINT", "localhost:9000"}, "S3_ACCESS_KEY:"},
		{"dev", []string{"S3_ENDPOINT", "http://localhost:9000"}, "S3_ENDPOINT:"},
		{"dev", []string{"S3_USE_SSL", "maybe"}, "S3_USE_SSL:"},
		{"dev", []string{"WORKER_CONCURRENCY", "0"}, "WORKER_CONCURRENCY:"},
		{"dev", []string{"KEY_MAX_JOBS", "-1"}, "KEY_MAX_JOBS:"},
		{"dev", []string{"KEY_MAX_STREAMS", "many"}, "KEY_MAX_STREAMS:"},
		{"dev", []string{"WORKER_POLL_INTERVAL", "1h"}, "WORKER_POLL_INTERVAL:"},
		{"dev", []string{"PAYMENTS_CONFIG", "/nonexistent/payments.yaml"}, "PAYMENTS_CONFIG:"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := run(context.Background(), []string{tc.role}, envOf(tc.env...), io.Discard, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line starting %q", err, tc.want)
			}
		})
	}
}

func TestKeysCommand(t *testing.T) {
	env := envOf("REDIS_URL", testRedisURL(t))
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--name", "ci", "--owner", "acme", "--scopes", "chat,admin", "--expires", "720h", "--rpm", "60", "--json"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var created struct {
		Key, ID, Name, Owner string
		Scopes               []string
		ExpiresAt            *time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(out.Bytes(), &created); err != nil {
		t.Fatalf("create --json: %v: %s", err, out.String())
	}
	if !strings.HasPrefix(created.Key, "tb_") || created.Name != "ci" || created.Owner != "acme" ||
		strings.Join(created.Scopes, ",") != "chat,admin" || created.ExpiresAt == nil ||
		time.Until(*created.ExpiresAt) < 719*time.Hour {
		t.Fatalf("created %+v", created)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), created.ID) || strings.Contains(out.String(), created.Key) || !strings.Contains(out.String(), "active") {
		t.Fatalf("list: %s", out.String())
	}
	// Caps of its own are stored with the key (and the api reads them from there).
	out.Reset()
	if err := run(ctx, []string{"keys", "create", "--name", "capped", "--max-jobs", "3", "--max-streams", "-1", "--json"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list", "--json"}, env, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), `"name":"capped","owner":"","scopes":`) || !strings.Contains(out.String(), `"max_jobs":3,"max_streams":-1`) {
		t.Fatalf("list --json shows no caps of the capped key: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"keys", "revoke", created.ID}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	_ = run(ctx, []string{"keys", "list", "--json"}, env, &out, io.Discard)
	if !strings.Contains(out.String(), `"revoked_at":"`) || strings.Contains(out.String(), created.Key) {
		t.Fatalf("list --json after revoke: %s", out.String())
	}
	for _, args := range [][]string{
		{"keys", "create", "--scopes", "chat"},
		{"keys", "create", "--name", "x", "--scopes", "everything"},
		{"keys", "create", "--name", "x", "--max-jobs", "-2"},
		{"keys", "revoke"},
	} {
		if err := run(ctx, args, env, io.Discard, io.Discard); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	if err := run(ctx, []string{"keys", "revoke", "key_nope"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("revoke unknown: %v", err)
	}
}

// A partner key names a partner of PAYMENTS_CONFIG; an unknown one, or one without payments, is
// refused before anything is written.
func TestKeysCreatePartner(t *testing.T) {
	ctx := context.Background()
	redisURL := testRedisURL(t)
	paid := envOf("REDIS_URL", redisURL, "PAYMENTS_CONFIG", "../../payments/testdata/payments.example.yaml")
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--name", "acme backend", "--partner", "acme", "--scopes", "chat", "--json"}, paid, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var created struct{ ID, Partner string }
	if err := json.Unmarshal(out.Bytes(), &created); err != nil || created.Partner != "acme" {
		t.Fatalf("create --partner: %v: %s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, paid, &out, io.Discard); err != nil || !strings.Contains(out.String(), "PARTNER") ||
		!regexp.MustCompile(created.ID+`\s+acme backend\s+-\s+acme\s`).MatchString(out.String()) {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	for _, c := range []struct {
		env  func(string) string
		want string
	}{
		{paid, `unknown partner "acne" (PAYMENTS_CONFIG has: acme, studio)`},
		{envOf("REDIS_URL", redisURL), "--partner needs PAYMENTS_CONFIG"},
	} {
		err := run(ctx, []string{"keys", "create", "--name", "typo", "--partner", "acne"}, c.env, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

func TestDevRoundTrip(t *testing.T) {
	s, base, key := startDev(t, "REDIS_URL", testRedisURL(t))
	spec := newSpecChecker(t, base)

	res := spec.call(t, "POST", base+"/admin/ping", key, `{"delay_ms": 10}`, "X-Request-Id", "e2e-req-1")
	if res.status != 200 || res.body["worker"] == "" || res.header.Get("X-Job-Id") == "" || res.header.Get("X-Request-ID") != "e2e-req-1" {
		t.Fatalf("sync ping: %d %v %s", res.status, res.header, res.raw)
	}
	// The request id travels with the job into the worker's log.
	testwait.For(t, "the worker's log line with the request id", 5*time.Second, func() bool {
		return strings.Contains(s.stderr.String(), `"msg":"job succeeded"`) && strings.Contains(s.stderr.String(), `"request_id":"e2e-req-1"`)
	})

	acc := spec.call(t, "POST", base+"/admin/ping", key, `{"delay_ms": 50}`, "Prefer", "respond-async")
	if acc.status != 202 {
		t.Fatalf("async ping: %d %s", acc.status, acc.raw)
	}
	var st reply
	testwait.For(t, "the async job to succeed", 10*time.Second, func() bool {
		st = spec.call(t, "GET", acc.body["status_url"].(string), key, "")
		return st.body["status"] == "succeeded"
	})
	result, _ := st.body["result"].(map[string]any)
	if result["delay_ms"] != float64(50) || st.body["completed_at"] == nil || st.body["error"] != nil {
		t.Fatalf("job status: %s", st.raw)
	}

	testwait.For(t, "a live worker on /health", 10*time.Second, func() bool {
		h := call(t, "GET", base+"/health", "", "")
		return h.status == 200 && h.body["status"] == "ok"
	})
	h := spec.call(t, "GET", base+"/health", "", "")
	spec.call(t, "GET", base+"/usage", key, "")
	spec.call(t, "GET", base+"/api", "", "")
	checks := h.body["checks"].(map[string]any)
	if checks["openai"].(map[string]any)["mode"] != "emulated" || checks["blockfrost"].(map[string]any)["mode"] != "emulated" {
		t.Fatalf("health: %s", h.raw)
	}
	for _, warn := range []string{"OPENAI_API_KEY is unset", "BLOCKFROST_PROJECT_ID is unset"} {
		if !strings.Contains(s.stderr.String(), warn) {
			t.Errorf("dev did not warn %q", warn)
		}
	}
}

func TestDevEmbedsRedis(t *testing.T) {
	s, base, key := startDev(t)
	res := call(t, "POST", base+"/admin/ping", key, `{}`)
	if res.status != 200 {
		t.Fatalf("ping on embedded Redis: %d %s", res.status, res.raw)
	}
	if !strings.Contains(s.stderr.String(), "REDIS_URL is unset") {
		t.Fatal("dev did not warn about the embedded Redis")
	}
	u := call(t, "GET", base+"/usage", key, "")
	if u.body["lifetime_calls"] != float64(1) {
		t.Fatalf("usage: %s", u.raw)
	}
}

func TestSeparateAPIAndWorkerWithGracefulShutdown(t *testing.T) {
	url := testRedisURL(t)
	addr := freeAddr(t)
	env := envOf("REDIS_URL", url, "HTTP_ADDR", addr, "OPENAI_API_KEY", "k", "BLOCKFROST_PROJECT_ID", "p",
		"STORAGE_DIR", t.TempDir(), "FILES_SIGNING_KEY", strings.Repeat("k", 32))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "op", "--scopes", "admin", "--json"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var k struct{ Key string }
	_ = json.Unmarshal(out.Bytes(), &k)

	metricsAddr := freeAddr(t)
	workerEnv := func(k string) string {
		if k == "METRICS_ADDR" {
			return metricsAddr
		}
		return env(k)
	}
	apiSvc := start(t, []string{"api"}, env)
	worker := start(t, []string{"worker"}, workerEnv)
	base := "http://" + addr
	testwait.For(t, "the api to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if res := call(t, "POST", base+"/admin/ping", k.Key, `{}`); res.status != 200 {
		t.Fatalf("ping: %d %s", res.status, res.raw)
	}
	// The worker is scraped and probed on METRICS_ADDR.
	if h := call(t, "GET", "http://"+metricsAddr+"/health", "", ""); h.status != 200 || h.body["status"] != "ok" {
		t.Fatalf("worker /health: %d %s", h.status, h.raw)
	}
	m := call(t, "GET", "http://"+metricsAddr+"/metrics", "", "")
	if !strings.Contains(m.raw, `tbackend_jobs_total{outcome="succeeded",type="system:ping"} 1`) {
		t.Fatalf("worker metrics lack the ping job:\n%.2000s", m.raw)
	}
	am := call(t, "GET", base+"/metrics", k.Key, "")
	if !strings.Contains(am.raw, `asynq_tasks_processed_total{queue="default"}`) || !strings.Contains(am.raw, `tbackend_http_requests_total{method="POST",route="/admin/ping",status="200"} 1`) {
		t.Fatalf("api metrics lack queue or http figures:\n%s", am.raw)
	}

	// A request in flight when both processes are told to stop still gets its answer.
	got := make(chan reply, 1)
	go func() { got <- call(t, "POST", base+"/admin/ping", k.Key, `{"delay_ms": 800}`) }()
	testwait.For(t, "the slow job to start", 5*time.Second, func() bool {
		return strings.Contains(worker.stderr.String(), "system:ping") || time.Now().IsZero()
	})
	time.Sleep(100 * time.Millisecond)
	errs := make(chan error, 2)
	go func() { errs <- apiSvc.stop(t) }()
	go func() { errs <- worker.stop(t) }()
	select {
	case r := <-got:
		if r.status != 200 || r.body["delay_ms"] != float64(800) {
			t.Fatalf("in-flight request: %d %s", r.status, r.raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight request never answered")
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
}
