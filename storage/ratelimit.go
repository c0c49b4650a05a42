package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is the generic cell rate algorithm in one atomic script: a bucket of `burst` requests
// refilled at one request per `interval`, keyed per API key so every api replica shares it. The
// clock is Redis's own, so replicas with skewed clocks still agree.
//
// KEYS[1] theoretical arrival time (ms); ARGV[1] interval ms; ARGV[2] burst.
// Returns {allowed, remaining, retry_after_ms, reset_ms}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
local remaining = math.floor((now - allow_at) / interval)
return {1, remaining, 0, math.ceil(new_tat - now)}
`)

// RateDecision is the outcome of one rate-limit check.
type RateDecision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when not allowed: wait this long
	Reset      time.Duration // until the bucket is full again
}

// RateLimiter enforces requests-per-minute limits per key.
type RateLimiter struct {
	rdb   redis.UniversalClient
	keys  Keys
	batch *limitBatcher
}

// NewRateLimiter returns a limiter.
func NewRateLimiter(rdb redis.UniversalClient, keys Keys) *RateLimiter {
	return &RateLimiter{rdb: rdb, keys: keys, batch: newLimitBatcher(rdb)}
}

// A Read is a lookup that rides along the rate limit's round trip (Allow): a cached answer is
// then served with one Redis round trip in all. Its methods are storage's; callers only pass it.
type Read interface {
	queue(ctx context.Context, p redis.Pipeliner)
}

// Allow spends one request of keyID's budget of rpm requests per minute (burst rpm); rpm 0 is
// no limit. reads are sent in the same pipeline, whatever the decision: each reports its own
// outcome, and a refused request simply does not use them. Concurrent calls share pipelines
// (limitbatch.go).
func (r *RateLimiter) Allow(ctx context.Context, keyID string, rpm int, reads ...Read) (RateDecision, error) {
	unlimited := RateDecision{Allowed: true, Limit: 0}
	c := &limitCall{reads: reads, done: make(chan struct{})}
	if rpm > 0 {
		c.key, c.interval, c.rpm = r.keys.RateLimit(keyID), 60000.0/float64(rpm), rpm
	} else if len(reads) == 0 {
		return unlimited, nil
	}
	if err := r.batch.do(ctx, c); err != nil {
		return RateDecision{}, fmt.Errorf("storage: rate limit: %w", err)
	}
	if rpm <= 0 {
		return unlimited, nil
	}
	res, err := c.script.Int64Slice()
	if err != nil || len(res) != 4 {
		return RateDecision{}, fmt.Errorf("storage: rate limit: unexpected reply %v (%v)", res, err)
	}
	return RateDecision{
		Allowed:    res[0] == 1,
		Limit:      rpm,
		Remaining:  int(math.Max(0, float64(res[1]))),
		RetryAfter: time.Duration(res[2]) * time.Millisecond,
		Reset:      time.Duration(res[3]) * time.Millisecond,
	}, nil
}

// distinct admits a member into the set KEYS[1] of at most ARGV[2] members per window (ARGV[3]
// ms, counted from the first member): a member already in is always admitted.
// Returns {allowed, retry_after_ms}.
var distinct = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {1, 0} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, math.max(redis.call('PTTL', KEYS[1]), 1)}
end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, 0}
`)

// AllowDistinct admits member under keyID when it is one of the first limit distinct members seen
// in the current window; repeating an admitted member is free. It caps work whose cost is per
// distinct value (a chain lookup per payment proof, say) while identical repeats are coalesced.
func (r *RateLimiter) AllowDistinct(ctx context.Context, keyID, member string, limit int, window time.Duration) (RateDecision, error) {
	res, err := distinct.Run(ctx, r.rdb, []string{r.keys.DistinctLimit(keyID)}, member, limit, window.Milliseconds()).Int64Slice()
	if err != nil {
		return RateDecision{}, fmt.Errorf("storage: distinct limit: %w", err)
	}
	if len(res) != 2 {
		return RateDecision{}, fmt.Errorf("storage: distinct limit: unexpected reply %v", res)
	}
	return RateDecision{Allowed: res[0] == 1, Limit: limit, RetryAfter: time.Duration(res[1]) * time.Millisecond}, nil
}

// releaseHold deletes KEYS[1] when ARGV[1] still holds it.
var releaseHold = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Hold lets one holder at a time work under keyID, for at most ttl: it reports whether holder
// has it (taken now, or held by the same holder already, who shares the work). release gives it
// up if holder still has it.
func (r *RateLimiter) Hold(ctx context.Context, keyID, holder string, ttl time.Duration) (held bool, release func(), err error) {
	key := r.keys.InFlight(keyID)
	ok, err := r.rdb.SetNX(ctx, key, holder, ttl).Result()
	if err != nil {
		return false, nil, fmt.Errorf("storage: hold: %w", err)
	}
	if !ok {
		cur, err := r.rdb.Get(ctx, key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, nil, fmt.Errorf("storage: hold: %w", err)
		}
		if cur != holder {
			return false, func() {}, nil
		}
	}
	return true, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = releaseHold.Run(ctx, r.rdb, []string{key}, holder).Err()
	}, nil
}
