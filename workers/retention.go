package workers

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
)

// Sweeper deletes old objects (objstore.Store).
type Sweeper interface {
	DeleteOlderThan(ctx context.Context, prefix string, age time.Duration) (int, error)
}

// Retention runs storage:retention jobs: stored results are not kept forever.
type Retention struct {
	Store Sweeper
}

// Handle is the job handler.
func (r Retention) Handle(ctx context.Context, t *asynq.Task) (any, error) {
	in, err := jobs.Decode[jobs.RetentionPayload](t)
	if err != nil {
		return nil, err
	}
	n, err := r.Store.DeleteOlderThan(ctx, in.Prefix, time.Duration(in.MaxAgeSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	return jobs.RetentionResult{Deleted: n}, nil
}
