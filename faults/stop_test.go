//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// apiStopDeadline is the api's documented graceful stop (api.Config.ShutdownTimeout).
const apiStopDeadline = 20 * time.Second

// SIGTERM of the api while it holds open streams, synchronous calls waiting for their jobs, a
// hundred keep-alive connections and a spare one that never sent a request: it stops well within
// its deadline, every stream ends at once with a frame to resume after, a synchronous caller gets
// its answer when it comes within a quarter of the deadline and its job's id (202) otherwise, and
// every accepted job finishes and can be read at the api that comes after it.
func TestAPIStopped(t *testing.T) {
	e := newEnv(t)
	e.worker("worker-a", 1)

	var accepted []string
	for i := range 6 {
		r := e.call("POST", "/admin/ping", `{"delay_ms":4000}`, "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("ping %d: %d %s", i, r.status, r.body)
		}
		accepted = append(accepted, r.field("job_id").(string))
	}
	for _, rq := range [][2]string{
		{"/chat", `{"message":"[[openaiemu:delay=4s]] async chat"}`},
		{"/images/generate", `{"prompt":"[[openaiemu:delay=4s]] async image","size":"1024x1024"}`},
	} {
		r := e.call("POST", rq[0], rq[1], "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("%s: %d %s", rq[0], r.status, r.body)
		}
		accepted = append(accepted, r.field("job_id").(string))
	}

	// A hundred connections, used once each and left idle in the client's pool.
	idle := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.base+"/usage", nil)
			req.Header.Set("api-key", e.key)
			if res, err := idle.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	// And a spare connection that never sends a request, as HTTP clients open them.
	spare, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()

	type answer struct {
		reply
		at time.Time
	}
	syncs := make(chan answer, 4)
	for _, rq := range [][2]string{
		{"/chat", `{"message":"[[openaiemu:delay=12s]] sync chat"}`},
		{"/admin/ping", `{"delay_ms":12000}`},
		{"/images/generate", `{"prompt":"[[openaiemu:delay=12s]] sync image","size":"1024x1024"}`},
		{"/admin/ping", `{"delay_ms":3000}`}, // ends within the stop's grace
	} {
		go func() { r := e.call("POST", rq[0], rq[1]); syncs <- answer{r, time.Now()} }()
	}
	streams := []*stream{
		e.openStream("[[openaiemu:chunk_delay=1s]] a stream across the stop"),
		e.openStream("[[openaiemu:chunk_delay=1s]] another one"),
	}
	for _, s := range streams {
		select {
		case <-s.frames:
		case <-time.After(20 * time.Second):
			t.Fatal("no first frame")
		}
		accepted = append(accepted, s.job)
	}
	time.Sleep(time.Second) // the synchronous calls are waiting by now

	old := e.api
	stopped := time.Now()
	old.signal(syscall.SIGTERM, apiStopDeadline+5*time.Second)
	took := time.Since(stopped)
	t.Logf("the api stopped %s after SIGTERM", took.Round(time.Millisecond))
	if took >= apiStopDeadline || old.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("the api took %s to stop (deadline %s), exit status %d", took, apiStopDeadline, old.cmd.ProcessState.ExitCode())
	}
	if log, _ := os.ReadFile(old.log); bytes.Contains(log, []byte("past its")) {
		t.Errorf("the api's log tells of a deadline:\n%s", log)
	}
	for _, s := range streams {
		f := s.last(t, 5*time.Second)
		if f.Type != "error" || f.Code != "service_unavailable" {
			t.Errorf("stream %s ended with %+v", s.job, f)
		}
		t.Logf("stream %s: %s %s after SIGTERM", s.job, f.Code, f.at.Sub(stopped).Round(time.Millisecond))
	}
	answered := 0
	for range 4 {
		a := <-syncs
		t.Logf("sync call: %d %s after SIGTERM", a.status, a.at.Sub(stopped).Round(time.Millisecond))
		if a.status == 200 {
			answered++
			continue
		}
		id, _ := a.field("job_id").(string)
		if a.status != 202 || id == "" {
			t.Errorf("a synchronous call across the stop: %d %s", a.status, a.body)
			continue
		}
		accepted = append(accepted, id)
	}
	if answered != 1 {
		t.Errorf("%d synchronous calls answered in full during the stop; want the short one", answered)
	}

	e.startAPI("api-2")
	e.waitFor(fmt.Sprintf("all %d accepted jobs succeeded at the next api", len(accepted)), time.Minute, func() bool {
		for _, id := range accepted {
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
	for _, s := range streams {
		r := e.call("GET", "/chat/stream/"+s.job, "")
		if body := strings.TrimSpace(string(r.body)); !strings.HasSuffix(body, "data: [DONE]") || !strings.Contains(body, `"type":"done"`) {
			t.Errorf("stream %s resumed at the next api: %s", s.job, body)
		}
	}
}
