package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
	"github.com/tbackend/tbackend/storage/redistest"
)

// harness is an api on the real test Redis, with no worker: jobs stay queued.
type harness struct {
	t      *testing.T
	srv    *Server
	rdb    *redis.Client
	keys   *storage.KeyStore
	router routers.Router
	doc    *openapi3.T
}

func newHarness(t *testing.T, mutate ...func(*Config, *Deps)) *harness {
	t.Helper()
	return newHarnessOn(t, redistest.Claim(t), mutate...)
}

// newHarnessOn is newHarness on a Redis of the test's choosing (one it can stop, say).
func newHarnessOn(t *testing.T, rdb *redis.Client, mutate ...func(*Config, *Deps)) *harness {
	t.Helper()
	keys := storage.NewKeys("")
	hub := storage.NewHub(rdb, 64)
	t.Cleanup(func() { _ = hub.Close() })
	jc := jobs.NewClient(asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb), keys.Notices("apitest"))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := jc.Start(ctx, hub); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Version: "test", Commit: "abc", SyncWait: 300 * time.Millisecond,
		Upstreams: map[string]string{"openai": "emulated", "blockfrost": "emulated"}}
	deps := Deps{
		Keys: storage.NewKeyStore(rdb, keys, 0), Limiter: storage.NewRateLimiter(rdb, keys),
		Usage: storage.NewUsage(rdb, keys), Jobs: jc,
		RedisPing: func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	objects, err := objstore.NewLocal(objstore.LocalConfig{Dir: t.TempDir(), SigningKey: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	deps.Objects = objects
	deps.Hub = hub
	deps.Frames = storage.NewFrames(rdb, keys, time.Minute, 1000)
	deps.Idempotency = storage.NewIdempotency(rdb, keys, time.Hour)
	deps.Metrics = NewMetrics(prometheus.NewRegistry())
	deps.Queues = asynqmon.New(asynqmon.Options{RootPath: queuesPrefix,
		RedisConnOpt: asynq.RedisClientOpt{Addr: rdb.Options().Addr, DB: rdb.Options().DB}, ReadOnly: true})
	for _, m := range mutate {
		m(&cfg, &deps)
	}
	srv, err := NewServer(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, rdb: rdb, keys: deps.Keys}
	h.loadSpec()
	return h
}

func init() {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

func (h *harness) loadSpec() {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		h.t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		h.t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		h.t.Fatal(err)
	}
	h.doc, h.router = doc, router
}

// key creates a key with the given scopes and rpm.
func (h *harness) key(rpm int, scopes ...string) (storage.APIKey, string) {
	h.t.Helper()
	k, plain, err := h.keys.Create(context.Background(), storage.NewKeyParams{Name: "t", Owner: "o", Scopes: scopes, RPM: rpm})
	if err != nil {
		h.t.Fatal(err)
	}
	return k, plain
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request through the whole app and, when the route is documented, validates the
// response against the OpenAPI document (every status it answers must be documented).
func (h *harness) do(method, path, body string, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://example.com"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.srv.app.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header, Body: data}
	h.validate(method, path, body, headers, out)
	return out
}

func (h *harness) validate(method, path, body string, headers []string, res response) {
	h.t.Helper()
	req := httptest.NewRequest(method, "http://example.com"+path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		return // undocumented path (404/405 probes): nothing to validate against
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: res.Status, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(res.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		h.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %s", method, path, res.Status, err, bytes.TrimSpace(res.Body))
	}
}
