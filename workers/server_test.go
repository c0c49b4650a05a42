package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/workers"
)

// recordingPublisher passes notices on (or drops them) and remembers what it was asked to send.
type recordingPublisher struct {
	next workers.Publisher // nil: drop everything
	mu   sync.Mutex
	sent []notice
}

type notice struct {
	channel string
	body    []byte
}

func (p *recordingPublisher) PublishIn(ctx context.Context, pipe redis.Pipeliner, channel string, msg []byte) {
	p.mu.Lock()
	p.sent = append(p.sent, notice{channel, append([]byte(nil), msg...)})
	p.mu.Unlock()
	if p.next != nil {
		p.next.PublishIn(ctx, pipe, channel, msg)
	}
}

func (p *recordingPublisher) noticesFor(jobID string) []notice {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []notice
	for _, n := range p.sent {
		var o jobs.Outcome
		if json.Unmarshal(n.body, &o) == nil && o.JobID == jobID {
			out = append(out, n)
		}
	}
	return out
}

// testPayload selects what the test handler does; a payload it cannot read goes to the real Ping.
type testPayload struct {
	Mode    string `json:"mode"`
	DelayMS int    `json:"delay_ms,omitempty"`
	Size    int    `json:"size,omitempty"`
}

const secretText = "dial tcp 10.9.8.7:5432: password=hunter2"

// handler is registered for jobs.TypePing (the only task type with a policy): the payload's mode
// picks a behaviour, and everything else is the real Ping handler.
func handler(ping workers.Ping) workers.Func {
	return func(ctx context.Context, t *asynq.Task) (any, error) {
		var p testPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Mode == "" {
			return ping.Handle(ctx, t)
		}
		switch p.Mode {
		case "headers":
			return map[string]string{
				"request_id": t.Headers()[jobs.HeaderRequestID],
				"owner":      t.Headers()[jobs.HeaderOwner],
			}, nil
		case "permanent":
			return nil, jobs.Permanent("quota_exceeded", "out of credit", 402)
		case "wrapped-permanent":
			return nil, fmt.Errorf("calling upstream: %w", jobs.Permanent(jobs.CodeBadRequest, "bad prompt", 400))
		case "job-error":
			return nil, &jobs.Error{Code: jobs.CodeUnavailable, Message: "upstream is busy", Status: 503, RetryAfter: 5}
		case "plain":
			return nil, errors.New(secretText)
		case "panic":
			panic(secretText)
		case "unencodable":
			return map[string]any{"f": func() {}}, nil
		case "big":
			return map[string]string{"data": strings.Repeat("x", p.Size)}, nil
		case "block":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("unknown test mode %q", p.Mode)
	}
}

// retryingType is a task type whose policy allows retries (ping's does not), if there is one.
func retryingType() (string, bool) {
	for _, typ := range jobs.Types() {
		if p, err := jobs.PolicyFor(typ); err == nil && p.MaxRetry >= 1 {
			return typ, true
		}
	}
	return "", false
}

// retryHandler fails with a plain error on the attempts the payload names and succeeds otherwise.
type retryPayload struct {
	FailAttempts int `json:"fail_attempts"` // -1: every attempt
}

func retryHandler(ctx context.Context, t *asynq.Task) (any, error) {
	var p retryPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return nil, jobs.Permanent(jobs.CodeBadRequest, "bad payload", 400)
	}
	n, _ := asynq.GetRetryCount(ctx)
	if p.FailAttempts < 0 || n < p.FailAttempts {
		return nil, fmt.Errorf("attempt %d: %s", n, secretText)
	}
	return map[string]int{"attempts": n + 1}, nil
}

type env struct {
	rdb     *redis.Client
	keys    storage.Keys
	hub     *storage.Hub
	client  *jobs.Client
	insp    *asynq.Inspector
	pub     *recordingPublisher
	logs    *syncbuf.Buffer
	stop    context.CancelFunc
	stopped chan error
}

