// Package workers runs the asynq handlers: one type per job kind, each given only what it uses.
// Every handler goes through the same wrapper, which stores the outcome as the task's result,
// tells the waiting api process (completion notice), logs with the request id, and turns panics
// into failed jobs.
package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// Func is a job handler: it returns the body the caller gets, or an error (a *jobs.Error decides
// what the caller sees; anything else is an internal error and its text stays in the logs).
type Func func(ctx context.Context, t *asynq.Task) (any, error)

// Publisher sends completion notices (storage.Publisher).
type Publisher interface {
	Publish(ctx context.Context, channel string, msg []byte) error
}

// Config tunes the worker.
type Config struct {
	Concurrency int
	// PollInterval is how often an idle worker looks for work. asynq's default (1 s) makes an idle
	// worker start a job about 0.6 s late on average; 10 ms costs ~100 cheap Redis calls a second.
	PollInterval    time.Duration
	ShutdownTimeout time.Duration
	// NoticePrefix is the prefix every reply-to channel must have; others are not published to.
	NoticePrefix string
	// Metrics, when set, counts jobs by type and outcome.
	Metrics *Metrics
	// Liveness, when set, gets a heartbeat of every running job each BeatEvery (default 1 s), so
	// that the api tells a caller within seconds that the worker of its job died.
	Liveness  Heartbeater
	BeatEvery time.Duration
}

// Heartbeater keeps running jobs' heartbeats (storage.Liveness).
type Heartbeater interface {
	Beat(ctx context.Context, jobIDs []string) error
	End(ctx context.Context, jobID string) error
}

// Server is the worker process's asynq server.
type Server struct {
	srv      *asynq.Server
	rdb      redis.UniversalClient
	mux      *asynq.ServeMux
	pub      Publisher
	log      *slog.Logger
	metrics  *Metrics
	prefix   string
	stopping atomic.Bool

	live      Heartbeater
	beatEvery time.Duration
	runMu     sync.Mutex
	running   map[string]int // job id → attempts of it running here (normally 1)
}

// maxNoticeBytes keeps large results off pub/sub; the api reads those from the stored result.
const maxNoticeBytes = 256 << 10

// NewServer builds the server on a shared Redis client.
func NewServer(rdb redis.UniversalClient, cfg Config, pub Publisher, log *slog.Logger) *Server {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 25 * time.Second
	}
	if cfg.BeatEvery <= 0 {
		cfg.BeatEvery = time.Second
	}
	s := &Server{rdb: rdb, mux: asynq.NewServeMux(), pub: pub, log: log, prefix: cfg.NoticePrefix, metrics: cfg.Metrics,
		live: cfg.Liveness, beatEvery: cfg.BeatEvery, running: map[string]int{}}
	s.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            jobs.Queues(),
		TaskCheckInterval: cfg.PollInterval,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Logger:            storage.AsynqLogger(log),
		LogLevel:          asynq.WarnLevel,
		// Our wrapper already decided whether a failure is final; asynq's retry delay stays short
		// because callers are often waiting.
		RetryDelayFunc: func(n int, _ error, _ *asynq.Task) time.Duration {
			return time.Duration(1<<min(n, 6)) * time.Second
		},
	})
	return s
}

// Handle registers f for a task type.
func (s *Server) Handle(taskType string, f Func) {
	s.mux.Handle(taskType, s.wrap(f))
}

// Run processes jobs until ctx ends, then stops taking work, lets running jobs finish within the
// shutdown timeout, re-queues what is still running, and returns.
func (s *Server) Run(ctx context.Context) error {
	if err := s.srv.Start(s.mux); err != nil {
		return fmt.Errorf("workers: start: %w", err)
	}
	// Running jobs keep their heartbeat while they finish after ctx ends.
	beats, stopBeats := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBeats()
	go s.heartbeat(beats)
	<-ctx.Done()
	s.srv.Stop()
	s.stopping.Store(true)
	s.srv.Shutdown()
	return nil
}

// Stopping reports that the server is shutting down: jobs interrupted now go back on their
// queue for another worker.
func (s *Server) Stopping() bool { return s.stopping.Load() }

// heartbeat refreshes the heartbeats of the running jobs until ctx ends (after shutdown, so jobs
// finishing during it keep theirs).
func (s *Server) heartbeat(ctx context.Context) {
	if s.live == nil {
		return
	}
	t := time.NewTicker(s.beatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.runMu.Lock()
		ids := make([]string, 0, len(s.running))
		for id := range s.running {
			ids = append(ids, id)
		}
		s.runMu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, s.beatEvery)
		if err := s.live.Beat(bctx, ids); err != nil {
			s.log.Warn("job heartbeat", "jobs", len(ids), "error", err)
		}
		cancel()
	}
}

// track beats for a job that starts, and returns what ends its heartbeat.
func (s *Server) track(ctx context.Context, id string) func() {
	if s.live == nil {
		return func() {}
	}
	s.runMu.Lock()
	s.running[id]++
	s.runMu.Unlock()
	// The first beat before the job runs: a waiting caller may look at any moment.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.beatEvery)
	_ = s.live.Beat(bctx, []string{id})
	cancel()
	return func() {
		s.runMu.Lock()
		s.running[id]--
		last := s.running[id] <= 0
		if last {
			delete(s.running, id)
		}
		s.runMu.Unlock()
		if last {
			ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.beatEvery)
			_ = s.live.End(ectx, id)
			cancel()
		}
	}
}

