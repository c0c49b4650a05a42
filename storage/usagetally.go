package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The calls an api counts (Usage.Count) are tallied in process and added to Redis once a second
// (Usage.Run), in one pipeline for every key: an authenticated request then costs no Redis
// command for its usage. The price is a loss window: an api that dies without stopping loses
// the calls of its last second, plus those of the time Redis was unreachable before (a tally
// that cannot be flushed is kept and sent again). A stopping api flushes what it holds.
//
// Counting stays exact otherwise: each batch carries this process's instance id and a sequence
// number, and Redis applies a key's batch only when its number is above the last one applied
// from this instance, so a batch resent after a lost reply is not counted twice.

// tallyKey is one key's calls on one UTC day.
type tallyKey struct {
	keyID string
	day   int // yyyymmdd
}

// tallyBatch is one key-day's counts as sent, with the sequence number that makes a resend safe.
type tallyBatch struct {
	tallyKey
	seq    int64
	counts map[string]int64 // endpoint → calls
}

type tally struct {
	instance string

	mu      sync.Mutex
	pending map[tallyKey]map[string]int64

	flushMu sync.Mutex   // one flush at a time, so a batch's resend precedes newer batches
	unsent  []tallyBatch // sent and failed: sent again, as they are, before anything newer
	seq     int64
}

func newTally() *tally {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &tally{instance: hex.EncodeToString(b), pending: map[tallyKey]map[string]int64{}}
}

// Count adds one call of keyID to endpoint at time at to the tally (no Redis command).
func (u *Usage) Count(keyID, endpoint string, at time.Time) {
	y, m, d := at.UTC().Date()
	k := tallyKey{keyID: keyID, day: y*10000 + int(m)*100 + d}
	t := u.tally
	t.mu.Lock()
	eps := t.pending[k]
	if eps == nil {
		eps = map[string]int64{}
		t.pending[k] = eps
	}
	eps[endpoint]++
	t.mu.Unlock()
}

// Run flushes the tally every interval until ctx ends, then once more (bounded by 5 s).
// Failures are logged and retried at the next tick.
func (u *Usage) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := u.Flush(fctx); err != nil {
				log.Error("usage counts lost at shutdown", "error", err)
			}
			return
		case <-tick.C:
			if err := u.Flush(ctx); err != nil {
				log.Warn("usage counts kept for the next flush", "error", err)
			}
		}
	}
}

// Flush adds every counted call to Redis: when it returns nil, calls counted before it began
// are in the usage hashes.
func (u *Usage) Flush(ctx context.Context) error {
	t := u.tally
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	// Twice at most: a first round may only resend an earlier failed batch.
	for range 2 {
		if len(t.unsent) == 0 {
			t.unsent = t.take()
		}
		if len(t.unsent) == 0 {
			return nil
		}
		if err := u.send(ctx, t.unsent); err != nil {
			return err
		}
		t.unsent = nil
	}
	return nil
}

// take empties the tally into numbered batches.
func (t *tally) take() []tallyBatch {
	t.mu.Lock()
	pending := t.pending
	if len(pending) == 0 {
		t.mu.Unlock()
		return nil // the map stays Count's: it must not be read outside the lock
	}
	t.pending = map[tallyKey]map[string]int64{}
	t.mu.Unlock()
	out := make([]tallyBatch, 0, len(pending))
	for k, counts := range pending {
		t.seq++
		out = append(out, tallyBatch{tallyKey: k, seq: t.seq, counts: counts})
	}
	return out
}

// usageAdd applies one key-day batch unless this instance already applied it or a later one.
// KEYS: lifetime hash, day hash, month hash, applied-batches hash (all the key's hash tag).
// ARGV: instance, seq, day ttl s, month ttl s, then endpoint, calls pairs.
var usageAdd = redis.NewScript(`
local last = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[4], 86400)
local total = 0
for i = 5, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  redis.call('HINCRBY', KEYS[1], 'calls:' .. ARGV[i], n)
  total = total + n
end
redis.call('HINCRBY', KEYS[1], 'calls', total)
redis.call('HINCRBY', KEYS[2], 'calls', total)
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], 'calls', total)
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
`)

// send applies the batches in one pipeline (loading the script once when Redis lacks it).
func (u *Usage) send(ctx context.Context, batches []tallyBatch) error {
	err := u.pipeline(ctx, batches, usageAdd.EvalSha)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = u.pipeline(ctx, batches, usageAdd.Eval)
	}
	if err != nil {
		return fmt.Errorf("storage: flush usage: %w", err)
	}
	return nil
}

func (u *Usage) pipeline(ctx context.Context, batches []tallyBatch,
	run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) error {
	p := u.rdb.Pipeline()
	for _, b := range batches {
		day := strconv.Itoa(b.day)
		day = day[:4] + "-" + day[4:6] + "-" + day[6:]
		keys := []string{u.keys.Usage(b.keyID), u.keys.UsageDay(b.keyID, day), u.keys.UsageMonth(b.keyID, day[:7]),
			u.keys.UsageApplied(b.keyID)}
		args := []any{u.tally.instance, b.seq, int64(dayRetention / time.Second), int64(monthRetention / time.Second)}
		for ep, n := range b.counts {
			args = append(args, ep, n)
		}
		run(ctx, p, keys, args...)
	}
	_, err := p.Exec(ctx)
	return err
}