type envOptions struct {
	drop            bool // the worker's publisher drops every notice
	shutdownTimeout time.Duration
	beat            time.Duration // > 0: jobs get heartbeats (storage.Liveness) this often
	long            bool          // ping is registered with HandleLong
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%s:", jobs.NewID()))
	hub := storage.NewHub(rdb, 0)
	t.Cleanup(func() { _ = hub.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	client := jobs.NewClient(asynq.NewClientFromRedisClient(rdb), insp, keys.Notices("test-"+jobs.NewID()))
	cctx, ccancel := context.WithCancel(context.Background())
	t.Cleanup(ccancel)
	if err := client.Start(cctx, hub); err != nil {
		t.Fatalf("client.Start: %v", err)
	}

	pub := &recordingPublisher{}
	if !o.drop {
		pub.next = storage.NewPublisher(rdb)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := workers.Config{
		Concurrency: 4, PollInterval: 10 * time.Millisecond, NoticePrefix: keys.Notices(""),
		ShutdownTimeout: o.shutdownTimeout,
	}
	if o.beat > 0 {
		cfg.Liveness, cfg.BeatEvery = storage.NewLiveness(rdb, keys, 3*o.beat), o.beat
	}
	srv := workers.NewServer(rdb, cfg, pub, log)
	if o.long {
		srv.HandleLong(jobs.TypePing, handler(workers.Ping{Worker: "w-test"}))
	} else {
		srv.Handle(jobs.TypePing, handler(workers.Ping{Worker: "w-test"}))
	}
	if typ, ok := retryingType(); ok {
		srv.Handle(typ, retryHandler)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e := &env{rdb: rdb, keys: keys, hub: hub, client: client, insp: insp, pub: pub, logs: logs,
		stop: cancel, stopped: make(chan error, 1)}
	go func() { e.stopped <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.stopped:
			if err != nil {
				t.Errorf("Server.Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("Server.Run did not return 40 s after its context ended")
		}
		if t.Failed() {
			t.Logf("worker logs:\n%s", logs.String())
		}
	})
	return e
}

func (e *env) run(t *testing.T, payload any, requestID string) (jobs.Info, jobs.Outcome) {
	t.Helper()
	info, o, err := e.client.Run(context.Background(),
		jobs.Spec{Type: jobs.TypePing, Payload: payload, RequestID: requestID, Owner: "key:key_test"}, 15*time.Second)
	if err != nil {
		t.Fatalf("Run(%v): %v", payload, err)
	}
	if o.JobID != info.ID {
		t.Fatalf("outcome of job %q for job %q", o.JobID, info.ID)
	}
	return info, o
}

func (e *env) status(t *testing.T, id string) jobs.Status {
	t.Helper()
	st, err := e.client.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status(%s): %v", id, err)
	}
	return st
}

// finalStatus polls Status until the job has finished. (The completion notice can arrive a moment
// before asynq records the task as completed: see TestServerOutcomeBeforeCompletion.)
func (e *env) finalStatus(t *testing.T, id string) jobs.Status {
	t.Helper()
	var st jobs.Status
	testwait.For(t, "job "+id+" is reported finished", 5*time.Second, func() bool {
		st = e.status(t, id)
		return st.Status != jobs.StateQueued && st.Status != jobs.StateRunning
	})
	return st
}

func TestServer(t *testing.T) {
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second})
	// The subtests share one worker (one Redis database); they run in order.

	t.Run("ping round trip", func(t *testing.T) {
		before := time.Now().UTC()
		info, o := e.run(t, jobs.PingPayload{}, "req-ping")
		if !o.OK || o.Error != nil {
			t.Fatalf("outcome %+v, want OK", o)
		}
		var r jobs.PingResult
		if err := o.Decode(&r); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if r.Worker != "w-test" || r.DelayMS != 0 || r.StartedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("PingResult = %+v", r)
		}
		st := e.finalStatus(t, info.ID)
		if st.Status != jobs.StateSucceeded || st.Error != nil || string(st.Result) != string(o.Result) {
			t.Fatalf("Status = %+v (result %s), want succeeded with %s", st, st.Result, o.Result)
		}
		// asynq keeps completion times in whole seconds: see TestServerCompletedAtPrecision.
		if st.CreatedAt == nil || st.CompletedAt == nil || st.CompletedAt.Before(st.CreatedAt.Truncate(time.Second)) {
			t.Fatalf("Status times: created %v completed %v", st.CreatedAt, st.CompletedAt)
		}
		if st.Owner != "key:key_test" || st.Type != jobs.TypePing || st.JobID != info.ID {
			t.Fatalf("Status identity = %+v", st)
		}
		// The notice went to this client's channel only.
		ns := e.pub.noticesFor(info.ID)
		if len(ns) != 1 || ns[0].channel != e.client.Channel() {
			t.Fatalf("notices %+v, want one on %s", ns, e.client.Channel())
		}
	})

	t.Run("headers reach the handler", func(t *testing.T) {
		_, o := e.run(t, testPayload{Mode: "headers"}, "req-123")
		var got map[string]string
		if err := o.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got["request_id"] != "req-123" || got["owner"] != "key:key_test" {
			t.Fatalf("handler saw headers %v", got)
		}
		testwait.For(t, "the worker's log lines carry the request id", 5*time.Second, func() bool {
			return strings.Contains(e.logs.String(), "request_id=req-123")
		})
	})

	failures := []struct {
		name    string
		payload any
		want    jobs.Error
	}{
		{"permanent", testPayload{Mode: "permanent"}, jobs.Error{Code: "quota_exceeded", Message: "out of credit", Status: 402}},
		{"wrapped permanent", testPayload{Mode: "wrapped-permanent"}, jobs.Error{Code: jobs.CodeBadRequest, Message: "bad prompt", Status: 400}},
		{"job error on the last attempt", testPayload{Mode: "job-error"},
			jobs.Error{Code: jobs.CodeUnavailable, Message: "upstream is busy", Status: 503, RetryAfter: 5}},
		{"plain error", testPayload{Mode: "plain"}, jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}},
		{"panic", testPayload{Mode: "panic"}, jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}},
		{"unencodable result", testPayload{Mode: "unencodable"}, jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}},
		{"malformed ping payload", json.RawMessage(`"not an object"`), jobs.Error{Code: jobs.CodeBadRequest, Message: "malformed system:ping payload", Status: 400}},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			info, o := e.run(t, c.payload, "req-"+strings.ReplaceAll(c.name, " ", "-"))
			if o.OK || o.Error == nil || len(o.Result) != 0 {
				t.Fatalf("outcome %+v, want a failure", o)
			}
			if *o.Error != c.want {
				t.Fatalf("error %+v, want %+v", *o.Error, c.want)
			}
			var r jobs.PingResult
			var je *jobs.Error
			if err := o.Decode(&r); !errors.As(err, &je) || je.Code != c.want.Code {
				t.Fatalf("Decode: %v, want the job error", err)
			}
			st := e.finalStatus(t, info.ID)
			if st.Status != jobs.StateFailed || st.Error == nil || *st.Error != c.want {
				t.Fatalf("Status = %+v (error %+v), want failed with %+v", st, st.Error, c.want)
			}
			if st.CreatedAt == nil || st.CompletedAt == nil || string(st.Result) != "null" {
				t.Fatalf("Status = %+v: want both times and a null result", st)
			}
			// Internals stay in the logs, never in what the caller sees.
			for _, v := range []any{o, st} {
				body, _ := json.Marshal(v)
				for _, s := range []string{"hunter2", "10.9.8.7", "panic", "goroutine", "encode result"} {
					if strings.Contains(string(body), s) {
						t.Fatalf("the caller sees internals (%q): %s", s, body)
					}
				}
			}
			// A failed job is final: no retry is scheduled. (The outcome is stored, and Run
			// returns, just before asynq moves the task, so allow it a moment.)
			testwait.For(t, "the failed task to be archived", 5*time.Second, func() bool {
				ti, err := e.insp.GetTaskInfo(info.Queue, info.ID)
				return err == nil && ti.State == asynq.TaskStateArchived
			})
		})
	}

	t.Run("internals are logged", func(t *testing.T) {
		logs := e.logs.String()
		for _, s := range []string{"hunter2", "panic"} {
			if !strings.Contains(logs, s) {
				t.Errorf("the logs lack %q: operators cannot see why the job failed", s)
			}
		}
	})

	t.Run("worker survives a panic", func(t *testing.T) {
		_, o := e.run(t, testPayload{Mode: "panic"}, "")
		if o.OK || o.Error.Code != jobs.CodeInternal {
			t.Fatalf("panic outcome %+v", o)
		}
		for i := range 3 {
			_, o := e.run(t, jobs.PingPayload{}, "")
			if !o.OK {
				t.Fatalf("ping %d after a panic: %+v", i, o)
			}
		}
	})

	t.Run("still running, then wait", func(t *testing.T) {
		ctx := context.Background()
		info, o, err := e.client.Run(ctx, jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{DelayMS: 2000}},
			200*time.Millisecond)
		if !errors.Is(err, jobs.ErrStillRunning) {
			t.Fatalf("Run: %+v %v, want ErrStillRunning", o, err)
		}
		if info.ID == "" {
			t.Fatal("no job id to hand out")
		}
		st := e.status(t, info.ID)
		if st.Status != jobs.StateRunning && st.Status != jobs.StateQueued {
			t.Fatalf("Status while running = %q", st.Status)
		}
		o, err = e.client.Wait(ctx, info, 15*time.Second)
		if err != nil || !o.OK {
			t.Fatalf("Wait = %+v, %v", o, err)
		}
		var r jobs.PingResult
		if err := o.Decode(&r); err != nil || r.DelayMS != 2000 {
			t.Fatalf("result %+v %v", r, err)
		}
	})

	t.Run("large result goes through the store", func(t *testing.T) {
		const size = 300 << 10 // above the 256 KiB notice limit
		// A short wait: the truncated notice can race ahead of asynq's completion record, and then
		// the stored result is read at the deadline (TestServerOutcomeBeforeCompletion).
		info, o, err := e.client.Run(context.Background(),
			jobs.Spec{Type: jobs.TypePing, Payload: testPayload{Mode: "big", Size: size}}, 2*time.Second)
		if err != nil || o.JobID != info.ID {
			t.Fatalf("Run = %+v, %v", o, err)
		}
		var r map[string]string
		if err := o.Decode(&r); err != nil || len(r["data"]) != size {
			t.Fatalf("result of %d bytes (%v), want %d", len(r["data"]), err, size)
		}
		ns := e.pub.noticesFor(info.ID)
		if len(ns) != 1 {
			t.Fatalf("%d notices, want 1", len(ns))
		}
		var n jobs.Outcome
		if err := json.Unmarshal(ns[0].body, &n); err != nil || !n.Truncated || !n.OK || len(n.Result) != 0 || len(ns[0].body) > 1024 {
			t.Fatalf("notice %s: want a small truncated notice", ns[0].body)
		}
	})

	t.Run("notices only to channels under the prefix", func(t *testing.T) {
		// A client whose channel lies outside NoticePrefix gets no notice, and still its outcome
		// (from the stored result, once its wait is over).
		other := jobs.NewClient(asynq.NewClientFromRedisClient(e.rdb), e.insp, "elsewhere:"+jobs.NewID())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := other.Start(ctx, e.hub); err != nil {
			t.Fatal(err)
		}
		info, o, err := other.Run(ctx, jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{}}, time.Second)
		if err != nil || !o.OK {
			t.Fatalf("Run = %+v, %v", o, err)
		}
		if ns := e.pub.noticesFor(info.ID); len(ns) != 0 {
			t.Fatalf("notice published to %q, outside the prefix %q", ns[0].channel, e.keys.Notices(""))
		}
	})

	t.Run("concurrent jobs", func(t *testing.T) {
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, o, err := e.client.Run(context.Background(),
					jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{DelayMS: 20}, RequestID: fmt.Sprint("c-", i)}, 15*time.Second)
				if err != nil || !o.OK {
					errs <- fmt.Errorf("job %d: %+v %v", i, o, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("status of an unknown job", func(t *testing.T) {
		if _, err := e.client.Status(context.Background(), jobs.NewID()); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("workers are counted", func(t *testing.T) {
		testwait.For(t, "Workers() >= 1 while the server runs", 10*time.Second, func() bool {
			n, err := e.client.Workers()
			return err == nil && n >= 1
		})
	})

	t.Run("cancel", func(t *testing.T) {
		ctx := context.Background()
		info, err := e.client.Enqueue(ctx, jobs.Spec{Type: jobs.TypePing, Payload: testPayload{Mode: "block"}})
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			o   jobs.Outcome
			err error
		}
		res := make(chan result, 1)
		go func() {
			o, err := e.client.Wait(ctx, info, 20*time.Second)
			res <- result{o, err}
		}()
		testwait.For(t, "the job runs", 5*time.Second, func() bool { return e.status(t, info.ID).Status == jobs.StateRunning })
		// Cancellation travels over asynq's own pub/sub: repeat until the worker hears it.
		var r result
		deadline := time.After(10 * time.Second)
	loop:
		for {
			if err := e.client.Cancel(context.Background(), info.ID); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			select {
			case r = <-res:
				break loop
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatal("the canceled job did not end within 10 s")
			}
		}
		want := jobs.Error{Code: jobs.CodeCanceled, Message: "the job was canceled", Status: 499}
		if r.err != nil || r.o.OK || r.o.Error == nil || *r.o.Error != want {
			t.Fatalf("outcome of a canceled job %+v (error %+v), %v; want %+v", r.o, r.o.Error, r.err, want)
		}
		// And the worker goes on serving.
		if _, o := e.run(t, jobs.PingPayload{}, ""); !o.OK {
			t.Fatalf("ping after a cancel: %+v", o)
		}
	})
}

func TestServerRetries(t *testing.T) {
	typ, ok := retryingType()
	if !ok {
		t.Skip("no task type has a policy with retries")
	}
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second})
	ctx := context.Background()
	// The retry delay is 1 s, but asynq moves due retries back to their queue only every 5 s.
	// (A plain error on the last attempt is covered by TestServer: ping has no retries.)
	wait := 20 * time.Second

	t.Run("a plain error is retried, then the job succeeds", func(t *testing.T) {
		info, o, err := e.client.Run(ctx, jobs.Spec{Type: typ, Payload: retryPayload{FailAttempts: 1}}, wait)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		var r map[string]int
		if err := o.Decode(&r); err != nil || r["attempts"] != 2 {
			t.Fatalf("outcome %+v (%v), want success on attempt 2", r, err)
		}
		// The failed attempt told nobody: the only notice is the success.
		ns := e.pub.noticesFor(info.ID)
		if len(ns) != 1 {
			t.Fatalf("%d notices, want 1 (failed attempts that will be retried publish nothing)", len(ns))
		}
		if st := e.finalStatus(t, info.ID); st.Status != jobs.StateSucceeded {
			t.Fatalf("Status = %q", st.Status)
		}
	})

	t.Run("a permanent error is not retried", func(t *testing.T) {
		info, o, err := e.client.Run(ctx, jobs.Spec{Type: typ, Payload: json.RawMessage(`"bad"`)}, wait)
		if err != nil || o.OK || o.Error == nil || o.Error.Code != jobs.CodeBadRequest {
			t.Fatalf("Run = %+v, %v", o, err)
		}
		ti, err := e.insp.GetTaskInfo(info.Queue, info.ID)
		if err != nil || ti.Retried != 0 {
			t.Fatalf("task %+v (%v): want no retry", ti, err)
		}
	})
}

func TestServerStatusOfCanceledJob(t *testing.T) {
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second})
	ctx := context.Background()
	info, err := e.client.Enqueue(ctx, jobs.Spec{Type: jobs.TypePing, Payload: testPayload{Mode: "block"}})
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the job runs", 5*time.Second, func() bool { return e.status(t, info.ID).Status == jobs.StateRunning })
	var st jobs.Status
	testwait.For(t, "the canceled job finishes", 10*time.Second, func() bool {
		if err := e.client.Cancel(context.Background(), info.ID); err != nil {
			t.Fatal(err)
		}
		st = e.status(t, info.ID)
		return st.Status != jobs.StateRunning && st.Status != jobs.StateQueued
	})
	if st.Status != jobs.StateCanceled || st.Error == nil || st.Error.Code != jobs.CodeCanceled {
		t.Fatalf("Status of a canceled job = %q (error %+v), want %q with code %q",
			st.Status, st.Error, jobs.StateCanceled, jobs.CodeCanceled)
	}
}

