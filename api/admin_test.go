package api

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/storage"
)

func TestMetricsNeedAdmin(t *testing.T) {
	h := newHarness(t)
	_, admin := h.key(0, storage.ScopeAdmin)
	_, chat := h.key(0, storage.ScopeChat)
	h.do("GET", "/health", "")
	if res := h.do("GET", "/metrics", ""); res.Status != 401 {
		t.Fatalf("no key: %d", res.Status)
	}
	if res := h.do("GET", "/metrics", "", "api-key", chat); res.Status != 403 {
		t.Fatalf("chat key: %d", res.Status)
	}
	res := h.do("GET", "/metrics", "", "api-key", admin)
	body := string(res.Body)
	for _, want := range []string{
		`tbackend_http_requests_total{method="GET",route="/health",status="200"} 1`,
		`tbackend_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="+Inf"} 1`,
		`tbackend_http_requests_total{method="GET",route="/metrics",status="401"} 1`,
		`tbackend_sse_streams_open 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", res.Status, res.Header.Get("Content-Type"))
	}
	// Unmatched paths share one label, so scanning cannot grow the metric set.
	h.do("GET", "/random/a", "")
	h.do("GET", "/random/b", "")
	res = h.do("GET", "/metrics", "", "api-key", admin)
	if !strings.Contains(string(res.Body), `route="unmatched",status="404"} 2`) || strings.Contains(string(res.Body), "/random/") {
		t.Fatal("unmatched routes are not folded into one label")
	}
}

func TestQueuesDashboard(t *testing.T) {
	h := newHarness(t)
	_, admin := h.key(0, storage.ScopeAdmin)
	_, chat := h.key(0, storage.ScopeChat)

	res := h.do("GET", "/admin/queues", "")
	if res.Status != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: %d %q", res.Status, res.Header.Get("WWW-Authenticate"))
	}
	if res := h.do("GET", "/admin/queues", "", "api-key", chat); res.Status != 403 {
		t.Fatalf("chat key: %d", res.Status)
	}
	page := h.do("GET", "/admin/queues", "", "api-key", admin)
	if page.Status != 200 || !strings.Contains(string(page.Body), `<div id="root">`) {
		t.Fatalf("page: %d %.200s", page.Status, page.Body)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+admin))
	if res := h.do("GET", "/admin/queues", "", "Authorization", basic); res.Status != 200 {
		t.Fatalf("basic auth: %d", res.Status)
	}
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:tb_wrong"))
	if res := h.do("GET", "/admin/queues", "", "Authorization", bad); res.Status != 401 {
		t.Fatalf("wrong basic password: %d", res.Status)
	}

	m := regexp.MustCompile(`src="(/admin/queues/static/js/main\.[^"]+\.js)"`).FindStringSubmatch(string(page.Body))
	if m == nil {
		t.Fatalf("no main bundle in the page")
	}
	js := h.do("GET", m[1], "", "Authorization", basic)
	if js.Status != 200 || len(js.Body) < 100000 || !strings.Contains(js.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("bundle: %d %q %d bytes", js.Status, js.Header.Get("Content-Type"), len(js.Body))
	}

	// Enqueue something so the default queue exists, then read it through the dashboard's api.
	h.do("POST", "/admin/ping?async=1", `{}`, "api-key", admin)
	q := h.do("GET", "/admin/queues/api/queues", "", "api-key", admin)
	if q.Status != 200 || !strings.Contains(string(q.Body), `"queue":"default"`) {
		t.Fatalf("queues api: %d %s", q.Status, q.Body)
	}
	if res := h.do("GET", "/admin/queues/api/queues", ""); res.Status != 401 {
		t.Fatalf("queues api without key: %d", res.Status)
	}
	if res := h.do("POST", "/admin/queues/api/queues/default:pause", "", "api-key", admin); res.Status != http.StatusForbidden {
		t.Fatalf("write in read-only mode: %d %s", res.Status, res.Body)
	}
}

func TestQueuesDashboardWritable(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.AdminQueuesWrite = true })
	_, admin := h.key(0, storage.ScopeAdmin)
	h.do("POST", "/admin/ping?async=1", `{}`, "api-key", admin)
	// The handler is built read-only in the harness, so asynqmon itself refuses; what this checks
	// is that our gate lets the write through to it.
	res := h.do("POST", "/admin/queues/api/queues/default:pause", "", "api-key", admin)
	if res.Status == http.StatusForbidden && strings.Contains(string(res.Body), "ADMIN_QUEUES_WRITE") {
		t.Fatalf("gate refused a write with AdminQueuesWrite on")
	}
}
