package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrEmptyJobID is returned by Claim and Release when given no job id.
var ErrEmptyJobID = errors.New("storage: empty job id")

// idemClaim records a job id for a request unless one is recorded already.
//
// KEYS[1] the request's key; ARGV[1] job id; ARGV[2] time to live in ms (0: none).
// Returns {job id that owns the request, 1 if this call recorded it else 0}.
var idemClaim = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  return {cur, 0}
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return {ARGV[1], 1}
`)

// idemRelease deletes the request's record only while it still names the given job.
//
// KEYS[1] the request's key; ARGV[1] job id. Returns 1 when deleted, else 0.
var idemRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Idempotency makes "the same request id from the same caller within the time to live returns the
// first result" hold across api replicas: the first request to claim an id names the job, every
// later one is pointed at that job.
type Idempotency struct {
	rdb  redis.UniversalClient
	keys Keys
	ttl  time.Duration
}

// NewIdempotency returns a claim store whose records last ttl (ttl <= 0: until released).
func NewIdempotency(rdb redis.UniversalClient, keys Keys, ttl time.Duration) *Idempotency {
	return &Idempotency{rdb: rdb, keys: keys, ttl: ttl}
}

// Claim records jobID for (owner, requestID) unless a job is recorded already, atomically. It
// returns the job that owns the request: jobID with claimed true, or the earlier job with claimed
// false. The record's time to live starts at the claim and is not extended by later claims.
func (i *Idempotency) Claim(ctx context.Context, owner, requestID, jobID string) (winner string, claimed bool, err error) {
	if jobID == "" {
		return "", false, fmt.Errorf("storage: claim request: %w", ErrEmptyJobID)
	}
	res, err := idemClaim.Run(ctx, i.rdb, []string{i.keys.Idempotency(owner, requestID)}, jobID, Millis(i.ttl)).Slice()
	if err != nil {
		return "", false, fmt.Errorf("storage: claim request: %w", err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("storage: claim request: unexpected reply %v", res)
	}
	winner, ok1 := res[0].(string)
	n, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return "", false, fmt.Errorf("storage: claim request: unexpected reply %v", res)
	}
	return winner, n == 1, nil
}

// Release forgets (owner, requestID) if it still maps to jobID, so that a request whose first
// attempt failed can be retried under the same id. A record that names another job is left alone;
// releasing what is not recorded is not an error.
func (i *Idempotency) Release(ctx context.Context, owner, requestID, jobID string) error {
	if jobID == "" {
		return fmt.Errorf("storage: release request: %w", ErrEmptyJobID)
	}
	if err := idemRelease.Run(ctx, i.rdb, []string{i.keys.Idempotency(owner, requestID)}, jobID).Err(); err != nil {
		return fmt.Errorf("storage: release request: %w", err)
	}
	return nil
}

// Millis is a time to live as a script argument: whole milliseconds, at least 1 for any positive
// duration (so a tiny ttl never turns into "no expiry"), 0 for none. Exported for the ledger's
// scripts (storage/ledger).
func Millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(1, d.Milliseconds())
}
