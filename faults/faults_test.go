//go:build faults

package faults

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/openai"
)

// noticeLimit is the bound on how late a caller may learn that its job's worker died.
const noticeLimit = 15 * time.Second

// Worker SIGKILL mid-jobs: every accepted async job still ends succeeded (asynq re-runs it on
// the other worker), a synchronous caller hears within seconds, and a stream ends worker_lost.
func TestWorkerKilledMidJobs(t *testing.T) {
	e := newEnv(t)
	doomed := e.worker("worker-a", 1)
	before := e.goroutines()
	defer e.settles(before)
	// Everything starts on worker A (B does not exist yet), so the kill hits all of it.
	var async []string
	for i := range 8 {
		r := e.call("POST", "/admin/ping", `{"delay_ms":4000}`, "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("ping %d: %d %s", i, r.status, r.body)
		}
		async = append(async, r.field("job_id").(string))
	}
	for i := range 4 {
		r := e.call("POST", "/chat", fmt.Sprintf(`{"message":"[[openaiemu:delay=4s]] async %d"}`, i), "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("chat %d: %d %s", i, r.status, r.body)
		}
		async = append(async, r.field("job_id").(string))
	}
	for i := range 2 {
		r := e.call("POST", "/images/generate", fmt.Sprintf(`{"prompt":"[[openaiemu:delay=4s]] image %d","size":"1024x1024"}`, i), "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("image %d: %d %s", i, r.status, r.body)
		}
		async = append(async, r.field("job_id").(string))
	}
	sync := make(chan reply, 1)
	go func() { sync <- e.call("POST", "/chat", `{"message":"[[openaiemu:delay=6s]] sync"}`) }()
	streams := []*stream{
		e.openStream("[[openaiemu:chunk_delay=1s]] a slow stream"),
		e.openStream("[[openaiemu:chunk_delay=1s]] another slow stream"),
	}
	e.waitFor("every job running", 20*time.Second, func() bool {
		for _, id := range async {
			if e.call("GET", "/jobs/"+id, "").field("status") != "running" {
				return false
			}
		}
		return true
	})
	e.worker("worker-b", 2)
	killed := time.Now()
	doomed.signal(syscall.SIGKILL, time.Second)

	for _, s := range streams {
		f := s.last(t, time.Minute)
		if f.Type != "error" || f.Code != "worker_lost" {
			t.Errorf("stream %s ended with %+v", s.job, f)
		} else if late := f.at.Sub(killed); late > noticeLimit {
			t.Errorf("stream %s heard of the dead worker after %s", s.job, late)
		} else {
			t.Logf("stream %s: worker_lost %s after the kill", s.job, late.Round(time.Millisecond))
		}
	}
	select {
	case r := <-sync:
		late := time.Since(killed)
		if r.status != 202 && r.status != 200 || late > noticeLimit+time.Second {
			t.Errorf("sync chat after %s: %d %s", late, r.status, r.body)
		}
		t.Logf("sync chat: %d %s after the kill", r.status, late.Round(time.Millisecond))
	case <-time.After(noticeLimit + 5*time.Second):
		t.Error("the sync chat of the dead worker still waits")
	}
	// asynq re-queues a dead worker's jobs when their lease has been expired for 30 s, checked
	// once a minute: all must end succeeded within a few minutes, none lost.
	defer func() {
		t.Logf("all %d async jobs succeeded %s after the kill", len(async), time.Since(killed).Round(time.Second))
	}()
	e.waitFor("every accepted async job succeeded after the re-run", 3*time.Minute, func() bool {
		for _, id := range async {
			switch st := e.call("GET", "/jobs/"+id, "").field("status"); st {
			case "succeeded":
			case "failed", "canceled":
				t.Fatalf("job %s %s", id, st)
			default:
				return false
			}
		}
		return true
	})
}

// Redis stop and start: 503 with Retry-After while it is gone, an open stream ends at once,
// everything works again after it is back, with no restart, and the jobs that were running
// across the outage end (succeeded or failed, never lost) within seconds of its end.
func TestRedisStopStart(t *testing.T) {
	e := newEnv(t)
	e.worker("worker-a", 1)
	before := e.goroutines()
	defer e.settles(before)
	var running []string
	for _, rq := range [][2]string{
		{"/admin/ping", `{"delay_ms":3000}`}, {"/admin/ping", `{"delay_ms":3000}`}, {"/admin/ping", `{"delay_ms":3000}`},
		{"/chat", `{"message":"[[openaiemu:delay=3s]] across the outage"}`},
		{"/chat", `{"message":"[[openaiemu:delay=3s]] across it too"}`},
		{"/images/generate", `{"prompt":"[[openaiemu:delay=3s]] across the outage","size":"1024x1024"}`},
	} {
		r := e.call("POST", rq[0], rq[1], "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("%s: %d %s", rq[0], r.status, r.body)
		}
		running = append(running, r.field("job_id").(string))
	}
	s := e.openStream("[[openaiemu:chunk_delay=1s]] across the outage")
	running = append(running, s.job) // a streamed chat is not re-run: it must end failed
	time.Sleep(500 * time.Millisecond)
	e.redis.Stop()
	stopped := time.Now()
	if f := s.last(t, 30*time.Second); f.Type != "error" || f.Code != "service_unavailable" || time.Since(stopped) > noticeLimit {
		t.Errorf("stream across the outage ended with %+v after %s", f, time.Since(stopped))
	}
	for _, rq := range [][2]string{{"GET", "/usage"}, {"POST", "/chat"}, {"GET", "/jobs/x"}, {"POST", "/admin/ping"}} {
		body := ""
		if rq[0] == "POST" {
			body = `{"message":"hi"}`
		}
		if rq[1] == "/admin/ping" {
			body = `{}`
		}
		r := e.call(rq[0], rq[1], body)
		if r.status != 503 || r.header.Get("Retry-After") == "" || r.field("detail") == nil {
			t.Errorf("%s %s during the outage: %d %s", rq[0], rq[1], r.status, r.body)
		}
	}
	time.Sleep(time.Until(stopped.Add(outage)))
	e.redis.Start()
	back := time.Now()
	ended := map[string]time.Duration{}
	e.waitFor("every job of the outage ended", 60*time.Second, func() bool {
		for _, id := range running {
			if _, ok := ended[id]; ok {
				continue
			}
			switch st := e.call("GET", "/jobs/"+id, "").field("status"); st {
			case "succeeded", "failed", "canceled":
				ended[id] = time.Since(back)
				t.Logf("job %s %s %s after Redis was back", id, st, ended[id].Round(100*time.Millisecond))
			}
		}
		return len(ended) == len(running)
	})
	for id, took := range ended {
		if took > recoveryLimit {
			t.Errorf("job %s ended %s after Redis was back (limit %s)", id, took, recoveryLimit)
		}
	}
	e.waitFor("a ping through the queue after Redis is back", 60*time.Second, func() bool {
		return e.call("POST", "/admin/ping", `{}`).status == 200
	})
}

