package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Liveness is the workers' heartbeat per running job: a key with a short time to live that the
// worker refreshes while the job runs. asynq notices a dead worker only when its 30 s lease has
// been expired for another 30 s (checked once a minute); a job that asynq still calls active but
// whose heartbeat expired lost its worker, and waiting callers can be told within seconds.
type Liveness struct {
	rdb  redis.UniversalClient
	keys Keys
	ttl  time.Duration
}

// NewLiveness returns the heartbeat store; a beat keeps a job alive for ttl.
func NewLiveness(rdb redis.UniversalClient, keys Keys, ttl time.Duration) *Liveness {
	return &Liveness{rdb: rdb, keys: keys, ttl: ttl}
}

// Beat marks the jobs alive for the next ttl, in one round trip.
func (l *Liveness) Beat(ctx context.Context, jobIDs []string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range jobIDs {
			p.Set(ctx, l.keys.JobAlive(id), "1", l.ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: job heartbeat: %w", err)
	}
	return nil
}

// End drops a job's heartbeat: it finished, or went back on its queue.
func (l *Liveness) End(ctx context.Context, jobID string) error {
	if err := l.rdb.Del(ctx, l.keys.JobAlive(jobID)).Err(); err != nil {
		return fmt.Errorf("storage: end job heartbeat: %w", err)
	}
	return nil
}

// EndIn queues End in pipe, so that it rides with the job's result write.
func (l *Liveness) EndIn(ctx context.Context, pipe redis.Pipeliner, jobID string) {
	pipe.Del(ctx, l.keys.JobAlive(jobID))
}

// Alive tells whether a job's heartbeat is current.
func (l *Liveness) Alive(ctx context.Context, jobID string) (bool, error) {
	n, err := l.rdb.Exists(ctx, l.keys.JobAlive(jobID)).Result()
	if err != nil {
		return false, fmt.Errorf("storage: job heartbeat: %w", err)
	}
	return n > 0, nil
}
