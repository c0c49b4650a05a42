package blockfrostemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

const testProject = "mainnetTestProject0123456789abcdef"

type harness struct {
	t    *testing.T
	emu  *blockfrostemu.Emulator
	base string // ends in /api/v0
	api  blockfrost.APIClient
}

// newHarness serves a fresh emulator over real HTTP behind the spec-validating middleware, with
// a blockfrost-go client configured for it.
func newHarness(t *testing.T, opts ...blockfrostemu.Option) *harness {
	t.Helper()
	emu := blockfrostemu.New(testProject, opts...)
	srv := httptest.NewServer(validating(t, emu))
	t.Cleanup(func() { srv.Close(); emu.Close() })
	base := srv.URL + blockfrostemu.APIPrefix
	return &harness{t: t, emu: emu, base: base, api: newClient(base, testProject)}
}

// newClient is how blockfrost-go must be configured for the emulator: the emulator's base URL
// as Server and a plain http.Client (the default retrying client retries 5xx/429 for ~15 s and
// then reports only "giving up after N attempts", hiding Blockfrost's status and body).
func newClient(base, project string) blockfrost.APIClient {
	return blockfrost.NewAPIClient(blockfrost.APIClientOptions{
		ProjectID: project,
		Server:    base,
		Client:    &http.Client{Timeout: 20 * time.Second},
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%.500s", err, r.body)
	}
}

// do sends a request with the project id (unless hdr sets project_id to "-", which omits it).
func (h *harness) do(method, path, contentType string, body []byte, hdr map[string]string) response {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("project_id", testProject)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		if k == "project_id" && v == "-" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{res.StatusCode, res.Header, b}
}

func (h *harness) get(path string, hdr ...string) response {
	h.t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	return h.do(http.MethodGet, path, "", nil, m)
}

// wantError checks an error answer's status and Blockfrost body.
func wantError(t *testing.T, r response, status int, errText, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e struct {
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
		Message    string `json:"message"`
	}
	r.json(t, &e)
	if e.StatusCode != status || e.Error != errText || (msg != "" && e.Message != msg) {
		t.Fatalf("error body %+v, want %d %q %q", e, status, errText, msg)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