// outage is how long TestRedisStopStart keeps Redis away; recoveryLimit is how soon after it the
// jobs that were running must have ended (the issue: within seconds).
const outage, recoveryLimit = 5 * time.Second, 15 * time.Second

// Upstream faults: every stall, cut, truncation, rate limit and server error ends in the
// documented code, within bounded time.
func TestUpstreamFaults(t *testing.T) {
	e := newEnv(t)
	e.worker("worker-a", 1)
	before := e.goroutines()
	defer e.settles(before)
	for _, d := range []string{"stall;after=3;stall_for=60s", "cut;after=3", "end;after=3", "delay=60s", "stream_error;after=3"} {
		s := e.openStream("[[openaiemu:" + d + "]] break")
		if f := s.last(t, 30*time.Second); f.Type != "error" || f.Code != "upstream_unavailable" {
			t.Errorf("%s: stream ended with %+v", d, f)
		}
		// Not lost either: its job says it failed.
		e.waitFor(d+": the stream's job failed", 10*time.Second, func() bool {
			return e.call("GET", "/jobs/"+s.job, "").field("status") == "failed"
		})
	}
	for _, f := range []openaiemu.Fault{
		{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointChatCompletions, RetryAfter: 3 * time.Second},
		{Kind: openaiemu.FaultServerError, Endpoint: openaiemu.EndpointChatCompletions},
	} {
		e.openai.SetFaults(f)
		r := e.call("POST", "/chat", `{"message":"fail"}`)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %v %s", f.Kind, r.status, r.header, r.body)
		}
		if f.Kind == openaiemu.FaultRateLimit && r.header.Get("Retry-After") != "3" {
			t.Errorf("the provider's Retry-After is not passed on: %q", r.header.Get("Retry-After"))
		}
		e.openai.ClearFaults()
	}
}

// A client that leaves a stream: its job is canceled and the upstream stream stopped.
func TestClientDisconnect(t *testing.T) {
	e := newEnv(t)
	e.worker("worker-a", 1)
	before := e.goroutines()
	defer e.settles(before)
	s := e.openStream("[[openaiemu:chunk_delay=500ms]] leave me")
	select {
	case <-s.frames:
	case <-time.After(20 * time.Second):
		t.Fatal("no first frame")
	}
	s.body.Close()
	e.waitFor("the departed client's job canceled", 20*time.Second, func() bool {
		return e.call("GET", "/jobs/"+s.job, "").field("status") == "canceled"
	})
	e.waitFor("the upstream stream stopped", 10*time.Second, func() bool {
		return e.openai.Stats().StreamsCanceled >= 1
	})
	if st := e.call("GET", "/jobs/"+s.job, ""); !strings.Contains(string(st.body), "canceled") {
		t.Errorf("status %s", st.body)
	}

}

// SIGTERM of a worker running a long stream: the client is told worker_lost (not canceled), and
// asynq's re-run of the handed-back job does not stream into an ended stream: it ends the job
// failed, so its request_id is free again.
func TestWorkerStoppedMidStream(t *testing.T) {
	e := newEnv(t)
	stopping := e.worker("worker-a", 1, "WORKER_SHUTDOWN_TIMEOUT=2s")
	before := e.goroutines()
	defer e.settles(before)
	s := e.openStream("[[openaiemu:chunk_delay=1s]] a long answer")
	select {
	case <-s.frames:
	case <-time.After(20 * time.Second):
		t.Fatal("no first frame")
	}
	e.worker("worker-b", 2)
	stopping.signal(syscall.SIGTERM, 20*time.Second)
	if f := s.last(t, 30*time.Second); f.Type != "error" || f.Code != "worker_lost" {
		t.Fatalf("stream of the stopped worker ended with %+v", f)
	}
	e.waitFor("the handed-back job ends failed worker_lost", 30*time.Second, func() bool {
		r := e.call("GET", "/jobs/"+s.job, "")
		return r.field("status") == "failed" && strings.Contains(string(r.body), "worker_lost")
	})
	if r := e.call("GET", "/chat/stream/"+s.job, ""); !strings.HasSuffix(strings.TrimSpace(string(r.body)), "data: [DONE]") ||
		!strings.Contains(string(r.body), "worker_lost") || strings.Count(string(r.body), `"type":"error"`) != 1 {
		t.Fatalf("resumed stream: %s", r.body)
	}
}
