package openaiemu_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/openai"
)

const testKey = "sk-test-emulator"

type harness struct {
	t    *testing.T
	emu  *openaiemu.Emulator
	base string // ends in /v1
}

// newHarness serves a fresh emulator (tests never share fault state) over real HTTP.
func newHarness(t *testing.T, models ...string) *harness {
	t.Helper()
	if len(models) == 0 {
		models = []string{"gpt-4o-mini", "gpt-image-1", "dall-e-2", "dall-e-3", "gpt-image-2"}
	}
	emu := openaiemu.New(testKey, models...)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &harness{t: t, emu: emu, base: srv.URL + "/v1"}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path, contentType string, body []byte, hdr map[string]string) response {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (h *harness) postJSON(path string, v any, hdr map[string]string) response {
	h.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(http.MethodPost, path, "application/json", b, hdr)
}

// wantError checks an error answer: status, spec shape, type, code and param.
func wantError(t *testing.T, r response, status int, typ, code, param string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	validate(t, "ErrorResponse", r.body)
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	e := body.Error
	if e["type"] != typ {
		t.Errorf("type %v, want %q (%s)", e["type"], typ, r.body)
	}
	if got, _ := e["code"].(string); got != code {
		t.Errorf("code %v, want %q (%s)", e["code"], code, r.body)
	}
	if got, _ := e["param"].(string); got != param {
		t.Errorf("param %v, want %q (%s)", e["param"], param, r.body)
	}
	if code == "" && e["code"] != nil {
		t.Errorf("code %v, want null", e["code"])
	}
	return e
}

// sse reads a text/event-stream body strictly: every event is one "data: " line followed by
// an empty line. It returns the data payloads (including "[DONE]").
func sse(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	rd := bufio.NewReader(bytes.NewReader(body))
	for {
		line, err := rd.ReadString('\n')
		if err == io.EOF && line == "" {
			return out
		}
		if err != nil {
			t.Fatalf("stream ends mid-line %q: %v", line, err)
		}
		if !strings.HasPrefix(line, "data: ") {
			t.Fatalf("unexpected stream line %q", line)
		}
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n"))
		blank, err := rd.ReadString('\n')
		if err != nil || blank != "\n" {
			t.Fatalf("event not followed by a blank line: %q %v", blank, err)
		}
	}
}

func userMsg(text string) map[string]any { return map[string]any{"role": "user", "content": text} }

func chatBody(model string, msgs ...map[string]any) map[string]any {
	return map[string]any{"model": model, "messages": msgs}
}