func TestServerMissedNotice(t *testing.T) {
	// The worker's notices are lost: the caller still gets the outcome, from the stored result,
	// once its wait is over.
	e := newEnv(t, envOptions{drop: true, shutdownTimeout: 5 * time.Second})
	ctx := context.Background()
	info, o, err := e.client.Run(ctx, jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{}}, time.Second)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !o.OK || o.JobID != info.ID {
		t.Fatalf("outcome %+v", o)
	}
	var r jobs.PingResult
	if err := o.Decode(&r); err != nil || r.Worker != "w-test" {
		t.Fatalf("result %+v %v", r, err)
	}
	if ns := e.pub.noticesFor(info.ID); len(ns) != 1 {
		t.Fatalf("the worker tried %d notices, want 1 (dropped)", len(ns))
	}
	// A failure is read back the same way.
	info, o, err = e.client.Run(ctx, jobs.Spec{Type: jobs.TypePing, Payload: testPayload{Mode: "permanent"}}, time.Second)
	if err != nil || o.OK || o.Error == nil || o.Error.Code != "quota_exceeded" || o.JobID != info.ID {
		t.Fatalf("failed job read back as %+v, %v", o, err)
	}
}

func TestServerGracefulShutdown(t *testing.T) {
	e := newEnv(t, envOptions{}) // default shutdown timeout (25 s)
	ctx := context.Background()
	id := jobs.NewID()
	type result struct {
		info jobs.Info
		o    jobs.Outcome
		err  error
	}
	res := make(chan result, 1)
	go func() {
		info, o, err := e.client.Run(ctx, jobs.Spec{Type: jobs.TypePing, ID: id, Payload: jobs.PingPayload{DelayMS: 500}}, 20*time.Second)
		res <- result{info, o, err}
	}()
	testwait.For(t, "the job starts", 5*time.Second, func() bool {
		st, err := e.client.Status(ctx, id)
		return err == nil && st.Status == jobs.StateRunning
	})
	e.stop() // the worker is told to stop while the job runs

	var rr result
	select {
	case rr = <-res:
	case <-time.After(25 * time.Second):
		t.Fatal("Run did not return")
	}
	info, o, err := rr.info, rr.o, rr.err
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !o.OK || info.ID != id {
		t.Fatalf("job interrupted by shutdown: %+v (error %+v)", o, o.Error)
	}
	var r jobs.PingResult
	if err := o.Decode(&r); err != nil || r.DelayMS != 500 {
		t.Fatalf("result %+v %v", r, err)
	}
	select {
	case err := <-e.stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		e.stopped <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Server.Run did not return after shutdown")
	}
	if st := e.finalStatus(t, info.ID); st.Status != jobs.StateSucceeded {
		t.Fatalf("Status after shutdown = %q", st.Status)
	}
	// The stopped worker is no longer counted.
	testwait.For(t, "Workers() drops to 0 after shutdown", 5*time.Second, func() bool {
		n, err := e.client.Workers()
		return err == nil && n == 0
	})
}

