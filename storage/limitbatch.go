package storage

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Every authenticated request runs the rate limit, so its round trip is the api's most frequent
// one. Concurrent Allow calls share pipelines: a call that finds fewer than maxLimitBatches
// pipelines in flight sends at once, with whatever else is waiting; one that finds them all
// busy waits, and goes with the next batch. An idle api therefore adds no delay, and a busy one
// makes one write and one read (on both sides of the socket) for many requests instead of one
// each: loopback system calls were most of a request's CPU.

// maxLimitBatches bounds the pipelines in flight at once (each holds one pooled connection).
const maxLimitBatches = 2

// limitCall is one Allow: the script's arguments (key "" for reads alone), its reads, and, once
// done is closed, its outcome.
type limitCall struct {
	key      string
	interval float64
	rpm      int
	plan     takePlan
	reads    []Read

	script *redis.Cmd
	err    error
	done   chan struct{}
}

type limitBatcher struct {
	rdb redis.UniversalClient

	mu       sync.Mutex
	waiting  []*limitCall
	inFlight int
}

func newLimitBatcher(rdb redis.UniversalClient) *limitBatcher { return &limitBatcher{rdb: rdb} }

// do sends c, alone or with others, and waits for its outcome (or for ctx: the call may still be
// applied, as a command whose reply nobody waits for would be).
func (b *limitBatcher) do(ctx context.Context, c *limitCall) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.waiting = append(b.waiting, c)
	lead := b.inFlight < maxLimitBatches
	if lead {
		b.inFlight++
	}
	b.mu.Unlock()
	if lead {
		b.lead(context.WithoutCancel(ctx))
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lead sends what is waiting, holding one in-flight slot; calls that queued meanwhile get the
// slot next, on a goroutine of their own so that this caller's request goes on.
func (b *limitBatcher) lead(ctx context.Context) {
	b.mu.Lock()
	batch := b.waiting
	b.waiting = nil
	b.mu.Unlock()
	if len(batch) > 0 {
		b.send(ctx, batch)
	}
	b.mu.Lock()
	if len(b.waiting) > 0 {
		b.mu.Unlock()
		go b.lead(ctx)
		return
	}
	b.inFlight--
	b.mu.Unlock()
}

// send runs one batch as one pipeline (again with EVAL when Redis has not the script loaded)
// and hands each call its outcome.
func (b *limitBatcher) send(ctx context.Context, batch []*limitCall) {
	err := b.pipeline(ctx, batch, gcra.EvalSha)
	for _, c := range batch {
		if c.script != nil && redis.HasErrorPrefix(c.script.Err(), "NOSCRIPT") {
			err = b.pipeline(ctx, batch, gcra.Eval) // a restarted Redis forgot the script
			break
		}
	}
	for _, c := range batch {
		switch {
		case c.script != nil:
			c.err = c.script.Err()
		case Unavailable(err): // no limit, reads only: fails only when Redis cannot be reached
			c.err = err
		}
		close(c.done)
	}
}

func (b *limitBatcher) pipeline(ctx context.Context, batch []*limitCall,
	run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) error {
	p := b.rdb.Pipeline()
	for _, c := range batch {
		if c.key != "" {
			c.script = run(ctx, p, []string{c.key}, c.interval, c.rpm, c.plan.want, c.plan.back, c.plan.tat)
		}
		for _, rd := range c.reads {
			rd.queue(ctx, p)
		}
	}
	_, err := p.Exec(ctx)
	return err
}
