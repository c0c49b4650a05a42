package api

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
)

// capKey makes a key with its own caps (0: the service's).
func (h *harness) capKey(maxJobs, maxStreams int, scopes ...string) string {
	h.t.Helper()
	_, plain, err := h.keys.Create(context.Background(), storage.NewKeyParams{Name: "t", Owner: "o", Scopes: scopes,
		MaxJobs: maxJobs, MaxStreams: maxStreams})
	if err != nil {
		h.t.Fatal(err)
	}
	return plain
}

// openStream starts a streamed chat over a real connection (the harness has no worker, so it
// stays open, idle) and returns its response.
func openStream(t *testing.T, base, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"message":"hi","stream":true}`))
	req.Header.Set("api-key", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

func wantCapRefusal(t *testing.T, res response, what string) {
	t.Helper()
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" ||
		!strings.Contains(fmt.Sprint(res.json(t)["detail"]), what) {
		t.Fatalf("over the cap: %d %v %s, want 429 with Retry-After and a detail naming %q", res.Status, res.Header, res.Body, what)
	}
}

// TestStreamCapPerKey: a key holds at most its cap of open streams; the next one (new or resumed)
// is refused with 429 while another key streams on, and a closed stream frees its slot.
func TestStreamCapPerKey(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.MaxStreams = 2; c.Heartbeat = 50 * time.Millisecond })
	base := newListener(t, h)
	noisy, quiet := h.capKey(0, 0, storage.ScopeChat), h.capKey(0, 0, storage.ScopeChat)
	var open []*http.Response
	for i := range 2 {
		res := openStream(t, base, noisy)
		if res.StatusCode != 200 {
			t.Fatalf("stream %d: status %d", i+1, res.StatusCode)
		}
		open = append(open, res)
	}
	wantCapRefusal(t, h.do("POST", "/chat", `{"message":"hi","stream":true}`, "api-key", noisy), "open streams")
	resume := "/chat/stream/" + open[0].Header.Get("X-Job-Id")
	wantCapRefusal(t, h.do("GET", resume, "", "api-key", noisy), "open streams")
	if res := openStream(t, base, quiet); res.StatusCode != 200 {
		t.Fatalf("another key's stream: status %d", res.StatusCode)
	}
	// A key's own cap overrides the service's.
	roomy := h.capKey(0, 3, storage.ScopeChat)
	for i := range 3 {
		if res := openStream(t, base, roomy); res.StatusCode != 200 {
			t.Fatalf("stream %d of a key with its own cap of 3: status %d", i+1, res.StatusCode)
		}
	}
	// The client leaves: its relay notices and gives the slot back.
	_ = open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := openStream(t, base, noisy)
		if res.StatusCode == 200 {
			return
		}
		_ = res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's slot was never freed: status %d", res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestJobCapPerKey: async jobs count until they end; the cap refuses the next with 429, another
// key is unaffected, and a job that ended (here: deleted from its queue) frees its slot.
func TestJobCapPerKey(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.MaxJobs = 2 })
	noisy, quiet := h.capKey(0, 0, storage.ScopeAdmin), h.capKey(0, 0, storage.ScopeAdmin)
	ping := func(key string) response {
		return h.do("POST", "/admin/ping", `{}`, "api-key", key, "Prefer", "respond-async")
	}
	var ids []string
	for i := range 2 {
		res := ping(noisy)
		if res.Status != http.StatusAccepted {
			t.Fatalf("job %d: %d %s", i+1, res.Status, res.Body)
		}
		ids = append(ids, res.json(t)["job_id"].(string))
	}
	wantCapRefusal(t, ping(noisy), "jobs in flight")
	if res := ping(quiet); res.Status != http.StatusAccepted {
		t.Fatalf("another key: %d %s", res.Status, res.Body)
	}
	unlimited := h.capKey(-1, 0, storage.ScopeAdmin)
	for i := range 5 {
		if res := ping(unlimited); res.Status != http.StatusAccepted {
			t.Fatalf("job %d of a key without a cap: %d %s", i+1, res.Status, res.Body)
		}
	}
	// The job ends without this api hearing of it: the next claim at the cap sweeps it out.
	insp := asynq.NewInspectorFromRedisClient(h.rdb)
	if err := insp.DeleteTask(jobs.QueueDefault, ids[0]); err != nil {
		t.Fatal(err)
	}
	if res := ping(noisy); res.Status != http.StatusAccepted {
		t.Fatalf("after a job ended: %d %s", res.Status, res.Body)
	}
	wantCapRefusal(t, ping(noisy), "jobs in flight")
}

// TestChatImageOverTheCapLeavesNothing: a chat over the caller's job cap is refused before its
// image is stored, so no orphaned upload is left behind; the call within the cap keeps its image.
func TestChatImageOverTheCapLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, func(c *Config, d *Deps) {
		c.MaxJobs = 1
		objects, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: []byte(strings.Repeat("s", 32))})
		if err != nil {
			t.Fatal(err)
		}
		d.Objects = objects
	})
	key := h.capKey(0, 0, storage.ScopeChat)
	body := `{"message":"what is this?","image_data":"data:image/png;base64,` + b64(pngImage(t, 8, 8)) + `"}`
	stored := func() int {
		n := 0
		_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	if res := h.do("POST", "/chat", body, "api-key", key, "Prefer", "respond-async"); res.Status != http.StatusAccepted {
		t.Fatalf("within the cap: %d %s", res.Status, res.Body)
	}
	held := stored()
	if held == 0 {
		t.Fatal("the accepted chat's image was not stored")
	}
	wantCapRefusal(t, h.do("POST", "/chat", body, "api-key", key, "Prefer", "respond-async"), "jobs in flight")
	if n := stored(); n != held {
		t.Fatalf("%d files stored after a refused chat, want %d", n, held)
	}
}