func TestServerOutcomeBeforeCompletion(t *testing.T) {
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second})
	ctx := context.Background()

	t.Run("large results arrive without waiting out the deadline", func(t *testing.T) {
		for i := range 20 {
			done := make(chan error, 1)
			go func() {
				_, o, err := e.client.Run(ctx, jobs.Spec{Type: jobs.TypePing,
					Payload: testPayload{Mode: "big", Size: 300 << 10}}, 30*time.Second)
				if err == nil && !o.OK {
					err = fmt.Errorf("outcome %+v", o)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("run %d: the finished job's large outcome was not delivered within 5 s (Run waits for its 30 s deadline)", i)
			}
		}
	})

	t.Run("status agrees with a returned outcome", func(t *testing.T) {
		for i := range 40 {
			info, o := e.run(t, jobs.PingPayload{}, "")
			if !o.OK {
				t.Fatalf("outcome %+v", o)
			}
			if st := e.status(t, info.ID); st.Status != jobs.StateSucceeded {
				t.Fatalf("run %d: Run returned a successful outcome but Status says %q", i, st.Status)
			}
		}
	})
}

func TestServerCompletedAtPrecision(t *testing.T) {
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second})
	for i := range 5 {
		info, _ := e.run(t, jobs.PingPayload{}, "")
		st := e.finalStatus(t, info.ID)
		if st.CreatedAt == nil || st.CompletedAt == nil || st.CompletedAt.Before(*st.CreatedAt) {
			t.Fatalf("run %d: completed_at %v before created_at %v", i, st.CompletedAt, st.CreatedAt)
		}
	}
}

