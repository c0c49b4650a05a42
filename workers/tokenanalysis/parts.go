package tokenanalysis

import (
	"context"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/workers/tokenfacts"
)

// PartCache keeps parts of a token's facts between analyses, each for as long as it stays true.
// Values round-trip through JSON. Implementations must be safe for concurrent use; a failing
// cache is a miss, never an error.
type PartCache interface {
	LoadPart(ctx context.Context, unit, part string, v any) bool
	StorePart(ctx context.Context, unit, part string, v any, ttl time.Duration)
}

// How long each part of the facts is reused. A policy id is the hash of its script, so the
// script never changes (its lock state is re-evaluated against the tip on every analysis); the
// asset record changes only with mints and registry updates; holders and activity move quickly.
const (
	TTLPolicy   = 7 * 24 * time.Hour
	TTLAsset    = time.Hour
	TTLMinting  = 10 * time.Minute
	TTLHolders  = 5 * time.Minute
	TTLActivity = 5 * time.Minute
	// ResultTTL is how long a whole answer may be served again: its shortest-lived part.
	ResultTTL = TTLHolders
)

// Part names, as the cache keys them.
const (
	partAsset    = "asset"
	partPolicy   = "policy"
	partMinting  = "minting"
	partHolders  = "holders"
	partActivity = "activity"
)

// cachedPart is a part as stored: its value and the sources it was read from (so a cached part
// still shows up in data_quality.sources_used).
type cachedPart[T any] struct {
	Value T        `json:"value"`
	Used  []string `json:"used"`
}

type policyPart struct {
	Facts  PolicyFacts       `json:"facts"`
	Lock   *cardano.LockInfo `json:"lock,omitempty"`
	Plutus bool              `json:"plutus"`
}

type mintingPart struct {
	Facts MintingFacts `json:"facts"`
	Mints int          `json:"mints"`
	Burns int          `json:"burns"`
}

type holding struct {
	Address  string `json:"a"`
	Quantity string `json:"q"`
}

type holdersPart struct {
	Holdings []holding   `json:"holdings"`
	Scan     HoldersScan `json:"scan"`
}

type activityPart struct {
	Last    *time.Time  `json:"last"`
	TxTimes []time.Time `json:"tx_times"`
}

// part returns a part from the cache, or computes it and caches it when every source it read
// answered (a part built on a failed source is never kept). refresh skips the read.
func part[T any](ctx context.Context, a *Analyzer, refresh bool, src *sources, unit, name string,
	ttl time.Duration, compute func(*sources) T) T {
	var got cachedPart[T]
	if a.Parts != nil && !refresh && a.Parts.LoadPart(ctx, unit, name, &got) {
		for _, s := range got.Used {
			src.ok(s)
		}
		return got.Value
	}
	own := &sources{}
	v := compute(own)
	own.mu.Lock()
	used, failed := append([]string{}, own.used...), append([]string{}, own.failed...)
	own.mu.Unlock()
	for _, s := range used {
		src.ok(s)
	}
	for _, s := range failed {
		src.fail(s)
	}
	if a.Parts != nil && len(failed) == 0 && ctx.Err() == nil {
		a.Parts.StorePart(ctx, unit, name, cachedPart[T]{Value: v, Used: used}, ttl)
	}
	return v
}

func toHoldings(hs []tokenfacts.Holding) []holding {
	out := make([]holding, len(hs))
	for i, h := range hs {
		out[i] = holding{Address: h.Address, Quantity: h.Quantity.String()}
	}
	return out
}

func fromHoldings(hs []holding) []tokenfacts.Holding {
	out := make([]tokenfacts.Holding, 0, len(hs))
	for _, h := range hs {
		if q, err := tokenfacts.ParseQuantity(h.Quantity); err == nil {
			out = append(out, tokenfacts.Holding{Address: h.Address, Quantity: q})
		}
	}
	return out
}

// StoreParts adapts the Redis token cache of one network to PartCache.
type StoreParts struct {
	Cache   *storage.TokenCache
	Network string // the canonical network name the cache is keyed by
}

// LoadPart implements PartCache.
func (s StoreParts) LoadPart(ctx context.Context, unit, part string, v any) bool {
	return s.Cache.LoadPart(ctx, s.Network, part, unit, v)
}

// StorePart implements PartCache; a failure only costs a recomputation.
func (s StoreParts) StorePart(ctx context.Context, unit, part string, v any, ttl time.Duration) {
	_ = s.Cache.StorePart(ctx, s.Network, part, unit, v, ttl)
}
