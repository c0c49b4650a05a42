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

// Publisher sends completion notices (storage.Publisher): it queues the notice in the pipeline
// that also stores the job's result, so that a job ends in one round trip.
type Publisher interface {
	PublishIn(ctx context.Context, pipe redis.Pipeliner, channel string, msg []byte)
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
	// that the api tells a caller within seconds that the worker of its job died. A job's first
	// beat comes within a tenth of BeatEvery of its start (HandleLong: before it runs).
	Liveness  Heartbeater
	BeatEvery time.Duration
}

// Heartbeater keeps running jobs' heartbeats (storage.Liveness).
type Heartbeater interface {
	Beat(ctx context.Context, jobIDs []string) error
	End(ctx context.Context, jobID string) error
	EndIn(ctx context.Context, pipe redis.Pipeliner, jobID string)
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
	running   map[string]*runningJob
}

// runningJob is a job running here.
type runningJob struct {
	attempts int  // of it running here (normally 1)
	beaten   bool // a heartbeat was sent: ending the job must drop it
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
		live: cfg.Liveness, beatEvery: cfg.BeatEvery, running: map[string]*runningJob{}}
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

// Handle registers f for a task type. Its jobs get their first heartbeat within a tenth of a beat
// of their start: most end before, and cost no heartbeat command at all.
func (s *Server) Handle(taskType string, f Func) {
	s.mux.Handle(taskType, s.wrap(f, false))
}

// HandleLong registers f for a task type whose jobs take seconds and are watched from their start
// (a chat's stream relay looks at its job's liveness as soon as it attaches): they get their first
// heartbeat before they run, as a caller waiting on a missing one would wait out the api's grace.
func (s *Server) HandleLong(taskType string, f Func) {
	s.mux.Handle(taskType, s.wrap(f, true))
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
// finishing during it keep theirs). It ticks ten times a beat: every tick sends the first beat
// of jobs that started since, every tenth refreshes them all.
func (s *Server) heartbeat(ctx context.Context) {
	if s.live == nil {
		return
	}
	t := time.NewTicker(s.beatEvery / firstBeatTicks)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := s.toBeat(n%firstBeatTicks == 0)
		if len(ids) == 0 {
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, s.beatEvery)
		if err := s.live.Beat(bctx, ids); err != nil {
			s.log.Warn("job heartbeat", "jobs", len(ids), "error", err)
		}
		cancel()
	}
}

// firstBeatTicks is how many times a beat the heartbeat loop looks for jobs that need their first.
const firstBeatTicks = 10

// toBeat lists the running jobs to beat now (all, or those never beaten) and marks them beaten.
func (s *Server) toBeat(all bool) []string {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	var ids []string
	for id, j := range s.running {
		if all || !j.beaten {
			j.beaten = true
			ids = append(ids, id)
		}
	}
	return ids
}

// track registers a job that starts; the heartbeat loop sends its first beat, unless now says to
// send it at once.
func (s *Server) track(ctx context.Context, id string, now bool) {
	if s.live == nil {
		return
	}
	s.runMu.Lock()
	j := s.running[id]
	if j == nil {
		j = &runningJob{}
		s.running[id] = j
	}
	j.attempts++
	now = now && !j.beaten
	j.beaten = j.beaten || now
	s.runMu.Unlock()
	if now {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.beatEvery)
		_ = s.live.Beat(bctx, []string{id})
		cancel()
	}
}

// untrack ends an attempt; dropBeat tells that it was the job's last one here and that a beat was
// sent, so its heartbeat must be deleted.
func (s *Server) untrack(id string) (dropBeat bool) {
	if s.live == nil {
		return false
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	j := s.running[id]
	if j == nil {
		return false
	}
	if j.attempts--; j.attempts > 0 {
		return false
	}
	delete(s.running, id)
	return j.beaten
}

// endAttempt ends an attempt that stores no outcome (a retry, an interruption).
func (s *Server) endAttempt(ctx context.Context, id string) {
	if !s.untrack(id) {
		return
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.beatEvery)
	_ = s.live.End(ectx, id)
	cancel()
}

func (s *Server) wrap(f Func, long bool) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		s.track(ctx, id, long)
		finished := false // finish ends the attempt with the outcome's round trip
		defer func() {
			if !finished {
				s.endAttempt(ctx, id)
			}
		}()
		log := s.log.With("job_id", id, "type", t.Type(), "request_id", t.Headers()[jobs.HeaderRequestID])
		start := time.Now()
		res, err := call(ctx, f, t)
		if storage.Unavailable(err) {
			s.awaitRedis(ctx, log) // a retry or a failure must land in Redis to be seen
		}
		if err == nil {
			body, merr := json.Marshal(res)
			if merr == nil {
				finished = true
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
		finished = true
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
	var je *jobs.Error
	if !errors.As(err, &je) && storage.Unavailable(err) {
		// Redis or the object store was away: nothing about the job was wrong, so its caller
		// hears "try again shortly", as the api answers an outage itself.
		return &jobs.Error{Code: jobs.CodeServiceUnavailable, Message: "a store the job needs was unreachable, try again shortly",
			Status: 503, RetryAfter: 5}
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

// finish stores the outcome as the task's result, tells the waiting api process and drops the
// job's heartbeat, in one pipeline. None of it may be skipped because the job's own context
// ended, so it runs on a fresh short context; only the result write is, as asynq's ResultWriter
// does: by then asynq has moved the task on, and may have deleted it.
func (s *Server) finish(ctx context.Context, t *asynq.Task, o jobs.Outcome) {
	dropBeat := s.untrack(o.JobID)
	o.FinishedAt = time.Now().UTC()
	body, err := json.Marshal(o)
	if err != nil {
		s.log.Error("encode outcome", "error", err)
		body = nil // still drop the heartbeat
	}
	ch := t.Headers()[jobs.HeaderReplyTo]
	if !strings.HasPrefix(ch, s.prefix) || body == nil {
		ch = ""
	}
	notice := body
	if len(body) > maxNoticeBytes {
		notice, _ = json.Marshal(jobs.Outcome{JobID: o.JobID, OK: o.OK, Truncated: true})
	}
	end := func() error {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		queue, known := asynq.GetQueueName(ctx)
		_, err := s.rdb.Pipelined(pctx, func(p redis.Pipeliner) error {
			if body != nil && known && ctx.Err() == nil {
				p.HSet(pctx, ResultKey(queue, o.JobID), "result", body)
			}
			if ch != "" {
				s.pub.PublishIn(pctx, p, ch, notice)
			}
			if dropBeat {
				s.live.EndIn(pctx, p, o.JobID)
			}
			return nil
		})
		return err
	}
	err = end()
	if storage.Unavailable(err) && s.awaitRedis(ctx, s.log.With("job_id", o.JobID)) {
		err = end()
	}
	if err != nil {
		s.log.Warn("store job result", "job_id", o.JobID, "error", err)
	}
	if ctx.Err() != nil {
		// The notice still reaches a waiting caller, and a later status read tells the cause from
		// asynq's own error text.
		s.log.Warn("store job result", "job_id", o.JobID, "error", "the job's context ended: "+ctx.Err().Error())
	}
}

// ResultKey is the Redis hash where asynq keeps a task's result (the key its ResultWriter
// writes, asynq's internal base.TaskKey): the worker writes it in its own pipeline.
func ResultKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }
