package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tbackend/tbackend/storage"
)

func TestRequestIDOnEveryResponse(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, method, path, sent string
		keep                     bool
	}{
		{"generated on success", "GET", "/health", "", false},
		{"generated on 404", "GET", "/nope", "", false},
		{"generated on 401", "GET", "/usage", "", false},
		{"client id kept", "GET", "/health", "abc-123_x.y:z", true},
		{"client id on error kept", "GET", "/usage", "req-42", true},
		{"oversized id replaced", "GET", "/health", strings.Repeat("a", 129), false},
		{"odd bytes replaced", "GET", "/health", "a b<script>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.sent != "" {
				hdr = []string{"X-Request-Id", tc.sent}
			}
			res := h.do(tc.method, tc.path, "", hdr...)
			got := res.Header.Get("X-Request-ID")
			if tc.keep {
				if got != tc.sent {
					t.Fatalf("X-Request-ID = %q, want %q", got, tc.sent)
				}
				return
			}
			id, err := uuid.Parse(got)
			if err != nil || id.Version() != 4 {
				t.Fatalf("X-Request-ID = %q, want a random UUIDv4", got)
			}
		})
	}
	a := h.do("GET", "/health", "").Header.Get("X-Request-ID")
	b := h.do("GET", "/health", "").Header.Get("X-Request-ID")
	if a == b {
		t.Fatal("two requests got the same generated id")
	}
}

func TestAuthErrors(t *testing.T) {
	h := newHarness(t)
	_, admin := h.key(0, storage.ScopeAdmin)
	_, chat := h.key(0, storage.ScopeChat)
	revoked, revokedPlain := h.key(0, storage.ScopeAdmin)
	if err := h.keys.Revoke(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired, expiredPlain, err := h.keys.Create(context.Background(), storage.NewKeyParams{Name: "e", Scopes: []string{storage.ScopeAdmin}, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.now = func() time.Time { return expired.ExpiresAt.Add(time.Second) }

	for _, tc := range []struct {
		name, key string
		status    int
		detail    string
	}{
		{"missing", "", 401, "Missing API key"},
		{"unknown", "tb_" + strings.Repeat("0", 64), 401, "Invalid API key"},
		{"revoked", revokedPlain, 401, "API key revoked"},
		{"expired", expiredPlain, 401, "API key expired"},
		{"wrong scope", chat, 403, `lacks the "admin" scope`},
		{"ok", admin, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.key != "" {
				hdr = []string{"api-key", tc.key}
			}
			res := h.do("POST", "/admin/ping", `{}`, append(hdr, "Prefer", "respond-async")...)
			if tc.status == 200 {
				if res.Status != http.StatusAccepted {
					t.Fatalf("status %d, want 202: %s", res.Status, res.Body)
				}
				return
			}
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
			}
			if d, _ := res.json(t)["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q does not say %q", d, tc.detail)
			}
		})
	}
}

func TestValidationErrors(t *testing.T) {
	h := newHarness(t)
	_, admin := h.key(0, storage.ScopeAdmin)
	for _, tc := range []struct {
		name, body string
		loc        []any
		typ        string
	}{
		{"malformed JSON", `{"delay_ms": `, []any{"body"}, "json_invalid"},
		{"syntax error offset", `{"delay_ms" 1}`, []any{"body", float64(13)}, "json_invalid"},
		{"wrong type", `{"delay_ms": "soon"}`, []any{"body", "delay_ms"}, "int_type"},
		{"fraction", `{"delay_ms": 1.5}`, []any{"body", "delay_ms"}, "int_type"},
		{"too large", `{"delay_ms": 30001}`, []any{"body", "delay_ms"}, "less_than_equal"},
		{"negative", `{"delay_ms": -1}`, []any{"body", "delay_ms"}, "greater_than_equal"},
		{"not an object", `[1,2]`, []any{"body"}, "model_attributes_type"},
		{"trailing data", `{} {}`, []any{"body", float64(3)}, "json_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.do("POST", "/admin/ping", tc.body, "api-key", admin)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", res.Status, res.Body)
			}
			list, _ := res.json(t)["detail"].([]any)
			if len(list) == 0 {
				t.Fatalf("detail is not a non-empty list: %s", res.Body)
			}
			first := list[0].(map[string]any)
			if fmt.Sprint(first["loc"]) != fmt.Sprint(tc.loc) || first["type"] != tc.typ || first["msg"] == "" {
				t.Fatalf("detail[0] = %v, want loc %v type %s", first, tc.loc, tc.typ)
			}
		})
	}
	t.Run("missing body", func(t *testing.T) {
		res := h.do("POST", "/admin/ping", "", "api-key", admin)
		if res.Status != 422 || !strings.Contains(string(res.Body), `"type":"missing"`) {
			t.Fatalf("got %d %s", res.Status, res.Body)
		}
	})
}

