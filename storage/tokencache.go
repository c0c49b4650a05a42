package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

// TokenCache keeps token-analysis answers and the parts of facts they are built from.
type TokenCache struct {
	rdb   redis.UniversalClient
	keys  Keys
	local *localAnswers // nil: every lookup reads Redis
}

// KeepLocal keeps the answers this process reads or stores in process for ttl, their bodies
// together under maxBytes: a lookup of a hot token then makes no Redis read. An answer
// refreshed by another process is therefore seen here up to ttl late. Call before use.
func (c *TokenCache) KeepLocal(ttl time.Duration, maxBytes int) {
	c.local = newLocalAnswers(ttl, maxBytes)
}

// NewTokenCache returns the cache.
func NewTokenCache(rdb redis.UniversalClient, keys Keys) *TokenCache {
	return &TokenCache{rdb: rdb, keys: keys}
}

// Lookup finds a cached answer: by the asset unit when the caller named it exactly, otherwise by
// the request's naming. One round trip either way. A miss is (nil, zero, nil).
func (c *TokenCache) Lookup(ctx context.Context, network, version, naming, unit string) ([]byte, time.Time, error) {
	return c.Read(network, version, naming, unit).Result(ctx)
}

// Read is Lookup as a Read: given to RateLimiter.Allow it rides along the rate limit's round
// trip; Result then answers without one of its own.
func (c *TokenCache) Read(network, version, naming, unit string) *TokenRead {
	key := c.lookupKey(network, version, naming, unit)
	r := &TokenRead{rdb: c.rdb, key: key, local: c.local}
	if c.local != nil {
		r.body, r.at, r.done = c.local.get(key)
	}
	return r
}

// Forget drops the in-process copy of the answer Read would find: an analysis this process has
// just run (a refresh, say) is then read back from Redis, not from a copy older than it.
func (c *TokenCache) Forget(network, version, naming, unit string) {
	if c.local != nil {
		c.local.forget(c.lookupKey(network, version, naming, unit))
	}
}

func (c *TokenCache) lookupKey(network, version, naming, unit string) string {
	if unit != "" {
		return c.keys.TokenResult(network, version, unit)
	}
	return c.keys.TokenNamed(network, version, naming)
}

// TokenRead is one cache lookup; see TokenCache.Read.
type TokenRead struct {
	rdb   redis.UniversalClient
	key   string
	cmd   *redis.SliceCmd
	local *localAnswers

	done bool // answered from the in-process copy: body and at
	body []byte
	at   time.Time
}

func (r *TokenRead) answered() bool { return r.done }

func (r *TokenRead) queue(ctx context.Context, p redis.Pipeliner) {
	r.cmd = p.HMGet(ctx, r.key, "body", "at")
}

// Result is the lookup's answer (a miss is (nil, zero, nil)), read now unless it was sent
// already.
func (r *TokenRead) Result(ctx context.Context) ([]byte, time.Time, error) {
	if r.done {
		return r.body, r.at, nil
	}
	if r.cmd == nil {
		r.cmd = r.rdb.HMGet(ctx, r.key, "body", "at")
	}
	vals, err := r.cmd.Result()
	if err != nil {
		return nil, time.Time{}, err
	}
	body, ok1 := vals[0].(string)
	at, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return nil, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil, time.Time{}, nil // not ours to trust: recompute
	}
	b := []byte(body)
	if r.local != nil {
		r.local.put(r.key, b, t)
	}
	return b, t, nil
}

// Store caches an answer for ttl under its unit and under the naming that asked for it.
func (c *TokenCache) Store(ctx context.Context, network, version, naming, unit string, body []byte, at time.Time, ttl time.Duration) error {
	stamp := at.UTC().Format(time.RFC3339Nano)
	keys := []string{c.keys.TokenResult(network, version, unit)}
	if naming != "" {
		keys = append(keys, c.keys.TokenNamed(network, version, naming))
	}
	// Not MULTI: the keys may live in different Cluster slots, and each entry stands alone.
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.HSet(ctx, k, "body", body, "at", stamp)
			p.Expire(ctx, k, ttl)
		}
		return nil
	})
	if c.local != nil && err == nil {
		t, _ := time.Parse(time.RFC3339Nano, stamp) // as a reader of Redis would see it
		kept := bytes.Clone(body)
		for _, k := range keys {
			c.local.put(k, kept, t)
		}
	}
	return err
}

// LoadPart reads a cached part into v; any failure is a miss.
func (c *TokenCache) LoadPart(ctx context.Context, network, part, id string, v any) bool {
	b, err := c.rdb.Get(ctx, c.keys.TokenPart(network, part, id)).Bytes()
	return err == nil && json.Unmarshal(b, v) == nil
}

// StorePart caches a part for ttl. Failing to cache only costs a recomputation later.
func (c *TokenCache) StorePart(ctx context.Context, network, part, id string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.rdb.Set(ctx, c.keys.TokenPart(network, part, id), b, ttl).Err()
}