// A job's heartbeat starts within a tenth of a beat of its start (inside the api's grace of one
// beat) and is gone as soon as its outcome is stored; a job shorter than that leaves none behind.
func TestServerHeartbeats(t *testing.T) {
	const beat = 400 * time.Millisecond
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second, beat: beat})
	live := storage.NewLiveness(e.rdb, e.keys, 3*beat)
	ctx := context.Background()

	id := jobs.NewID()
	ran := make(chan jobs.Outcome, 1)
	go func() {
		_, o, err := e.client.Run(ctx, jobs.Spec{ID: id, Type: jobs.TypePing, Payload: jobs.PingPayload{DelayMS: 1500}}, 15*time.Second)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		ran <- o
	}()
	// Started: asynq lists it active. From then on its heartbeat must appear within the grace.
	testwait.For(t, "the job runs", 5*time.Second, func() bool {
		ti, err := e.insp.GetTaskInfo(jobs.QueueDefault, id)
		return err == nil && ti.State == asynq.TaskStateActive
	})
	active := time.Now()
	testwait.For(t, "the running job's heartbeat", beat, func() bool {
		alive, err := live.Alive(ctx, id)
		return err == nil && alive
	})
	t.Logf("first beat seen %v after the job was active", time.Since(active))
	if o := <-ran; !o.OK {
		t.Fatalf("outcome %+v, want OK", o)
	}
	// The notice and the heartbeat's end travel in one pipeline: gone by the time the caller knows.
	if alive, err := live.Alive(ctx, id); err != nil || alive {
		t.Fatalf("heartbeat after the outcome arrived: alive=%v err=%v", alive, err)
	}

	info, o := e.run(t, jobs.PingPayload{}, "req-short")
	if !o.OK {
		t.Fatalf("short job outcome %+v", o)
	}
	time.Sleep(beat / 2) // a beat sent late for it would show now
	if n, err := e.rdb.Exists(ctx, e.keys.JobAlive(info.ID)).Result(); err != nil || n != 0 {
		t.Fatalf("short job left a heartbeat (exists=%d, err=%v)", n, err)
	}
}

