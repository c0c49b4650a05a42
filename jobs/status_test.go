package jobs

// In package jobs so that statusOf/outcomeOf, which turn asynq's task records into what callers
// see, can be checked case by case; the Client tests below run against the real Redis.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/storage/redistest"
)

func TestStatusOf(t *testing.T) {
	enq := time.Date(2025, 3, 15, 10, 20, 30, 123_000_000, time.UTC)
	done := time.Date(2025, 3, 15, 10, 20, 31, 0, time.UTC)
	failedAt := time.Date(2025, 3, 15, 10, 20, 35, 0, time.UTC)
	headers := map[string]string{
		HeaderOwner: "key:key_1", HeaderEnqueuedAt: enq.Format(time.RFC3339Nano), HeaderRequestID: "req-1",
	}
	enc := func(o Outcome) []byte {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	okResult := json.RawMessage(`{"worker":"w","delay_ms":1}`)
	generic := &Error{Code: CodeInternal, Message: "the job failed", Status: 500}

	cases := []struct {
		name        string
		ti          asynq.TaskInfo
		status      string
		result      string // JSON
		err         *Error
		completedAt *time.Time
	}{
		{name: "pending", ti: asynq.TaskInfo{State: asynq.TaskStatePending}, status: StateQueued, result: "null"},
		{name: "scheduled", ti: asynq.TaskInfo{State: asynq.TaskStateScheduled}, status: StateQueued, result: "null"},
		{name: "retry", ti: asynq.TaskInfo{State: asynq.TaskStateRetry, LastErr: "boom", LastFailedAt: failedAt},
			status: StateQueued, result: "null"},
		{name: "aggregating", ti: asynq.TaskInfo{State: asynq.TaskStateAggregating}, status: StateQueued, result: "null"},
		{name: "active", ti: asynq.TaskInfo{State: asynq.TaskStateActive}, status: StateRunning, result: "null"},
		{
			name:   "completed with an outcome",
			ti:     asynq.TaskInfo{State: asynq.TaskStateCompleted, CompletedAt: done, Result: enc(Outcome{JobID: "j", OK: true, Result: okResult})},
			status: StateSucceeded, result: string(okResult), completedAt: &done,
		},
		{
			name: "completed, reported in UTC",
			ti: asynq.TaskInfo{State: asynq.TaskStateCompleted, CompletedAt: done.In(time.FixedZone("X", 7200)),
				Result: enc(Outcome{JobID: "j", OK: true, Result: okResult})},
			status: StateSucceeded, result: string(okResult), completedAt: &done,
		},
		{
			name:   "completed without a stored outcome",
			ti:     asynq.TaskInfo{State: asynq.TaskStateCompleted, CompletedAt: done},
			status: StateSucceeded, result: "null", completedAt: &done,
		},
		{
			name:   "completed with an outcome without result",
			ti:     asynq.TaskInfo{State: asynq.TaskStateCompleted, CompletedAt: done, Result: enc(Outcome{JobID: "j", OK: true})},
			status: StateSucceeded, result: "null", completedAt: &done,
		},
		{
			name: "archived with a failed outcome",
			ti: asynq.TaskInfo{State: asynq.TaskStateArchived, LastFailedAt: failedAt, LastErr: "quota: internal detail",
				Result: enc(Outcome{JobID: "j", Error: Permanent("quota_exceeded", "out of credit", 402)})},
			status: StateFailed, result: "null", completedAt: &failedAt,
			err: &Error{Code: "quota_exceeded", Message: "out of credit", Status: 402},
		},
		{
			name: "archived with a canceled outcome",
			ti: asynq.TaskInfo{State: asynq.TaskStateArchived, LastFailedAt: failedAt,
				Result: enc(Outcome{JobID: "j", Error: Permanent(CodeCanceled, "the job was canceled", 499)})},
			status: StateCanceled, result: "null", completedAt: &failedAt,
			err: &Error{Code: CodeCanceled, Message: "the job was canceled", Status: 499},
		},
		{
			name: "archived without an outcome hides LastErr",
			ti: asynq.TaskInfo{State: asynq.TaskStateArchived, LastFailedAt: failedAt,
				LastErr: "dial tcp 10.1.2.3:443: password=hunter2"},
			status: StateFailed, result: "null", err: generic, completedAt: &failedAt,
		},
		{
			name: "archived with a garbage result",
			ti: asynq.TaskInfo{State: asynq.TaskStateArchived, LastFailedAt: failedAt,
				Result: []byte("not json")},
			status: StateFailed, result: "null", err: generic, completedAt: &failedAt,
		},
		{
			// Archived without ever failing or running: canceled before it started.
			name:   "archived without any time",
			ti:     asynq.TaskInfo{State: asynq.TaskStateArchived},
			status: StateCanceled, result: "null", err: &Error{Code: CodeCanceled, Message: "the job was canceled", Status: 499},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti := c.ti
			ti.ID, ti.Type, ti.Queue, ti.Headers = "JOB1", TypePing, QueueDefault, headers
			st := statusOf(&ti)
			if st.JobID != "JOB1" || st.Type != TypePing || st.Owner != "key:key_1" {
				t.Errorf("identity = %q %q %q", st.JobID, st.Type, st.Owner)
			}
			if st.Status != c.status {
				t.Errorf("Status = %q, want %q", st.Status, c.status)
			}
			if string(st.Result) != c.result {
				t.Errorf("Result = %s, want %s", st.Result, c.result)
			}
			switch {
			case c.err == nil && st.Error != nil:
				t.Errorf("Error = %+v, want none", st.Error)
			case c.err != nil && (st.Error == nil || *st.Error != *c.err):
				t.Errorf("Error = %+v, want %+v", st.Error, c.err)
			}
			if st.CreatedAt == nil || !st.CreatedAt.Equal(enq) {
				t.Errorf("CreatedAt = %v, want %v", st.CreatedAt, enq)
			}
			switch {
			case c.completedAt == nil && st.CompletedAt != nil:
				t.Errorf("CompletedAt = %v, want none", st.CompletedAt)
			case c.completedAt != nil && (st.CompletedAt == nil || !st.CompletedAt.Equal(*c.completedAt) ||
				st.CompletedAt.Location() != time.UTC):
				t.Errorf("CompletedAt = %v, want %v in UTC", st.CompletedAt, c.completedAt)
			}
			body, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"hunter2", "internal detail", "boom", "key:key_1", "req-1"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("status shows %q: %s", secret, body)
				}
			}
		})
	}

	t.Run("bad enqueued-at", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {}, {HeaderEnqueuedAt: "yesterday"}} {
			st := statusOf(&asynq.TaskInfo{ID: "J", State: asynq.TaskStatePending, Headers: h})
			if st.CreatedAt != nil {
				t.Errorf("headers %v: CreatedAt = %v, want nil", h, st.CreatedAt)
			}
		}
	})
}

