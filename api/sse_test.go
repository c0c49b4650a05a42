package api

import (
	"bufio"
	"context"
	"errors"
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

// A resume names the last event it saw by its id; anything that is not the full form of a frame
// id (stream.ParseID) is refused before the relay starts, including ids too large for 64 bits.
func TestResumeRefusesMalformedLastEventID(t *testing.T) {
	h := newHarness(t)
	_, key := h.key(0, storage.ScopeChat)
	base := newListener(t, h)
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"message":"hi","stream":true}`))
	req.Header.Set("api-key", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	jobID := res.Header.Get("X-Job-Id")
	if res.StatusCode != 200 || jobID == "" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	for _, last := range []string{"abc", "5", "1-", "-1", "1-0-0", "+1-0", "18446744073709551616-0", "1-18446744073709551616"} {
		got := h.do("GET", "/chat/stream/"+jobID, "", "api-key", key, "Last-Event-ID", last)
		if got.Status != 422 || !strings.Contains(string(got.Body), "Last-Event-ID") {
			t.Errorf("Last-Event-ID %q: status %d %s, want 422", last, got.Status, got.Body)
		}
	}
}

func TestValidLastEventID(t *testing.T) {
	for id, want := range map[string]bool{"": true, "1700000000000-0": true, "0-0": true,
		"18446744073709551615-18446744073709551615": true, "5": false, "x-1": false, "18446744073709551616-0": false} {
		if got := validLastEventID(id); got != want {
			t.Errorf("validLastEventID(%q) = %v, want %v", id, got, want)
		}
	}
}

// The relay owns the cancel of its departed client's job: it waits out the grace period and
// cancels before it ends, so no goroutine is left behind to do it (or to be cut short).
func TestRelayCancelsItsDepartedClientsJobBeforeItEnds(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Heartbeat = 50 * time.Millisecond })
	ctx := context.Background()
	spec := jobs.ChatJob(jobs.ChatPayload{Message: "hi", Stream: true})
	spec.Owner = "key:k"
	info, err := h.srv.deps.Jobs.Enqueue(ctx, spec) // no worker: only a cancel ends it
	if err != nil {
		t.Fatal(err)
	}
	left, closed := 0, 0
	r := &relay{s: h.srv, job: info, live: make(chan []byte), leave: func() { left++ }, closed: func() { closed++ }}
	r.run(bufio.NewWriter(departedClient{})) // the first heartbeat finds the client gone
	if r.endCode != "client_gone" || left == 0 || closed != 1 {
		t.Fatalf("relay ended with %q, left %d, closed %d", r.endCode, left, closed)
	}
	if st, err := h.srv.deps.Jobs.Status(ctx, info.ID); err != nil || st.Status != jobs.StateCanceled {
		t.Fatalf("when the relay ended, its job was %+v (%v), want canceled", st, err)
	}
}

// departedClient is a connection whose client has gone: every write fails.
type departedClient struct{}

func (departedClient) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
