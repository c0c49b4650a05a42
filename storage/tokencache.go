package storage

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// aliasTTL is how long a token's naming keeps pointing at its unit: names resolve to the same
// asset for good, the expiry only bounds the memory of names nobody asks for any more.
const aliasTTL = 24 * time.Hour

// TokenCache keeps token-analysis answers and the parts of facts they are built from.
type TokenCache struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewTokenCache returns the cache.
func NewTokenCache(rdb redis.UniversalClient, keys Keys) *TokenCache {
	return &TokenCache{rdb: rdb, keys: keys}
}

// Lookup finds a cached answer. unit is the asset when the caller named it exactly; otherwise
// the naming is looked up first. A miss is (nil, zero, nil).
func (c *TokenCache) Lookup(ctx context.Context, network, version, naming, unit string) ([]byte, time.Time, error) {
	if unit == "" {
		u, err := c.rdb.Get(ctx, c.keys.TokenAlias(network, naming)).Result()
		if errors.Is(err, redis.Nil) {
			return nil, time.Time{}, nil
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		unit = u
	}
	vals, err := c.rdb.HMGet(ctx, c.keys.TokenResult(network, version, unit), "body", "at").Result()
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
	return []byte(body), t, nil
}

// Store caches an answer for ttl and points the naming at its unit.
func (c *TokenCache) Store(ctx context.Context, network, version, naming, unit string, body []byte, at time.Time, ttl time.Duration) error {
	key := c.keys.TokenResult(network, version, unit)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { // not MULTI: the keys may live in different Cluster slots
		p.HSet(ctx, key, "body", body, "at", at.UTC().Format(time.RFC3339Nano))
		p.Expire(ctx, key, ttl)
		if naming != "" {
			p.Set(ctx, c.keys.TokenAlias(network, naming), unit, aliasTTL)
		}
		return nil
	})
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