func (s *Server) wrap(f Func) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		defer s.track(ctx, id)()
		log := s.log.With("job_id", id, "type", t.Type(), "request_id", t.Headers()[jobs.HeaderRequestID])
		start := time.Now()
		res, err := call(ctx, f, t)
		if storage.Unavailable(err) {
			s.awaitRedis(ctx, log) // a retry or a failure must land in Redis to be seen
		}
		if err == nil {
			body, merr := json.Marshal(res)
			if merr == nil {
				s.finish(ctx, t, jobs.Outcome{JobID: id, OK: true, Result: body})
				s.metrics.job(t.Type(), "succeeded", time.Since(start))
				log.Info("job succeeded", "duration_ms", time.Since(start).Milliseconds())
				return nil
			}
			err = fmt.Errorf("encode result: %w", merr)
		}
		if ctx.Err() != nil && s.stopping.Load() {
			// Shutdown: asynq has already put the task back on its queue for another worker.
			s.metrics.job(t.Type(), "interrupted", time.Since(start))
			log.Warn("job interrupted by shutdown", "error", err)
			return err
		}
		retried, _ := asynq.GetRetryCount(ctx)
		je := failure(ctx, err)
		if willRetry(ctx, err) {
			s.metrics.job(t.Type(), "retried", time.Since(start))
			log.Warn("job attempt failed; will retry", "error", err, "attempt", retried+1)
			return err
		}
		s.finish(ctx, t, jobs.Outcome{JobID: id, Error: je})
		s.metrics.job(t.Type(), "failed", time.Since(start))
		log.Error("job failed", "error", err, "code", je.Code, "duration_ms", time.Since(start).Milliseconds())
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
}

// willRetry tells whether asynq runs the job again after this attempt ended with err: its failure
// is not permanent and attempts are left. Handlers keep what a next attempt needs (uploads) then.
func willRetry(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return !failure(ctx, err).Permanent && retried < maxRetry
}

// failure decides what the caller sees of err.
func failure(ctx context.Context, err error) *jobs.Error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return jobs.Permanent(jobs.CodeCanceled, "the job was canceled", 499)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// Not retried: an attempt that used the type's whole timeout would likely do so again,
		// and its caller has stopped waiting.
		return jobs.Permanent(jobs.CodeTimeout, "the job took too long", 504)
	}
	return jobs.AsError(err)
}

// call runs f, turning a panic into an error so that one bad job cannot take the worker down.
func call(ctx context.Context, f Func, t *asynq.Task) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			res = nil
		}
	}()
	return f(ctx, t)
}

// storeWait bounds how long a finished attempt waits for an unreachable Redis: less than asynq's
// 30 s lease, so that the task is still this worker's to move once Redis is back.
const storeWait = 20 * time.Second

// awaitRedis holds a finished attempt while Redis is unreachable (at most storeWait), so that its
// outcome, and asynq's move of the task (to completed, retry or archived), happen once it is back.
// Returning to asynq during the outage would leave the job `running` until asynq's lease recoverer
// runs, a minute or two later: asynq's retry of a failed move reuses a context it has already
// canceled, so it never succeeds. false: Redis did not come back in time (or the job's context
// ended).
func (s *Server) awaitRedis(ctx context.Context, log *slog.Logger) bool {
	deadline := time.NewTimer(storeWait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for warned := false; ; warned = true {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		err := s.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return true
		}
		if !warned {
			log.Warn("job ended while Redis is unreachable: waiting for it", "error", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// finish stores the outcome as the task's result and tells the waiting api process. Neither step
// may be skipped because the job's own context ended, so both run on a fresh short context.
func (s *Server) finish(ctx context.Context, t *asynq.Task, o jobs.Outcome) {
	o.FinishedAt = time.Now().UTC()
	body, err := json.Marshal(o)
	if err != nil {
		s.log.Error("encode outcome", "error", err)
		return
	}
	_, err = t.ResultWriter().Write(body)
	if storage.Unavailable(err) && s.awaitRedis(ctx, s.log.With("job_id", o.JobID)) {
		_, err = t.ResultWriter().Write(body)
	}
	if err != nil {
		// The task's context is gone (canceled or timed out): the notice below still reaches a
		// waiting caller, and a later status read tells the cause from asynq's own error text.
		s.log.Warn("store job result", "job_id", o.JobID, "error", err)
	}
	ch := t.Headers()[jobs.HeaderReplyTo]
	if ch == "" || !strings.HasPrefix(ch, s.prefix) {
		return
	}
	if len(body) > maxNoticeBytes {
		body, _ = json.Marshal(jobs.Outcome{JobID: o.JobID, OK: o.OK, Truncated: true})
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.pub.Publish(pctx, ch, body); err != nil {
		s.log.Warn("publish job notice", "job_id", o.JobID, "error", err)
	}
}
