package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Job states as callers see them.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
)

// Status is a job as GET /jobs/{id} reports it.
type Status struct {
	JobID       string          `json:"job_id"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result"`
	Error       *Error          `json:"error"`
	CreatedAt   *time.Time      `json:"created_at"`
	CompletedAt *time.Time      `json:"completed_at"`
	Owner       string          `json:"-"`
}

// Status finds a job in any queue. The caller checks Owner before showing it to anyone.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	for q := range Queues() {
		if err := ctx.Err(); err != nil {
			return Status{}, err
		}
		ti, err := c.insp.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return Status{}, fmt.Errorf("jobs: status of %s: %w", id, err)
		}
		st := statusOf(ti)
		if st.Status == StateRunning {
			// asynq calls a job whose worker died active for a minute or two more: a job it will
			// not re-run has failed, now.
			if dead, rerun := c.orphaned(ctx, q, id); dead && !rerun {
				st.fill(ti, workerLost(id))
			}
		}
		return st, nil
	}
	return Status{}, ErrNotFound
}

// Cancel stops a job: a waiting one is archived so that it never starts; a running one gets
// asynq's cancel signal, repeated while it stays active, because asynq drops a signal that
// arrives between marking a task active and registering its cancel function. Best effort and
// bounded (a few seconds); a finished job is unaffected.
func (c *Client) Cancel(ctx context.Context, id string) error {
	for q := range Queues() {
		if c.insp.ArchiveTask(q, id) == nil {
			return nil
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if err := c.insp.CancelProcessing(id); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		st, err := c.Status(ctx, id)
		if err != nil || st.Status != StateRunning || time.Now().After(deadline) {
			return err
		}
	}
}

func statusOf(ti *asynq.TaskInfo) Status {
	st := Status{JobID: ti.ID, Type: ti.Type, Owner: ti.Headers[HeaderOwner], Result: json.RawMessage("null")}
	if t, err := time.Parse(time.RFC3339Nano, ti.Headers[HeaderEnqueuedAt]); err == nil {
		st.CreatedAt = &t
	}
	_, hasOutcome := storedOutcome(ti)
	switch {
	case hasOutcome || finished(ti):
		st.fill(ti, outcomeOf(ti))
	case ti.State == asynq.TaskStateActive:
		st.Status = StateRunning
	default: // pending, scheduled, retry, aggregating
		st.Status = StateQueued
	}
	return st
}

// fill reports a finished job.
func (st *Status) fill(ti *asynq.TaskInfo, o Outcome) {
	st.Status = StateSucceeded
	if !o.OK {
		st.Status, st.Error = StateFailed, o.Error
		if o.Error != nil && o.Error.Code == CodeCanceled {
			st.Status = StateCanceled
		}
	} else if len(o.Result) > 0 {
		st.Result = o.Result
	}
	done := o.FinishedAt
	for _, t := range []time.Time{ti.CompletedAt, ti.LastFailedAt} {
		if done.IsZero() {
			done = t
		}
	}
	if done.IsZero() {
		return
	}
	// asynq's own times have whole seconds: never report a job finished before it was created.
	if st.CreatedAt != nil && done.Before(*st.CreatedAt) {
		done = *st.CreatedAt
	}
	d := done.UTC()
	st.CompletedAt = &d
}

// Workers counts the worker processes that sent asynq a heartbeat recently.
func (c *Client) Workers() (int, error) {
	servers, err := c.insp.Servers()
	if err != nil {
		return 0, fmt.Errorf("jobs: list workers: %w", err)
	}
	n := 0
	for _, s := range servers {
		if s.Status == "active" {
			n++
		}
	}
	return n, nil
}