// chanFeed is the smallest Feed: the test decides what arrives on the notice channel.
type chanFeed struct {
	mu      sync.Mutex
	msgs    chan []byte
	channel string
	left    bool
}

func (f *chanFeed) Subscribe(_ context.Context, channel string) (<-chan []byte, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channel = channel
	return f.msgs, func() { f.mu.Lock(); f.left = true; f.mu.Unlock() }, nil
}

type clientEnv struct {
	c    *Client
	feed *chanFeed
	insp *asynq.Inspector
	enq  *asynq.Client
	rdb  *redis.Client
}

func newClientEnv(t *testing.T, start bool) *clientEnv {
	t.Helper()
	rdb := redistest.Claim(t)
	enq := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	e := &clientEnv{
		c:    NewClient(enq, insp, "test-notices-"+NewID()),
		feed: &chanFeed{msgs: make(chan []byte, 16)},
		insp: insp, enq: enq, rdb: rdb,
	}
	if start {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		if err := e.c.Start(ctx, e.feed); err != nil {
			t.Fatal(err)
		}
		if e.feed.channel != e.c.Channel() {
			t.Fatalf("Start subscribed to %q, want %q", e.feed.channel, e.c.Channel())
		}
	}
	return e
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) < 26 || seen[id] {
			t.Fatalf("NewID() = %q: too short or repeated", id)
		}
		seen[id] = true
	}
}

