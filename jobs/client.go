package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Errors of the client.
var (
	ErrNotFound      = errors.New("jobs: job not found")
	ErrStillRunning  = errors.New("jobs: job still running")
	ErrDuplicate     = errors.New("jobs: a job with this id already exists")
	errNotSubscribed = errors.New("jobs: client not started")
)

// Feed is the api process's one shared pub/sub connection (storage.Hub implements it). A message of
// length zero means "messages may have been lost" (the connection was re-established): waiters then
// re-read the stored result instead of trusting that a notice will still come.
type Feed interface {
	Subscribe(ctx context.Context, channel string) (msgs <-chan []byte, cancel func(), err error)
}

// Spec describes a job to enqueue.
type Spec struct {
	Type      string
	Payload   any
	RequestID string
	Owner     string
	// ID is optional. A derived id (say, from an invoice) makes duplicates collapse: asynq refuses a
	// second task with the same id while the first is retained.
	ID string
	// Streamed jobs are never re-run (whatever their policy): a client already has part of the
	// output, and a second run would tell it something else.
	Streamed bool
}

// Info identifies an enqueued job.
type Info struct {
	ID         string
	Queue      string
	Type       string
	EnqueuedAt time.Time
}

// Client enqueues jobs and waits for their completion notices.
type Client struct {
	enq     *asynq.Client
	insp    *asynq.Inspector
	channel string

	mu sync.Mutex
	// waiters of each job id: several requests of this process may wait for one shared job.
	waiters map[string]map[chan waitEvent]struct{}
	started bool
	// live, when set, lets waits notice a dead worker (WatchLiveness).
	live         Liveness
	check, grace time.Duration
	// nextCheck is closed at the next liveness check of every waiting call: one timer per
	// process and period rather than a ticker per waiting call (nil: none scheduled).
	nextCheck chan struct{}
}

type waitEvent struct {
	outcome *Outcome // nil: re-check the stored result
}

// NewClient builds a client whose completion notices arrive on channel (unique per api process).
func NewClient(enq *asynq.Client, insp *asynq.Inspector, channel string) *Client {
	return &Client{enq: enq, insp: insp, channel: channel, waiters: map[string]map[chan waitEvent]struct{}{}}
}

// Start subscribes to the notice channel and dispatches notices until ctx ends. It returns once
// the subscription is active, so a job enqueued after Start cannot finish unheard.
func (c *Client) Start(ctx context.Context, feed Feed) error {
	msgs, cancel, err := feed.Subscribe(ctx, c.channel)
	if err != nil {
		return fmt.Errorf("jobs: subscribe notices: %w", err)
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				c.dispatch(m)
			}
		}
	}()
	return nil
}

func (c *Client) dispatch(msg []byte) {
	if len(msg) == 0 {
		c.broadcastRecheck()
		return
	}
	var o Outcome
	if err := json.Unmarshal(msg, &o); err != nil || o.JobID == "" {
		return // not ours to understand; the waiter's deadline read covers it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.waiters[o.JobID] {
		select {
		case ch <- waitEvent{outcome: &o}:
		default:
		}
	}
}

func (c *Client) broadcastRecheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, chans := range c.waiters {
		for ch := range chans {
			select {
			case ch <- waitEvent{}:
			default:
			}
		}
	}
}

// Channel is where this client's notices arrive.
func (c *Client) Channel() string { return c.channel }

// NewID returns a fresh random job id (128 bits).
func NewID() string { return rand.Text() }

// Enqueue puts a job on its queue without waiting for it.
func (c *Client) Enqueue(ctx context.Context, spec Spec) (Info, error) {
	if spec.ID == "" {
		spec.ID = NewID()
	}
	return c.enqueue(ctx, spec)
}

