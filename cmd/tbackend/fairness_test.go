package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbackend/tbackend/internal/testwait"
)

// TestNoisyNeighbour: one key opens 100 slow streams at once. Its cap (KEY_MAX_STREAMS, 8 by
// default) admits 8 and refuses the rest with 429 and Retry-After before they reach the queue,
// so with 16 workers another key's plain /chat still finds one free. The times are logged, not
// asserted: speed is the fault suite's and the benchmark's to judge.
func TestNoisyNeighbour(t *testing.T) {
	e := newChatEnv(t, "WORKER_CONCURRENCY", "16")
	quiet := e.otherKey(t)
	timed := func() (reply, time.Duration) {
		start := time.Now()
		r := e.spec.call(t, "POST", e.base+"/chat", quiet, `{"message":"hello","max_tokens":20}`)
		return r, time.Since(start)
	}
	if r, _ := timed(); r.status != 200 { // warm-up: connections, the model list
		t.Fatalf("quiet /chat: %d %s", r.status, r.raw)
	}
	_, unloaded := timed()

	const noisy = 100
	var admitted, refused, answered atomic.Int32
	var wg sync.WaitGroup
	for range noisy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.base+"/chat",
				strings.NewReader(`{"message":"slow [[openaiemu:first_token_delay=3s]]","stream":true}`))
			req.Header.Set("api-key", e.key)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			switch {
			case res.StatusCode == http.StatusOK:
				admitted.Add(1)
			case res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") != "":
				refused.Add(1)
			default:
				t.Errorf("noisy stream: status %d %v", res.StatusCode, res.Header)
			}
			answered.Add(1)
			_, _ = io.Copy(io.Discard, res.Body)
		}()
	}
	testwait.For(t, "every noisy stream answered or refused", 30*time.Second, func() bool { return answered.Load() == noisy })
	r, loaded := timed()
	if r.status != 200 {
		t.Fatalf("quiet /chat beside the noisy key: %d %s", r.status, r.raw)
	}
	if a, f := admitted.Load(), refused.Load(); a != 8 || f != noisy-8 {
		t.Fatalf("noisy key: %d streams admitted, %d refused; want 8 and %d", a, f, noisy-8)
	}
	wg.Wait()
	t.Logf("quiet /chat: %v alone, %v beside %d open slow streams of another key (%d refused)",
		unloaded.Round(time.Millisecond), loaded.Round(time.Millisecond), admitted.Load(), refused.Load())
}
