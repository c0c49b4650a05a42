package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireSlot admits ARGV[1] into the sorted set KEYS[1] of at most ARGV[2] members, each scored
// with the Redis time (ms) at which it lapses: a holder that died without releasing (a crashed api,
// a lost job) stops counting at its deadline rather than never. Expired members go first, a member
// already in is refreshed, and the set expires with its last member.
//
// ARGV[3] ttl ms. Returns {allowed, held, ms until the earliest member lapses (when refused)}.
var acquireSlot = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and n >= limit then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, math.max(tonumber(first[2]) - now, 1)}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, redis.call('ZCARD', KEYS[1]), 0}
`)

// SlotKind names what a slot stands for.
type SlotKind int

// The kinds of slots an owner holds.
const (
	SlotJobs    SlotKind = iota // a job in flight (queued or running)
	SlotStreams                 // an open event stream
)

func (r *RateLimiter) slotSet(kind SlotKind, owner string) string {
	if kind == SlotStreams {
		return r.keys.StreamSlots(owner)
	}
	return r.keys.JobSlots(owner)
}

// SlotDecision is the outcome of one slot claim.
type SlotDecision struct {
	Allowed bool
	Held    int           // members holding a slot after the claim
	Lapse   time.Duration // when refused: until the oldest holder's slot lapses on its own
}

// AcquireSlot claims one of owner's limit concurrent slots of a kind for member, for at most ttl; a member that already holds one keeps it with a fresh deadline. Every replica
// shares the set, and the check and the claim are one atomic step.
func (r *RateLimiter) AcquireSlot(ctx context.Context, kind SlotKind, owner, member string, limit int, ttl time.Duration) (SlotDecision, error) {
	res, err := acquireSlot.Run(ctx, r.rdb, []string{r.slotSet(kind, owner)}, member, limit, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return SlotDecision{}, fmt.Errorf("storage: acquire slot: %w", err)
	}
	if len(res) != 3 {
		return SlotDecision{}, fmt.Errorf("storage: acquire slot: unexpected reply %v", res)
	}
	return SlotDecision{Allowed: res[0] == 1, Held: int(res[1]), Lapse: time.Duration(res[2]) * time.Millisecond}, nil
}

// ReleaseSlot gives member's slot back (a no-op when it holds none).
func (r *RateLimiter) ReleaseSlot(ctx context.Context, kind SlotKind, owner, member string) error {
	if err := r.rdb.ZRem(ctx, r.slotSet(kind, owner), member).Err(); err != nil {
		return fmt.Errorf("storage: release slot: %w", err)
	}
	return nil
}

// SlotHolders lists the members holding owner's slots of a kind (lapsed ones may be among them).
func (r *RateLimiter) SlotHolders(ctx context.Context, kind SlotKind, owner string) ([]string, error) {
	m, err := r.rdb.ZRange(ctx, r.slotSet(kind, owner), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: slot holders: %w", err)
	}
	return m, nil
}
