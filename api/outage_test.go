package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/stream"
)

// A Redis outage is a 503 with Retry-After and the documented body on every route that needs
// Redis, never a 500; an open stream ends with an error frame as soon as the relay notices; and
// the same routes work again once Redis is back, without a restart.
func TestRedisOutageIs503EverywhereAndStreamsSaySo(t *testing.T) {
	probe := storage.HubProbe
	storage.HubProbe = 100 * time.Millisecond
	t.Cleanup(func() { storage.HubProbe = probe })
	srv := redistest.StartServer(t)
	h := newHarnessOn(t, srv.Client())
	_, key := h.key(0, storage.ScopeChat, storage.ScopeTokenAnalysis, storage.ScopeAdmin, storage.ScopeImages)
	base := newListener(t, h)

	// A stream opened while Redis is up (no worker: it idles).
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"message":"hi","stream":true}`))
	req.Header.Set("api-key", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("open stream: %v %v", res, err)
	}
	defer res.Body.Close()
	jobID := res.Header.Get("X-Job-Id")

	srv.Stop()
	frame := lastFrame(t, res)
	if frame.Type != stream.TypeError || frame.Code != jobs.CodeServiceUnavailable || frame.JobID != jobID {
		t.Fatalf("stream across the outage ended with %+v", frame)
	}

	routes := []struct{ method, path, body string }{
		{"GET", "/usage", ""},
		{"POST", "/chat", `{"message":"hi"}`},
		{"POST", "/chat", `{"message":"hi","stream":true}`},
		{"GET", "/chat/stream/" + jobID, ""},
		{"GET", "/jobs/" + jobID, ""},
		{"POST", "/token-analysis", `{"token_id":"b0d07d45fe9514f80213f4020e5a61241458be626841cde717cb38a7"}`},
		{"POST", "/admin/ping", `{}`},
		{"POST", "/images/generate", `{"prompt":"a cat"}`},
		{"GET", "/admin/queues/api/queues", ""},
		{"GET", "/metrics", ""},
	}
	for _, r := range routes {
		got := rawDo(t, h, r.method, r.path, r.body, key)
		// The 503 is a documented answer of the route (as every answer must be).
		h.validate(r.method, r.path, r.body, []string{"api-key", key, "Content-Type", "application/json"},
			response{Status: got.Code, Header: got.Header(), Body: got.Body.Bytes()})
		var body struct {
			Detail any `json:"detail"`
		}
		if got.Code != http.StatusServiceUnavailable || got.Header().Get("Retry-After") == "" ||
			json.Unmarshal(got.Body.Bytes(), &body) != nil || body.Detail == nil {
			t.Errorf("%s %s during the outage: %d Retry-After=%q %s", r.method, r.path, got.Code,
				got.Header().Get("Retry-After"), got.Body.Bytes())
		}
	}

	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := rawDo(t, h, "GET", "/jobs/"+jobID, "", key)
		if got.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery GET /jobs: %d %s", got.Code, got.Body.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawDo sends a request without checking it against the OpenAPI document.
func rawDo(t *testing.T, h *harness, method, path, body, key string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://example.com"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("api-key", key)
	res, err := h.srv.app.Test(req, 30_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	rec := httptest.NewRecorder()
	rec.Code = res.StatusCode
	for k, v := range res.Header {
		rec.Header()[k] = v
	}
	_, _ = rec.Body.ReadFrom(res.Body)
	_ = res.Body.Close()
	return rec
}

// lastFrame reads an SSE response until [DONE] (at most 15 s) and returns the frame before it.
func lastFrame(t *testing.T, res *http.Response) stream.Frame {
	t.Helper()
	type line struct {
		s   string
		err error
	}
	lines := make(chan line)
	go func() {
		rd := bufio.NewReader(res.Body)
		for {
			s, err := rd.ReadString('\n')
			lines <- line{s, err}
			if err != nil {
				return
			}
		}
	}()
	var last stream.Frame
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l := <-lines:
			if l.err != nil {
				t.Fatalf("stream ended without [DONE]: %v", l.err)
			}
			data, ok := strings.CutPrefix(strings.TrimSpace(l.s), "data: ")
			if !ok {
				continue
			}
			if data == "[DONE]" {
				return last
			}
			if err := json.Unmarshal([]byte(data), &last); err != nil {
				t.Fatalf("frame %q: %v", data, err)
			}
		case <-timeout:
			res.Body.Close()
			t.Fatal("stream did not end within 15 s")
		}
	}
}
