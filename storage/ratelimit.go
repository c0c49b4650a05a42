package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is the generic cell rate algorithm in one atomic script: a bucket of `burst` requests
// refilled at one request per `interval`, keyed per API key so every api replica shares it. The
// clock is Redis's own, so replicas with skewed clocks still agree. A call takes up to `want`
// tokens at once (a lease, lease.go), as many as fit; before that it gives back `back` unused
// tokens of its api's previous take, but only if the TAT is still the one that take left.
//
// KEYS[1] theoretical arrival time (ms); ARGV: interval ms, burst, want, back, the TAT back is
// bound to. Returns {granted, remaining, retry_after_ms, reset_ms, tat}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored or now)
local changed = false
if tonumber(ARGV[4]) > 0 and stored == ARGV[5] then
  tat = tat - tonumber(ARGV[4]) * interval
  changed = true
end
if tat < now then tat = now end
local n = math.floor((now - tat) / interval + burst)
if n > want then n = want end
if n < want and now >= tat + (n + 1 - burst) * interval then n = n + 1 end
while n > 0 and now < tat + (n - burst) * interval do n = n - 1 end
if n < 1 then
  if changed then
    redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 1000)
  end
  return {0, 0, math.ceil(tat + (1 - burst) * interval - now), math.ceil(tat - now), tostring(tat)}
end
local new_tat = tat + n * interval
local s = tostring(new_tat)
redis.call('SET', KEYS[1], s, 'PX', math.ceil(new_tat - now) + 1000)
local remaining = math.floor((now - (new_tat - burst * interval)) / interval)
return {n, remaining, 0, math.ceil(new_tat - now), s}
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
	rdb    redis.UniversalClient
	keys   Keys
	batch  *limitBatcher
	leases *leases
	now    func() time.Time
}

// NewRateLimiter returns a limiter.
func NewRateLimiter(rdb redis.UniversalClient, keys Keys) *RateLimiter {
	return &RateLimiter{rdb: rdb, keys: keys, batch: newLimitBatcher(rdb), leases: newLeases(), now: time.Now}
}

// A Read is a lookup that rides along the rate limit's round trip (Allow): a cached answer is
// then served with one Redis round trip in all. Its methods are storage's; callers only pass it.
type Read interface {
	queue(ctx context.Context, p redis.Pipeliner)
	answered() bool // already answered in process: nothing to send
}

// Allow spends one request of keyID's budget of rpm requests per minute (burst rpm); rpm 0 is
// no limit. The request is spent from this api's lease of the key's tokens when it holds one
// (no round trip for the limit, lease.go). reads are sent in the same pipeline as the limit's
// script, or alone when the lease answers, whatever the decision: each reports its own outcome,
// and a refused request simply does not use them. Concurrent calls share pipelines
// (limitbatch.go).
func (r *RateLimiter) Allow(ctx context.Context, keyID string, rpm int, reads ...Read) (RateDecision, error) {
	reads = unanswered(reads)
	if rpm <= 0 {
		return RateDecision{Allowed: true, Limit: 0}, r.readOnly(ctx, reads)
	}
	now := r.now()
	if d, ok := r.leases.spend(keyID, rpm, now); ok {
		return d, r.readOnly(ctx, reads)
	}
	p := r.leases.plan(keyID, rpm, now, true)
	// Another call is taking the next lease, which serves the calls waiting for it while it has
	// tokens (or refuses them all when it got none). One not served waits a few rounds, then
	// takes one token alone.
	for round := 1; p.wait != nil; round++ {
		select {
		case <-p.wait:
		case <-ctx.Done():
			return RateDecision{}, fmt.Errorf("storage: rate limit: %w", ctx.Err())
		}
		if p.waiter.served {
			return p.waiter.d, r.readOnly(ctx, reads)
		}
		p = r.leases.plan(keyID, rpm, r.now(), round < maxLeaseWaits)
	}
	c := &limitCall{key: r.keys.RateLimit(keyID), interval: 60000.0 / float64(rpm), rpm: rpm, plan: p,
		reads: reads, done: make(chan struct{})}
	if err := r.batch.do(ctx, c); err != nil {
		r.leases.failed(keyID, p)
		return RateDecision{}, fmt.Errorf("storage: rate limit: %w", err)
	}
	granted, bucket, tat, err := parseTake(c.script, rpm)
	if err != nil {
		r.leases.failed(keyID, p)
		return RateDecision{}, err
	}
	return r.leases.granted(keyID, p, granted, bucket, tat, r.now()), nil
}

// readOnly sends reads that need Redis, with no limit to check.
func (r *RateLimiter) readOnly(ctx context.Context, reads []Read) error {
	if len(reads) == 0 {
		return nil
	}
	if err := r.batch.do(ctx, &limitCall{reads: reads, done: make(chan struct{})}); err != nil {
		return fmt.Errorf("storage: rate limit: %w", err)
	}
	return nil
}

func unanswered(reads []Read) []Read {
	out := reads[:0:0]
	for _, rd := range reads {
		if !rd.answered() {
			out = append(out, rd)
		}
	}
	return out
}

// parseTake reads the gcra script's reply.
func parseTake(cmd *redis.Cmd, rpm int) (int, RateDecision, string, error) {
	res, err := cmd.Slice()
	bad := func() (int, RateDecision, string, error) {
		return 0, RateDecision{}, "", fmt.Errorf("storage: rate limit: unexpected reply %v (%v)", res, err)
	}
	if err != nil || len(res) != 5 {
		return bad()
	}
	var n [4]int64
	for i := range n {
		v, ok := res[i].(int64)
		if !ok {
			return bad()
		}
		n[i] = v
	}
	tat, ok := res[4].(string)
	if !ok {
		return bad()
	}
	return int(n[0]), RateDecision{
		Limit:      rpm,
		Remaining:  int(max(0, n[1])),
		RetryAfter: time.Duration(n[2]) * time.Millisecond,
		Reset:      time.Duration(n[3]) * time.Millisecond,
	}, tat, nil
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
