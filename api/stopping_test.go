package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
)

// A stopping api does not wait for jobs (there is no worker here: they stay queued) nor for
// connections that never sent a request: a stream ends with a frame to resume after, a
// synchronous call gets its job's id after a quarter of the stop's deadline, a spare connection
// is closed without an answer, and the graceful stop is over then.
func TestStopEndsStreamsAndWaits(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.SyncWait = time.Minute; c.ShutdownTimeout = 2 * time.Second })
	_, key := h.key(0, storage.ScopeChat, storage.ScopeAdmin)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	post := func(path, body string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+path, strings.NewReader(body))
		req.Header.Set("api-key", key)
		req.Header.Set("Content-Type", "application/json")
		return (&http.Client{Timeout: 10 * time.Second}).Do(req) // a stop that waits fails, not hangs
	}
	stream, err := post("/chat", `{"message":"hi","stream":true}`)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	waiting := make(chan *http.Response, 1)
	go func() {
		res, err := post("/admin/ping", `{}`)
		if err != nil {
			t.Error(err)
		}
		waiting <- res
	}()
	spare, err := net.Dial("tcp", ln.Addr().String()) // as clients open one they may not use
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	time.Sleep(300 * time.Millisecond) // both wait for their jobs now

	stopped := time.Now()
	stop()
	body, _ := io.ReadAll(stream.Body)
	if !strings.Contains(string(body), `"code":"service_unavailable"`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("the stream ended with %q", body)
	}
	if res := <-waiting; res == nil || res.StatusCode != 202 {
		t.Errorf("the waiting call got %v", res)
	} else {
		var a acceptedBody
		if json.NewDecoder(res.Body).Decode(&a) != nil || a.JobID == "" {
			t.Errorf("202 without a job id")
		}
		res.Body.Close()
	}
	_ = spare.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := spare.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("the spare connection read %d bytes, %v; want it closed without an answer", n, err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the graceful stop still waits")
	}
	t.Logf("stopped in %s", time.Since(stopped).Round(time.Millisecond))
}