func TestBodyLimits(t *testing.T) {
	h := newHarness(t)
	_, admin := h.key(0, storage.ScopeAdmin)
	big := `{"delay_ms": 0, "pad": "` + strings.Repeat("x", 5000) + `"}`
	t.Run("declared length", func(t *testing.T) {
		res := h.do("POST", "/admin/ping", big, "api-key", admin)
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		if d, _ := res.json(t)["detail"].(string); !strings.Contains(d, "too large") {
			t.Fatalf("detail %q", d)
		}
	})
	t.Run("chunked body cut off", func(t *testing.T) {
		// A body without Content-Length over a real socket: the limit applies while reading.
		ln := newListener(t, h)
		req, _ := http.NewRequest("POST", ln+"/admin/ping", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("api-key", admin)
		req.ContentLength = -1
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
	})
	t.Run("declared length refused before the body is read", func(t *testing.T) {
		// fasthttp reads only the first ~8 KiB of a long body before the handler runs; the rest is never sent
		// here, so an answer proves the limit was checked before the body was read.
		addr := strings.TrimPrefix(newListener(t, h), "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /admin/ping HTTP/1.1\r\nHost: x\r\napi-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", admin, 3*bodyReadAhead)
		_, _ = conn.Write(make([]byte, 16<<10))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer before the body was sent: %v", err)
		}
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// newListener serves the harness app on a loopback port for tests that need a real socket.
func newListener(t *testing.T, h *harness) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener
	go func() { _ = h.srv.app.Listener(ln) }()
	t.Cleanup(func() { _ = h.srv.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestRateLimitHeaders(t *testing.T) {
	h := newHarness(t)
	_, plain := h.key(2)
	for i, want := range []int{200, 200, 429} {
		res := h.do("GET", "/usage", "", "api-key", plain)
		if res.Status != want {
			t.Fatalf("call %d: status %d, want %d: %s", i+1, res.Status, want, res.Body)
		}
		if res.Header.Get("x-ratelimit-limit") != "2" {
			t.Fatalf("x-ratelimit-limit = %q", res.Header.Get("x-ratelimit-limit"))
		}
		rem, _ := strconv.Atoi(res.Header.Get("x-ratelimit-remaining"))
		if want == 200 && rem != 1-i {
			t.Fatalf("call %d: remaining %d", i+1, rem)
		}
		if want == 429 {
			ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 31 {
				t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
			}
			if reset, _ := strconv.Atoi(res.Header.Get("x-ratelimit-reset")); reset < 1 {
				t.Fatalf("x-ratelimit-reset = %d", reset)
			}
		}
	}
}

// A key whose stored rpm does not parse is refused, never served as unlimited (rpm 0).
func TestCorruptRateLimitFailsClosed(t *testing.T) {
	h := newHarness(t)
	k, plain := h.key(2, storage.ScopeAdmin)
	if err := h.rdb.HSet(context.Background(), storage.NewKeys("").APIKey(k.ID), "rpm", "2O").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		res := h.do("GET", "/usage", "", "api-key", plain)
		if res.Status != http.StatusUnauthorized || !strings.Contains(string(res.Body), "unusable") {
			t.Fatalf("call %d with a corrupt rpm: status %d: %s", i+1, res.Status, res.Body)
		}
	}
}

func TestUsageIsPerKey(t *testing.T) {
	h := newHarness(t)
	a, aPlain := h.key(0, storage.ScopeAdmin)
	_, bPlain := h.key(0)
	for range 3 {
		h.do("POST", "/admin/ping", `{}`, "api-key", aPlain, "Prefer", "respond-async")
	}
	h.do("POST", "/admin/ping", `{"delay_ms":-5}`, "api-key", aPlain) // 422: not counted
	res := h.do("GET", "/usage", "", "api-key", aPlain)
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	body := res.json(t)
	if body["key_id"] != a.ID || body["lifetime_calls"] != float64(3) || body["is_active"] != true {
		t.Fatalf("usage of A = %s", res.Body)
	}
	ep := body["usage"].(map[string]any)["by_endpoint"].(map[string]any)
	if ep["/admin/ping"].(map[string]any)["calls"] != float64(3) {
		t.Fatalf("by_endpoint = %v", ep)
	}
	other := h.do("GET", "/usage", "", "api-key", bPlain).json(t)
	if other["lifetime_calls"] != float64(0) || other["key_id"] == a.ID {
		t.Fatalf("B sees %v", other)
	}
}

func TestJobsAreVisibleOnlyToTheirOwner(t *testing.T) {
	h := newHarness(t)
	_, a := h.key(0, storage.ScopeAdmin)
	_, b := h.key(0, storage.ScopeAdmin)
	res := h.do("POST", "/admin/ping?async=true", `{"delay_ms": 5}`, "api-key", a)
	if res.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	acc := res.json(t)
	id, _ := acc["job_id"].(string)
	if id == "" || acc["status"] != "queued" || acc["status_url"] != "http://example.com/jobs/"+id || res.Header.Get("X-Job-Id") != id {
		t.Fatalf("202 body %s, X-Job-Id %q", res.Body, res.Header.Get("X-Job-Id"))
	}
	mine := h.do("GET", "/jobs/"+id, "", "api-key", a)
	if mine.Status != 200 {
		t.Fatalf("owner: status %d: %s", mine.Status, mine.Body)
	}
	st := mine.json(t)
	if st["status"] != "queued" || st["type"] != "system:ping" || st["created_at"] == nil {
		t.Fatalf("owner sees %s", mine.Body)
	}
	for _, tc := range []struct{ name, key, id string }{
		{"another key", b, id},
		{"unknown id", a, "NOSUCHJOB"},
		{"overlong id", a, strings.Repeat("A", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.do("GET", "/jobs/"+tc.id, "", "api-key", tc.key)
			if res.Status != 404 || res.json(t)["detail"] != "Job not found" {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
		})
	}
}

func TestSyncCallOutlivingTheWaitGets202(t *testing.T) {
	h := newHarness(t) // no worker: the job cannot finish
	_, a := h.key(0, storage.ScopeAdmin)
	res := h.do("POST", "/admin/ping", `{}`, "api-key", a)
	if res.Status != http.StatusAccepted || res.json(t)["job_id"] == "" {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
}

func TestHealth(t *testing.T) {
	t.Run("no worker is degraded but up", func(t *testing.T) {
		h := newHarness(t)
		res := h.do("GET", "/health", "")
		body := res.json(t)
		checks := body["checks"].(map[string]any)
		if res.Status != 200 || body["status"] != "degraded" {
			t.Fatalf("got %d %s", res.Status, res.Body)
		}
		if w := checks["workers"].(map[string]any); w["status"] != "degraded" || w["live"] != float64(0) {
			t.Fatalf("workers check %v", w)
		}
		if o := checks["openai"].(map[string]any); o["mode"] != "emulated" {
			t.Fatalf("openai check %v", o)
		}
	})
	t.Run("redis down is 503", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, d *Deps) {
			d.RedisPing = func(context.Context) error { return errors.New("dial tcp: refused") }
		})
		res := h.do("GET", "/health", "")
		if res.Status != http.StatusServiceUnavailable || strings.Contains(string(res.Body), "refused") {
			t.Fatalf("got %d %s", res.Status, res.Body)
		}
	})
}

func TestPanicIsA500WithoutInternals(t *testing.T) {
	h := newHarness(t)
	h.srv.app.Get("/boom", func(*fiber.Ctx) error { panic("secret internal state") })
	res := h.do("GET", "/boom", "")
	if res.Status != 500 || strings.Contains(string(res.Body), "secret") || res.Header.Get("X-Request-ID") == "" {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	if res.json(t)["detail"] != "Internal Server Error" {
		t.Fatalf("detail: %s", res.Body)
	}
	h.srv.app.Get("/err", func(*fiber.Ctx) error { return errors.New("db password is hunter2") })
	res = h.do("GET", "/err", "")
	if res.Status != 500 || strings.Contains(string(res.Body), "hunter2") {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	if res := h.do("GET", "/nope", ""); res.Status != 404 || res.json(t)["detail"] != "Not Found" {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	if res := h.do("DELETE", "/health", ""); res.Status != 405 || res.json(t)["detail"] != "Method Not Allowed" {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t)
	res := h.do("OPTIONS", "/usage", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "api-key")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "api-key") {
		t.Fatalf("preflight headers %v", res.Header)
	}
	res = h.do("GET", "/health", "", "Origin", "https://app.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
		t.Fatalf("headers %v", res.Header)
	}
}

func TestMetaEndpoints(t *testing.T) {
	h := newHarness(t)
	info := h.do("GET", "/api", "").json(t)
	if info["name"] != "T Backend" || info["version"] != "test" || info["commit"] != "abc" {
		t.Fatalf("/api = %v", info)
	}
	spec := h.do("GET", "/openapi.json", "")
	if spec.Status != 200 || spec.json(t)["openapi"] != "3.0.3" {
		t.Fatalf("/openapi.json %d", spec.Status)
	}
	docs := h.do("GET", "/docs", "")
	if docs.Status != 200 || !strings.Contains(string(docs.Body), "/openapi.json") || !strings.HasPrefix(docs.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs %d %s", docs.Status, docs.Body)
	}
	js := h.do("GET", "/docs/swagger-ui-bundle.js", "")
	if js.Status != 200 || len(js.Body) < 10000 || !strings.Contains(js.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("bundle %d %q %d bytes", js.Status, js.Header.Get("Content-Type"), len(js.Body))
	}
	for _, p := range []string{"/docs/nope.js", "/docs/..%2f..%2fetc/passwd", "/docs/index.html"} {
		if res := h.do("GET", p, ""); res.Status != 404 {
			t.Fatalf("%s: %d", p, res.Status)
		}
	}
}

// TestOpenAPIDescribesEveryRoute holds the document, the route list and the fiber routes together.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	h := newHarness(t)
	documented := map[string]bool{}
	for path, item := range h.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	listed := map[string]bool{}
	for _, r := range h.srv.surface() {
		listed[r.Method+" "+r.Path] = true
	}
	// Wildcard routes are either a documented path whose parameter may hold slashes, or the assets
	// and api of a page documented on its own (Swagger UI, asynqmon).
	wildcards := map[string]string{"/files/*": "/files/{key}", "/docs/*": "", "/admin/queues/*": ""}
	served := map[string]bool{}
	for _, r := range h.srv.app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Path == "/" {
			continue
		}
		path := openAPIPath(r.Path)
		if strings.HasSuffix(r.Path, "*") {
			doc, known := wildcards[r.Path]
			if !known {
				t.Errorf("wildcard route %s %s is neither documented nor a known asset mount", r.Method, r.Path)
			}
			if doc == "" {
				continue
			}
			path = doc
		}
		served[r.Method+" "+path] = true
	}
	for name, set := range map[string]map[string]bool{"surface()": listed, "fiber": served} {
		if !mapsEqual(documented, set) {
			t.Errorf("OpenAPI paths %v\n%s routes %v", keys(documented), name, keys(set))
		}
	}
}

func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