func (c *Client) enqueue(ctx context.Context, spec Spec) (Info, error) {
	pol, err := PolicyFor(spec.Type)
	if err != nil {
		return Info{}, err
	}
	payload, err := Marshal(spec.Payload)
	if err != nil {
		return Info{}, fmt.Errorf("jobs: encode %s payload: %w", spec.Type, err)
	}
	now := time.Now().UTC()
	headers := map[string]string{
		HeaderRequestID:  spec.RequestID,
		HeaderOwner:      spec.Owner,
		HeaderReplyTo:    c.channel,
		HeaderEnqueuedAt: now.Format(time.RFC3339Nano),
	}
	task := asynq.NewTaskWithHeaders(spec.Type, payload, headers)
	if spec.Streamed {
		pol.MaxRetry = 0
	}
	_, err = c.enq.EnqueueContext(ctx, task,
		asynq.TaskID(spec.ID), asynq.Queue(pol.Queue), asynq.Timeout(pol.Timeout),
		asynq.MaxRetry(pol.MaxRetry), asynq.Retention(pol.Retention))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return Info{ID: spec.ID, Queue: pol.Queue, Type: spec.Type}, ErrDuplicate
	}
	if err != nil {
		return Info{}, fmt.Errorf("jobs: enqueue %s: %w", spec.Type, err)
	}
	return Info{ID: spec.ID, Queue: pol.Queue, Type: spec.Type, EnqueuedAt: now}, nil
}

// Run enqueues a job and waits up to wait for its outcome. When the deadline passes first it
// returns the job's Info with ErrStillRunning, and the caller can hand out the job id instead.
func (c *Client) Run(ctx context.Context, spec Spec, wait time.Duration) (Info, Outcome, error) {
	if spec.ID == "" {
		spec.ID = NewID()
	}
	ch, err := c.register(spec.ID)
	if err != nil {
		return Info{}, Outcome{}, err
	}
	defer c.unregister(spec.ID, ch)
	info, err := c.enqueue(ctx, spec)
	if err != nil && !errors.Is(err, ErrDuplicate) {
		return info, Outcome{}, err
	}
	if errors.Is(err, ErrDuplicate) {
		// The same job already exists, and may have finished before we registered: waiting for
		// it is what the caller wants.
		if o, done, err := c.stored(info); err != nil || done {
			return info, o, err
		}
	}
	o, err := c.await(ctx, info, ch, wait)
	return info, o, err
}

// RunShared is Run for jobs with a derived id that identical requests share: it joins the job
// while it is queued or running, but replaces one that already finished (its result was cached
// by the worker, so a caller who still gets here wants a fresh computation).
func (c *Client) RunShared(ctx context.Context, spec Spec, wait time.Duration) (Info, Outcome, error) {
	pol, err := PolicyFor(spec.Type)
	if err != nil {
		return Info{}, Outcome{}, err
	}
	if err := c.dropFinished(ctx, pol.Queue, spec.ID); err != nil {
		return Info{}, Outcome{}, err
	}
	return c.Run(ctx, spec, wait)
}

// dropFinished deletes the task id when it has finished. A task whose outcome is stored but
// which asynq still lists as active is in its last milliseconds: wait (briefly) until it is
// completed rather than join it and be handed its old outcome.
func (c *Client) dropFinished(ctx context.Context, queue, id string) error {
	for range 200 {
		ti, err := c.insp.GetTaskInfo(queue, id)
		if err != nil {
			return nil // gone (or unreadable: Run reports what matters)
		}
		_, stored := storedOutcome(ti)
		switch {
		case finished(ti):
			// Another caller may replace it at the same moment: then our enqueue joins theirs.
			if err := c.insp.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return fmt.Errorf("jobs: replace finished %s: %w", id, err)
			}
			return nil
		case !stored:
			return nil // queued or running: join it
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Wait waits up to wait for an already enqueued job, which may have finished long ago.
func (c *Client) Wait(ctx context.Context, info Info, wait time.Duration) (Outcome, error) {
	ch, err := c.register(info.ID)
	if err != nil {
		return Outcome{}, err
	}
	defer c.unregister(info.ID, ch)
	if o, done, err := c.stored(info); err != nil || done {
		return o, err
	}
	return c.await(ctx, info, ch, wait)
}

func (c *Client) register(id string) (chan waitEvent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return nil, errNotSubscribed
	}
	ch := make(chan waitEvent, 1)
	if c.waiters[id] == nil {
		c.waiters[id] = map[chan waitEvent]struct{}{}
	}
	c.waiters[id][ch] = struct{}{}
	return ch, nil
}

func (c *Client) unregister(id string, ch chan waitEvent) {
	c.mu.Lock()
	delete(c.waiters[id], ch)
	if len(c.waiters[id]) == 0 {
		delete(c.waiters, id)
	}
	c.mu.Unlock()
}

func (c *Client) await(ctx context.Context, info Info, ch chan waitEvent, wait time.Duration) (Outcome, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var watch Watch
	for {
		select {
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		case <-c.checkDue():
			// A dead worker's job: one that asynq re-runs is still accepted work (the caller
			// gets its id at once rather than after the whole wait); another has failed.
			if !watch.Due(ctx, c, info.ID) {
				continue
			}
			if dead, rerun := c.orphaned(ctx, info.Queue, info.ID); dead {
				if rerun {
					return Outcome{}, ErrStillRunning
				}
				return workerLost(info.ID), nil
			}
		case ev := <-ch:
			if ev.outcome != nil && !ev.outcome.Truncated {
				return *ev.outcome, nil
			}
			if o, done, err := c.stored(info); err != nil || done {
				return o, err
			}
		case <-timer.C:
			o, done, err := c.stored(info)
			if err != nil || done {
				return o, err
			}
			return Outcome{}, ErrStillRunning
		}
	}
}

// checkDue returns a channel closed at the next liveness check of waiting calls (nil, never,
// without liveness). The checks of all waits share one timer: a wait's first check comes up to one
// period early, which Watch's pacing and orphaned's grace already allow for.
func (c *Client) checkDue() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil || c.check <= 0 {
		return nil
	}
	if c.nextCheck == nil {
		next := make(chan struct{})
		c.nextCheck = next
		time.AfterFunc(c.check, func() {
			c.mu.Lock()
			c.nextCheck = nil
			c.mu.Unlock()
			close(next)
		})
	}
	return c.nextCheck
}

