package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/stream"
)

// CodeWorkerLost is the failure of a job whose worker died while running it (a crash, an OOM
// kill, a lost node). Jobs that are safe to repeat are re-run instead; a streamed chat is not.
const CodeWorkerLost = "worker_lost"

// workerLost is what a caller of a job that cannot be re-run sees when its worker died: retryable.
func workerLost(id string) Outcome {
	return Outcome{JobID: id, Error: &Error{Code: CodeWorkerLost, Status: 503, RetryAfter: 1,
		Message: "the worker running this job stopped; send the request again"}}
}

// Liveness reads the heartbeats workers keep for their running jobs (storage.Liveness).
type Liveness interface {
	Alive(ctx context.Context, jobID string) (bool, error)
}

// WatchLiveness makes waits and Status notice a job whose worker died: every check, a waiting
// call looks at the job's heartbeat (one cheap read), and only when it is missing at the job's
// state. grace is how long a worker may take to send a job's first heartbeat after asynq marked
// it active; the heartbeat's time to live plus check bounds how late a death is noticed.
func (c *Client) WatchLiveness(l Liveness, check, grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live, c.check, c.grace = l, check, grace
}

// CheckEvery is how often waits look at the liveness of their job (0: they do not).
func (c *Client) CheckEvery() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		return 0
	}
	return c.check
}

// Watch paces the liveness checks of one waiting call. A job whose heartbeat it has seen gets
// the full check (the job's state) as soon as the heartbeat is missing; one not seen beating yet
// is most likely queued, and is fully checked only every fifth time, so a long queue of waiting
// streams costs one EXISTS each per check, not a task read.
type Watch struct {
	seen bool
	n    int
}

// Due tells whether a full check of job id is due now.
func (w *Watch) Due(ctx context.Context, c *Client, id string) bool {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	if live == nil {
		return false
	}
	w.n++
	if alive, err := live.Alive(ctx, id); err != nil || alive {
		w.seen = w.seen || alive
		return false
	}
	return w.seen || w.n%5 == 0
}

// orphaned tells whether the job is active in asynq but no worker runs it any more (its heartbeat
// expired), and whether asynq will re-run it (attempts left). A job that asynq just made active
// may not have had its first beat yet (workers send it within a tenth of a beat): it counts as
// orphaned only when it still looks so after grace, and is looked at again every tenth of grace
// meanwhile, so that a young job's caller waits for its first beat (or its end), not the grace.
func (c *Client) orphaned(ctx context.Context, queue, id string) (dead, rerun bool) {
	c.mu.Lock()
	live, grace := c.live, c.grace
	c.mu.Unlock()
	if live == nil {
		return false, false
	}
	deadline := time.Now().Add(grace)
	for {
		if alive, err := live.Alive(ctx, id); err != nil || alive {
			return false, false
		}
		ti, err := c.insp.GetTaskInfo(queue, id)
		if err != nil || ti.State != asynq.TaskStateActive {
			return false, false
		}
		if _, stored := storedOutcome(ti); stored {
			return false, false
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true, ti.Retried < ti.MaxRetry
		}
		select {
		case <-ctx.Done():
			return false, false
		case <-time.After(min(left, max(grace/10, time.Millisecond))):
		}
	}
}

// Lost reports how a stream's job ended when it cannot end its stream itself: its worker died
// (worker_lost, or nothing when asynq will re-run it), or it finished without a final frame (a
// job that was not streamed: its outcome). ok is false while the job runs or waits normally.
func (c *Client) Lost(ctx context.Context, info Info) (o Outcome, ok bool) {
	queue, id := info.Queue, info.ID
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	if live != nil {
		if alive, err := live.Alive(ctx, id); err == nil && alive {
			return Outcome{}, false // the common case, at the price of one EXISTS
		}
	}
	ti, err := c.insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return Outcome{JobID: id, Error: &Error{Code: CodeInternal, Message: "the job no longer exists", Status: 500}}, true
	case err != nil:
		return Outcome{}, false
	}
	if stored, has := storedOutcome(ti); has || finished(ti) {
		if !has {
			stored = outcomeOf(ti)
		}
		return stored, true
	}
	if ti.State != asynq.TaskStateActive {
		return Outcome{}, false // waiting for a worker (again)
	}
	if dead, rerun := c.orphaned(ctx, queue, id); dead && !rerun {
		return workerLost(id), true
	}
	return Outcome{}, false
}

// FinalFrame is the frame that ends a stream with o: done with the reply of a chat result, or the
// error.
func FinalFrame(o Outcome) stream.Frame {
	if o.OK {
		var res ChatResult
		if json.Unmarshal(o.Result, &res) == nil {
			return stream.Frame{Type: stream.TypeDone, JobID: o.JobID, Reply: &res.Reply, ReplyJSON: res.ReplyJSON, Usage: &res.Usage, SessionID: res.SessionID}
		}
	}
	e := o.Error
	if e == nil {
		e = &Error{Code: CodeInternal, Message: "the job failed"}
	}
	return stream.Frame{Type: stream.TypeError, JobID: o.JobID, Code: e.Code, Message: e.Message}
}