func TestClientEnqueue(t *testing.T) {
	e := newClientEnv(t, false)
	ctx := context.Background()
	before := time.Now().UTC()
	info, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{DelayMS: 7},
		RequestID: "req-42", Owner: "key:key_9"})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	pol, _ := PolicyFor(TypePing)
	if info.ID == "" || info.Queue != pol.Queue || info.Type != TypePing ||
		info.EnqueuedAt.Before(before.Add(-time.Second)) || info.EnqueuedAt.Location() != time.UTC {
		t.Fatalf("Info = %+v", info)
	}
	ti, err := e.insp.GetTaskInfo(pol.Queue, info.ID)
	if err != nil {
		t.Fatalf("the task is not on queue %s: %v", pol.Queue, err)
	}
	wantHeaders := map[string]string{
		HeaderRequestID:  "req-42",
		HeaderOwner:      "key:key_9",
		HeaderReplyTo:    e.c.Channel(),
		HeaderEnqueuedAt: info.EnqueuedAt.Format(time.RFC3339Nano),
	}
	for k, v := range wantHeaders {
		if ti.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, ti.Headers[k], v)
		}
	}
	if string(ti.Payload) != `{"delay_ms":7}` {
		t.Errorf("payload = %s", ti.Payload)
	}
	if ti.MaxRetry != pol.MaxRetry || ti.Timeout != pol.Timeout || ti.Retention != pol.Retention {
		t.Errorf("task options: retry %d timeout %v retention %v, want the policy %+v", ti.MaxRetry, ti.Timeout, ti.Retention, pol)
	}

	st, err := e.c.Status(ctx, info.ID)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Status != StateQueued || st.Owner != "key:key_9" || st.Type != TypePing || st.JobID != info.ID {
		t.Fatalf("Status = %+v", st)
	}
	if st.CreatedAt == nil || !st.CreatedAt.Equal(info.EnqueuedAt) || st.CompletedAt != nil {
		t.Fatalf("times: created %v (want %v), completed %v", st.CreatedAt, info.EnqueuedAt, st.CompletedAt)
	}
}