// stored reads the result asynq kept for a finished job; done is false while it still runs. The
// worker stores the outcome just before asynq moves the task to completed or archived, so a stored
// outcome counts as finished whatever the state says.
func (c *Client) stored(info Info) (Outcome, bool, error) {
	ti, err := c.insp.GetTaskInfo(info.Queue, info.ID)
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return Outcome{}, false, ErrNotFound
		}
		return Outcome{}, false, fmt.Errorf("jobs: read %s: %w", info.ID, err)
	}
	if o, ok := storedOutcome(ti); ok || finished(ti) {
		if !ok {
			o = outcomeOf(ti)
		}
		return o, true, nil
	}
	return Outcome{}, false, nil
}

func finished(ti *asynq.TaskInfo) bool {
	return ti.State == asynq.TaskStateCompleted || ti.State == asynq.TaskStateArchived
}

func storedOutcome(ti *asynq.TaskInfo) (Outcome, bool) {
	var o Outcome
	if len(ti.Result) > 0 && json.Unmarshal(ti.Result, &o) == nil && o.JobID != "" {
		return o, true
	}
	return Outcome{}, false
}

// outcomeOf reads a finished task's outcome. Without a stored one, asynq's own error text tells a
// cancellation or a timeout (the job's context ended, so no result could be written) from other
// failures, which are reported generically: LastErr may hold internals.
func outcomeOf(ti *asynq.TaskInfo) Outcome {
	if o, ok := storedOutcome(ti); ok {
		return o
	}
	if ti.State == asynq.TaskStateCompleted {
		return Outcome{JobID: ti.ID, OK: true, Result: json.RawMessage("null")}
	}
	// Archived without ever failing: canceled (Cancel, or an operator) before it ran.
	neverFailed := ti.LastErr == "" && ti.LastFailedAt.IsZero() && len(ti.Result) == 0
	switch {
	case ti.LastErr == context.Canceled.Error(), neverFailed:
		return Outcome{JobID: ti.ID, Error: &Error{Code: CodeCanceled, Message: "the job was canceled", Status: 499}}
	case ti.LastErr == context.DeadlineExceeded.Error():
		return Outcome{JobID: ti.ID, Error: &Error{Code: CodeTimeout, Message: "the job took too long", Status: 504}}
	case ti.LastErr == asynq.ErrLeaseExpired.Error():
		return workerLost(ti.ID) // asynq's recoverer gave up on it after its worker died
	}
	return Outcome{JobID: ti.ID, Error: &Error{Code: CodeInternal, Message: "the job failed", Status: 500}}
}