// The worker writes the result where asynq's ResultWriter does: the inspector reads it back.
func TestResultKeyIsAsynqs(t *testing.T) {
	e := newEnv(t, envOptions{drop: true, shutdownTimeout: 5 * time.Second})
	info, err := e.client.Enqueue(context.Background(), jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{}})
	if err != nil {
		t.Fatal(err)
	}
	var ti *asynq.TaskInfo
	testwait.For(t, "the stored result", 5*time.Second, func() bool {
		ti, err = e.insp.GetTaskInfo(info.Queue, info.ID)
		return err == nil && len(ti.Result) > 0
	})
	raw, err := e.rdb.HGet(context.Background(), workers.ResultKey(info.Queue, info.ID), "result").Bytes()
	if err != nil || string(raw) != string(ti.Result) {
		t.Fatalf("ResultKey holds %q (err %v), the inspector reads %q", raw, err, ti.Result)
	}
}

// A job registered with HandleLong beats before it runs, and its heartbeat is gone once it ends.
func TestServerHeartbeatsLong(t *testing.T) {
	const beat = time.Hour // the loop never ticks: only the start's beat can be there
	e := newEnv(t, envOptions{shutdownTimeout: 5 * time.Second, beat: beat, long: true})
	live := storage.NewLiveness(e.rdb, e.keys, 3*beat)
	ctx := context.Background()
	id := jobs.NewID()
	ran := make(chan jobs.Outcome, 1)
	go func() {
		_, o, _ := e.client.Run(ctx, jobs.Spec{ID: id, Type: jobs.TypePing, Payload: jobs.PingPayload{DelayMS: 300}}, 15*time.Second)
		ran <- o
	}()
	testwait.For(t, "the running job's heartbeat", 5*time.Second, func() bool {
		alive, err := live.Alive(ctx, id)
		return err == nil && alive
	})
	if o := <-ran; !o.OK {
		t.Fatalf("outcome %+v, want OK", o)
	}
	if alive, err := live.Alive(ctx, id); err != nil || alive {
		t.Fatalf("heartbeat after the outcome arrived: alive=%v err=%v", alive, err)
	}
}
