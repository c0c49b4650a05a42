package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Usage counts calls and tokens per key: lifetime totals and per endpoint in one hash, per UTC day
// and month in hashes that expire. All of a key's hashes share one hash tag, so one MULTI updates
// them together even on Cluster. Record writes at once (workers' token counts); Count tallies an
// api's calls in process for Run to flush (usagetally.go).
type Usage struct {
	rdb   redis.UniversalClient
	keys  Keys
	tally *tally
}

// NewUsage returns a counter.
func NewUsage(rdb redis.UniversalClient, keys Keys) *Usage {
	return &Usage{rdb: rdb, keys: keys, tally: newTally()}
}

// Counts is a number of calls and tokens.
type Counts struct {
	Calls       int64 `json:"calls"`
	TotalTokens int64 `json:"total_tokens"`
}

// UsageReport is what one key has used.
type UsageReport struct {
	TotalCalls  int64             `json:"total_calls"`
	TotalTokens int64             `json:"total_tokens"`
	ByEndpoint  map[string]Counts `json:"by_endpoint"`
	Today       Counts            `json:"today"`
	ThisMonth   Counts            `json:"this_month"`
}

const (
	dayRetention   = 40 * 24 * time.Hour
	monthRetention = 400 * 24 * time.Hour
)

// Record adds calls and tokens to keyID's counters for endpoint at time at.
func (u *Usage) Record(ctx context.Context, keyID, endpoint string, calls, tokens int64, at time.Time) error {
	at = at.UTC()
	day := u.keys.UsageDay(keyID, at.Format("2006-01-02"))
	month := u.keys.UsageMonth(keyID, at.Format("2006-01"))
	_, err := u.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Zero increments are skipped: a call adds no tokens, a token count adds no call, and
		// every command here is paid on every authenticated request.
		life := u.keys.Usage(keyID)
		for _, f := range []struct {
			field string
			n     int64
		}{{"calls", calls}, {"tokens", tokens}, {"calls:" + endpoint, calls}, {"tokens:" + endpoint, tokens}} {
			if f.n != 0 {
				p.HIncrBy(ctx, life, f.field, f.n)
			}
		}
		for key, ttl := range map[string]time.Duration{day: dayRetention, month: monthRetention} {
			if calls != 0 {
				p.HIncrBy(ctx, key, "calls", calls)
			}
			if tokens != 0 {
				p.HIncrBy(ctx, key, "tokens", tokens)
			}
			p.Expire(ctx, key, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: record usage: %w", err)
	}
	return nil
}

// Report reads keyID's usage as of now, after flushing this process's tally (so a caller sees
// its own calls at once; other api processes' within their flush interval).
func (u *Usage) Report(ctx context.Context, keyID string, now time.Time) (UsageReport, error) {
	if err := u.Flush(ctx); err != nil {
		return UsageReport{}, err
	}
	now = now.UTC()
	var life, day, month *redis.MapStringStringCmd
	_, err := u.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		life = p.HGetAll(ctx, u.keys.Usage(keyID))
		day = p.HGetAll(ctx, u.keys.UsageDay(keyID, now.Format("2006-01-02")))
		month = p.HGetAll(ctx, u.keys.UsageMonth(keyID, now.Format("2006-01")))
		return nil
	})
	if err != nil {
		return UsageReport{}, fmt.Errorf("storage: read usage: %w", err)
	}
	l := life.Val()
	r := UsageReport{
		TotalCalls: atoi(l["calls"]), TotalTokens: atoi(l["tokens"]),
		ByEndpoint: map[string]Counts{},
		Today:      countsOf(day.Val()), ThisMonth: countsOf(month.Val()),
	}
	for f, v := range l {
		if ep, ok := strings.CutPrefix(f, "calls:"); ok {
			c := r.ByEndpoint[ep]
			c.Calls = atoi(v)
			r.ByEndpoint[ep] = c
		} else if ep, ok := strings.CutPrefix(f, "tokens:"); ok {
			c := r.ByEndpoint[ep]
			c.TotalTokens = atoi(v)
			r.ByEndpoint[ep] = c
		}
	}
	return r, nil
}

func countsOf(m map[string]string) Counts {
	return Counts{Calls: atoi(m["calls"]), TotalTokens: atoi(m["tokens"])}
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
