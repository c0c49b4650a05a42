package api

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// With no worker, a streamed chat waits idle: the relay must keep the connection alive with
// heartbeat comments, and when the client leaves, the waiting job must be canceled.
func TestIdleStreamHeartbeatsAndCancelOnLeave(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Heartbeat = 50 * time.Millisecond })
	_, key := h.key(0, storage.ScopeChat)
	base := newListener(t, h)
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"message":"hi","stream":true}`))
	req.Header.Set("api-key", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jobID := res.Header.Get("X-Job-Id")
	if res.StatusCode != 200 || jobID == "" || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	rd := bufio.NewReader(res.Body)
	pings := 0
	deadline := time.Now().Add(5 * time.Second)
	for pings < 3 && time.Now().Before(deadline) {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": ping\n" {
			pings++
		}
	}
	if pings < 3 {
		t.Fatalf("%d heartbeats in 5 s", pings)
	}
	res.Body.Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		st, err := h.srv.deps.Jobs.Status(context.Background(), jobID)
		if err == nil && st.Status == jobs.StateCanceled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job of the departed stream: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
