package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/stream"
)

// deadBeats stands in for the workers' heartbeats: a job is dead once the test says so.
type deadBeats struct {
	mu   sync.Mutex
	dead map[string]bool
}

func (d *deadBeats) Alive(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.dead[id], nil
}

// A stream whose worker dies ends with a worker_lost error frame within a few liveness checks;
// resuming it gives what was stored and that frame at once; and the same request_id can be sent
// again and reaches a new job.
func TestStreamOfALostWorkerEndsAndCanBeRetried(t *testing.T) {
	h := newHarness(t)
	beats := &deadBeats{dead: map[string]bool{}}
	h.srv.deps.Jobs.WatchLiveness(beats, 50*time.Millisecond, 50*time.Millisecond)
	// A worker that takes the job, sends one frame, and then never answers again.
	started := make(chan string, 4)
	srv := asynq.NewServerFromRedisClient(h.rdb, asynq.Config{Concurrency: 4, Queues: jobs.Queues(),
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel, ShutdownTimeout: 100 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeChat, func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		_, _ = h.srv.deps.Frames.Append(ctx, id, []byte(`{"type":"content","job_id":"`+id+`","seq":1,"text":"Hel"}`))
		started <- id
		<-ctx.Done()
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	_, key := h.key(0, storage.ScopeChat)
	base := newListener(t, h)
	post := func() *http.Response {
		req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(`{"message":"hi","stream":true,"request_id":"r-1"}`))
		req.Header.Set("api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("stream: %v %v", res, err)
		}
		return res
	}
	res := post()
	defer res.Body.Close()
	jobID := <-started
	beats.mu.Lock()
	beats.dead[jobID] = true
	beats.mu.Unlock()
	if f := lastFrame(t, res); f.Type != stream.TypeError || f.Code != jobs.CodeWorkerLost || f.JobID != jobID || f.Seq != 2 {
		t.Fatalf("stream of the lost job ended with %+v", f)
	}

	req, _ := http.NewRequest("GET", base+"/chat/stream/"+jobID, nil)
	req.Header.Set("api-key", key)
	resumed, err := http.DefaultClient.Do(req)
	if err != nil || resumed.StatusCode != 200 {
		t.Fatalf("resume: %v %v", resumed, err)
	}
	defer resumed.Body.Close()
	if f := lastFrame(t, resumed); f.Code != jobs.CodeWorkerLost {
		t.Fatalf("resumed stream ended with %+v", f)
	}

	again := post()
	defer again.Body.Close()
	if again.Header.Get("X-Idempotent-Replay") != "" || again.Header.Get("X-Job-Id") == jobID {
		t.Fatalf("the retried request_id replayed the lost job: %v", again.Header)
	}
	if got := <-started; got == jobID {
		t.Fatalf("the retry ran the lost job again")
	}
}
