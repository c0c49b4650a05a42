package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/stream"
)

// fakeLiveness stands in for the workers' heartbeats: the test decides which jobs are alive.
type fakeLiveness struct {
	mu    sync.Mutex
	alive map[string]bool
}

func (f *fakeLiveness) Alive(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[id], nil
}

func (f *fakeLiveness) set(id string, alive bool) {
	f.mu.Lock()
	f.alive[id] = alive
	f.mu.Unlock()
}

// A waiter whose job's worker stops beating is told within a few checks, not at its deadline: a
// job asynq will re-run is still running (the caller gets its id), a streamed one failed with
// worker_lost, and Status and Lost say the same.
func TestClientNoticesALostWorker(t *testing.T) {
	e := newClientEnv(t, true)
	live := &fakeLiveness{alive: map[string]bool{}}
	e.c.WatchLiveness(live, 20*time.Millisecond, 20*time.Millisecond)
	ctx := context.Background()
	// A bare asynq server whose handler never returns: the task stays active, like one whose
	// worker died (asynq notices that only a minute or more later).
	started := make(chan string, 4)
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{
		Concurrency: 4, Queues: Queues(), TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
		ShutdownTimeout: 100 * time.Millisecond,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeChat, func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		started <- id
		<-ctx.Done()
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	for _, tc := range []struct {
		name     string
		streamed bool
	}{{"re-run", false}, {"streamed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := NewID()
			live.set(id, true)
			type result struct {
				o   Outcome
				err error
			}
			res := make(chan result, 1)
			go func() {
				_, o, err := e.c.Run(ctx, Spec{Type: TypeChat, ID: id, Streamed: tc.streamed, Payload: ChatPayload{Message: "x"}}, time.Minute)
				res <- result{o, err}
			}()
			if got := <-started; got != id {
				t.Fatalf("started %s, want %s", got, id)
			}
			select {
			case r := <-res:
				t.Fatalf("Run ended while the worker beat: %+v %v", r.o, r.err)
			case <-time.After(200 * time.Millisecond):
			}
			if _, lost := e.c.Lost(ctx, Info{ID: id, Queue: QueueDefault, Type: TypeChat}); lost {
				t.Fatal("Lost while the worker beats")
			}
			live.set(id, false)
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not notice the lost worker")
			}
			st, err := e.c.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			o, lost := e.c.Lost(ctx, Info{ID: id, Queue: QueueDefault, Type: TypeChat})
			if !tc.streamed {
				if r.err != ErrStillRunning || st.Status != StateRunning || lost {
					t.Fatalf("re-run job: Run = %+v %v, status %s, lost %v", r.o, r.err, st.Status, lost)
				}
				return
			}
			if r.err != nil || r.o.Error == nil || r.o.Error.Code != CodeWorkerLost || r.o.Error.Status != 503 {
				t.Fatalf("streamed job: Run = %+v %v", r.o, r.err)
			}
			if st.Status != StateFailed || st.Error == nil || st.Error.Code != CodeWorkerLost {
				t.Fatalf("streamed job status %+v", st)
			}
			if f := FinalFrame(o); !lost || f.Type != stream.TypeError || f.Code != CodeWorkerLost || f.JobID != id {
				t.Fatalf("Lost = %+v %v, frame %+v", o, lost, f)
			}
		})
	}
}