func TestClientEnqueueErrors(t *testing.T) {
	e := newClientEnv(t, false)
	ctx := context.Background()

	id := NewID()
	if _, err := e.c.Enqueue(ctx, Spec{Type: TypePing, ID: id, Payload: PingPayload{}}); err != nil {
		t.Fatal(err)
	}
	info, err := e.c.Enqueue(ctx, Spec{Type: TypePing, ID: id, Payload: PingPayload{DelayMS: 1}})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Enqueue with id %s: err = %v, want ErrDuplicate", id, err)
	}
	if info.ID != id || info.Queue != QueueDefault {
		t.Fatalf("duplicate Info = %+v: want the existing job's id and queue", info)
	}

	cases := []struct {
		name string
		spec Spec
	}{
		{"unknown type", Spec{Type: "system:nope", Payload: PingPayload{}}},
		{"no type", Spec{Payload: PingPayload{}}},
		{"payload that cannot be encoded", Spec{Type: TypePing, Payload: map[string]any{"c": make(chan int)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.c.Enqueue(ctx, c.spec); err == nil || errors.Is(err, ErrDuplicate) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
	qs, err := e.insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, q := range qs {
		qi, err := e.insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		total += qi.Size
	}
	if total != 1 {
		t.Fatalf("%d tasks queued, want only the first one", total)
	}
}

func TestClientStatusNotFound(t *testing.T) {
	e := newClientEnv(t, false)
	ctx := context.Background()
	// No queue exists yet.
	if _, err := e.c.Status(ctx, "NOPE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Status with no queues: err = %v, want ErrNotFound", err)
	}
	if _, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Status(ctx, "NOPE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Status of an unknown id: err = %v, want ErrNotFound", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.c.Status(cctx, "NOPE"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Status with a canceled context: err = %v, want context.Canceled", err)
	}
}

func TestClientNotStarted(t *testing.T) {
	e := newClientEnv(t, false)
	ctx := context.Background()
	if _, _, err := e.c.Run(ctx, Spec{Type: TypePing, Payload: PingPayload{}}, time.Second); !errors.Is(err, errNotSubscribed) {
		t.Fatalf("Run before Start: err = %v, want errNotSubscribed", err)
	}
	if _, err := e.c.Wait(ctx, Info{ID: "X", Queue: QueueDefault}, time.Second); !errors.Is(err, errNotSubscribed) {
		t.Fatalf("Wait before Start: err = %v, want errNotSubscribed", err)
	}
	// Nothing was enqueued by the refused Run.
	if qs, _ := e.insp.Queues(); len(qs) != 0 {
		t.Fatalf("queues %v exist after a refused Run", qs)
	}
}

func TestClientWaitUnknown(t *testing.T) {
	e := newClientEnv(t, true)
	if _, err := e.c.Wait(context.Background(), Info{ID: "NOPE", Queue: QueueDefault}, 50*time.Millisecond); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait for an unknown job: err = %v, want ErrNotFound", err)
	}
}

func TestClientRunStillRunning(t *testing.T) {
	// No worker: the job stays queued and Run gives up after its wait.
	e := newClientEnv(t, true)
	ctx := context.Background()
	info, o, err := e.c.Run(ctx, Spec{Type: TypePing, Payload: PingPayload{}, Owner: "key:k"}, 100*time.Millisecond)
	if !errors.Is(err, ErrStillRunning) {
		t.Fatalf("Run: err = %v, want ErrStillRunning", err)
	}
	if info.ID == "" || info.Queue != QueueDefault || o.JobID != "" {
		t.Fatalf("Run = %+v, %+v", info, o)
	}
	st, err := e.c.Status(ctx, info.ID)
	if err != nil || st.Status != StateQueued {
		t.Fatalf("Status = %+v, %v; want queued", st, err)
	}
	// A canceled caller stops waiting at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.c.Wait(cctx, info, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a canceled context: err = %v", err)
	}
}

func TestClientNotices(t *testing.T) {
	e := newClientEnv(t, true)
	ctx := context.Background()
	info, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{}})
	if err != nil {
		t.Fatal(err)
	}
	mine := Outcome{JobID: info.ID, OK: true, Result: json.RawMessage(`{"worker":"w","delay_ms":0}`)}

	type result struct {
		o   Outcome
		err error
	}
	res := make(chan result, 1)
	go func() {
		o, err := e.c.Wait(ctx, info, 10*time.Second)
		res <- result{o, err}
	}()
	// Wait registers before it blocks; give it a moment, then send noise first.
	testwait.For(t, "Wait registers", 5*time.Second, func() bool {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return e.c.waiters[info.ID] != nil
	})
	noise := [][]byte{
		[]byte("not json"),
		[]byte(`{"ok":true}`), // no job id
		mustMarshal(t, Outcome{JobID: other.ID, OK: true}),
	}
	for _, m := range noise {
		e.feed.msgs <- m
	}
	select {
	case r := <-res:
		t.Fatalf("Wait returned on a notice that was not its own: %+v %v", r.o, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	e.feed.msgs <- mustMarshal(t, mine)
	select {
	case r := <-res:
		if r.err != nil || r.o.JobID != info.ID || !r.o.OK || string(r.o.Result) != string(mine.Result) {
			t.Fatalf("Wait = %+v, %v; want the notice %+v", r.o, r.err, mine)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return on its notice")
	}
	e.c.mu.Lock()
	n := len(e.c.waiters)
	e.c.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left registered", n)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientStoredResult runs a bare asynq server (standing in for a worker that publishes no
// notice): the waiter learns the outcome from the stored result when told to re-read it, by a
// truncated notice or an empty "messages may have been lost" message.
func TestClientStoredResult(t *testing.T) {
	e := newClientEnv(t, true)
	ctx := context.Background()
	big := strings.Repeat("x", 1000)
	release := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{
		Concurrency: 2, Queues: Queues(), TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypePing, func(ctx context.Context, task *asynq.Task) error {
		<-release
		id, _ := asynq.GetTaskID(ctx)
		body, _ := json.Marshal(Outcome{JobID: id, OK: true, Result: mustMarshal(t, map[string]string{"big": big})})
		_, err := task.ResultWriter().Write(body)
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	cases := []struct {
		name   string
		notice func(id string) []byte
	}{
		{"truncated notice", func(id string) []byte { return mustMarshal(t, Outcome{JobID: id, OK: true, Truncated: true}) }},
		{"resync", func(string) []byte { return []byte{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{}})
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				o   Outcome
				err error
			}
			res := make(chan result, 1)
			go func() {
				o, err := e.c.Wait(ctx, info, 20*time.Second)
				res <- result{o, err}
			}()
			testwait.For(t, "Wait registers", 5*time.Second, func() bool {
				e.c.mu.Lock()
				defer e.c.mu.Unlock()
				return e.c.waiters[info.ID] != nil
			})
			// While the job still runs, a re-read finds nothing and the waiter keeps waiting.
			e.feed.msgs <- c.notice(info.ID)
			select {
			case r := <-res:
				t.Fatalf("Wait returned while the job was unfinished: %+v %v", r.o, r.err)
			case <-time.After(200 * time.Millisecond):
			}
			release <- struct{}{}
			testwait.For(t, "the job completes", 5*time.Second, func() bool {
				st, err := e.c.Status(ctx, info.ID)
				return err == nil && st.Status == StateSucceeded
			})
			e.feed.msgs <- c.notice(info.ID)
			select {
			case r := <-res:
				if r.err != nil || !r.o.OK || r.o.JobID != info.ID || !strings.Contains(string(r.o.Result), big) {
					t.Fatalf("Wait = %+v, %v; want the stored outcome", r.o, r.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait ignored the re-read")
			}
			// Running the same job id again finds the finished job and answers with its outcome.
			again, o, err := e.c.Run(ctx, Spec{Type: TypePing, ID: info.ID, Payload: PingPayload{}}, 20*time.Second)
			if err != nil || again.ID != info.ID || !o.OK || o.JobID != info.ID || !strings.Contains(string(o.Result), big) {
				t.Fatalf("Run of a finished job id = %+v, %+v, %v; want its stored outcome", again, o, err)
			}
		})
	}
}

func TestClientStartLeavesWithContext(t *testing.T) {
	e := newClientEnv(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.c.Start(ctx, e.feed); err != nil {
		t.Fatal(err)
	}
	cancel()
	testwait.For(t, "the notice subscription ends with Start's context", 5*time.Second, func() bool {
		e.feed.mu.Lock()
		defer e.feed.mu.Unlock()
		return e.feed.left
	})
}

// Several requests of one process may wait for one shared job: each hears its notice.
func TestClientNoticeReachesEveryWaiterOfAJob(t *testing.T) {
	e := newClientEnv(t, true)
	ctx := context.Background()
	info, err := e.c.Enqueue(ctx, Spec{Type: TypePing, Payload: PingPayload{}})
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 5
	res := make(chan error, waiters)
	for range waiters {
		go func() {
			o, err := e.c.Wait(ctx, info, time.Minute)
			if err == nil && !o.OK {
				err = errors.New("not ok")
			}
			res <- err
		}()
	}
	testwait.For(t, "every Wait registers", 5*time.Second, func() bool {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return len(e.c.waiters[info.ID]) == waiters
	})
	e.feed.msgs <- mustMarshal(t, Outcome{JobID: info.ID, OK: true, Result: json.RawMessage(`{}`)})
	for range waiters {
		select {
		case err := <-res:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second): // far beyond a notice, far below the minute's deadline read
			t.Fatal("a waiter of a shared job never heard its notice")
		}
	}
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	if len(e.c.waiters) != 0 {
		t.Fatalf("%d waiters left registered", len(e.c.waiters))
	}
}
