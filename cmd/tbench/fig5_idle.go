package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
)

// idleStreams opens counts[0] streamed chats, then more up to counts[1], … (each stalled by the
// emulator before its first token, so they stay open and idle; the worker runs 32 of the jobs
// and the rest wait in the queue, which is what an api holding idle streams sees), and reports
// for each count the api process's Redis connections (pub/sub ones in particular) and its memory
// per stream: Go heap+stacks after a collection, and resident set size. Then it closes them all
// and waits for the api to let go of them.
func (e *env) idleStreams(ctx context.Context, counts []int) ([]row, error) {
	counts = slices.Sorted(slices.Values(counts))
	if err := fileRoom(counts[len(counts)-1]); err != nil {
		return nil, err
	}
	pid := e.api.pid()
	mem0, err := e.apiMemory(ctx)
	if err != nil {
		return nil, err
	}
	conns0, err := countConns(ctx, e.rdb, pid)
	if err != nil {
		return nil, err
	}
	c := newClient(0)
	defer closeClient(c)
	var open []*http.Response
	defer func() { closeAll(open) }()
	var rows []row
	for _, n := range counts {
		more, err := e.openStreams(ctx, c, len(open), n-len(open))
		open = append(open, more...)
		if err != nil {
			return rows, err
		}
		if err := e.waitStreams(ctx, n, time.Minute); err != nil {
			return rows, err
		}
		mem, err := e.apiMemory(ctx)
		if err != nil {
			return rows, err
		}
		conns, err := countConns(ctx, e.rdb, pid)
		if err != nil {
			return rows, err
		}
		per := func(now, before uint64) float64 { return (float64(now) - float64(before)) / float64(n) / 1024 }
		rows = append(rows,
			info(fmt.Sprintf("%d idle streams: api pub/sub connections", n), "conns", float64(conns.PubSub),
				fmt.Sprintf("%d channels on the busiest", conns.MaxChannels)).want(targetEqual, 1),
			versus(fmt.Sprintf("%d idle streams: api Redis connections", n), "conns", float64(conns.Total), float64(conns0.Total),
				"baseline: before the streams"),
			info(fmt.Sprintf("%d idle streams: api Go heap+stacks per stream", n), "KiB", per(mem.heap+mem.stacks, mem0.heap+mem0.stacks),
				fmt.Sprintf("%s; %.1f → %.1f MiB", mem.source, mib(mem0.heap+mem0.stacks), mib(mem.heap+mem.stacks))).want(targetMax, 100),
			info(fmt.Sprintf("%d idle streams: api RSS per stream", n), "KiB", per(mem.rss, mem0.rss),
				fmt.Sprintf("%.1f → %.1f MiB", mib(mem0.rss), mib(mem.rss))).want(targetMax, rssPerStreamMax(n)),
		)
	}
	t0 := time.Now()
	closeAll(open)
	open = nil
	if err := e.waitStreams(ctx, 0, 2*time.Minute); err != nil {
		return rows, fmt.Errorf("after closing the idle streams: %w", err)
	}
	relays := time.Since(t0)
	if err := e.waitWoundDown(ctx, 2*time.Minute); err != nil {
		return rows, fmt.Errorf("after closing the idle streams: %w", err)
	}
	return append(rows,
		info("idle streams closed: api relays gone after", "s", relays.Seconds(), ""),
		info("idle streams closed: jobs canceled, upstream idle after", "s", time.Since(t0).Seconds(), ""),
	), nil
}

// waitWoundDown waits until no chat job is queued or running and no upstream stream is open:
// the jobs of departed streams were canceled, as they must be.
func (e *env) waitWoundDown(ctx context.Context, limit time.Duration) error {
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	deadline := time.Now().Add(limit)
	for {
		qi, err := insp.GetQueueInfo(jobs.QueueDefault)
		if err == nil && qi.Pending+qi.Active+qi.Retry == 0 && e.openai.OpenStreams() == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not wound down within %s: queue %+v (%v), upstream streams open %d", limit, qi, err, e.openai.OpenStreams())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rssPerStreamMax is the target for the resident memory an idle stream costs: 50 KiB at
// 10,000 streams; smaller counts, where the api's fixed costs weigh more, get 100.
func rssPerStreamMax(n int) float64 {
	if n >= 10000 {
		return 50
	}
	return 100
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// fileRoom checks that this process may open n more descriptors (plus slack).
func fileRoom(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if need := uint64(n) + fileSlack; lim.Cur < need {
		return fmt.Errorf("%d idle streams need about %d open files; RLIMIT_NOFILE is %d (hard %d): raise it (ulimit -Hn)", n, need, lim.Cur, lim.Max)
	}
	return nil
}

// openStreams opens n streams numbered from first, 64 at a time, and returns those that opened.
func (e *env) openStreams(ctx context.Context, c *http.Client, first, n int) ([]*http.Response, error) {
	out := make([]*http.Response, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			msg := fmt.Sprintf("[[openaiemu:stall;stall_for=10m]] idle stream %d", first+i)
			res, err := c.Do(e.chatRequest(ctx, msg))
			if err == nil && res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				err = fmt.Errorf("stream %d: %d %.300s", first+i, res.StatusCode, b)
			}
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
				return
			}
			out[i] = res
		})
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(r *http.Response) bool { return r == nil }), firstErr
}

func closeAll(rs []*http.Response) {
	for _, r := range rs {
		r.Body.Close()
	}
}

// waitStreams waits until the api reports n open event streams (its tbackend_sse_streams_open
// gauge): every relay is running, subscribed on the shared pub/sub connection.
func (e *env) waitStreams(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		got, err := e.metric(ctx, e.apiDebug, "tbackend_sse_streams_open")
		if err == nil && int(got) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the api reports %v open streams (%v), not %d, after %s", got, err, n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
