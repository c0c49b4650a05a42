package workers

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
)

// Ping answers system:ping jobs after the requested delay.
type Ping struct {
	Worker string // this worker's name, so operators see who answered
}

// Handle is the job handler.
func (p Ping) Handle(ctx context.Context, t *asynq.Task) (any, error) {
	in, err := jobs.Decode[jobs.PingPayload](t)
	if err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	if in.DelayMS > 0 {
		timer := time.NewTimer(time.Duration(in.DelayMS) * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return jobs.PingResult{Worker: p.Worker, StartedAt: started, DelayMS: in.DelayMS}, nil
}
