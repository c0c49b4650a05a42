package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/workers"
)

// measureQueue is figure 3: a synchronous POST /admin/ping (api → queue → worker → notice → api)
// on an idle worker and at saturation, against the worker's ping handler called in-process; and
// the Redis commands an idle worker sends per second.
//
// Idle: one call at a time with a pause before each, so the worker is back to polling an empty
// queue. Saturation: closed loops at rising concurrency (see saturated and knee).
func measureQueue(ctx context.Context, e *env, sz sizes) ([]row, error) {
	inproc, err := inProcessPing(ctx, sz.inproc)
	if err != nil {
		return nil, err
	}
	ping := e.pingOp()
	drive(ctx, bounds{n: 20, d: 5 * time.Second, conc: 1}, ping) // warm-up
	idle := paced(ctx, bounds{n: sz.idleJobs, d: sz.idleMax}, sz.idlePause, ping)
	if err := idle.check("idle round trips"); err != nil {
		return nil, err
	}
	levels, err := sweepLevels(ctx, sz, ping)
	if err != nil {
		return nil, err
	}
	sat, kn := saturated(levels), knee(levels)
	time.Sleep(time.Second) // let the worker settle back into idle polling
	pid := e.worker.pid()
	cmds, err := monitor(ctx, e.redisOpts, []int{pid}, func(context.Context) error {
		time.Sleep(sz.quiet)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting the idle worker's Redis commands: %w", err)
	}
	in50, in99 := ms(inproc.p(.5)), ms(inproc.p(.99))
	return []row{
		versus("idle worker: round trip p50", "ms", ms(idle.p(.5)), in50, fmt.Sprintf("%d calls, %s apart", len(idle.lat), sz.idlePause)).want(targetAddedMax, 10),
		versus("idle worker: round trip p99", "ms", ms(idle.p(.99)), in99, ""),
		versus(fmt.Sprintf("saturated (%d in flight): round trip p50", sat.conc), "ms", ms(sat.r.p(.5)), in50,
			"lowest level with ≥ 90% of the best throughput; "+sweepText(levels)).want(targetAddedMax, 5),
		versus(fmt.Sprintf("saturated (%d in flight): round trip p99", sat.conc), "ms", ms(sat.r.p(.99)), in99, ""),
		info(fmt.Sprintf("saturated (%d in flight): throughput", sat.conc), "jobs/s", sat.r.rate(), ""),
		versus(fmt.Sprintf("knee (%d in flight, best throughput ÷ p50): round trip p50", kn.conc), "ms", ms(kn.r.p(.5)), in50,
			fmt.Sprintf("%.0f jobs/s", kn.r.rate())),
		info("idle worker: Redis commands per second", "cmd/s", float64(cmds[pid])/sz.quiet.Seconds(),
			fmt.Sprintf("MONITOR over %s, one worker process (WORKER_POLL_INTERVAL 10ms)", sz.quiet)),
	}, nil
}

// pingOp is a synchronous POST /admin/ping that must answer 200.
func (e *env) pingOp() func(context.Context) error {
	return func(ctx context.Context) error {
		_, _, err := e.call(ctx, "POST", e.apiURL+"/admin/ping", []byte(`{}`), e.keyed(), 200)
		return err
	}
}

// paced runs op up to b.n times one after another within b.d, pausing before each (the pause
// is not timed).
func paced(ctx context.Context, b bounds, pause time.Duration, op func(context.Context) error) result {
	var r result
	t0 := time.Now()
	for i := 0; i < b.n && time.Since(t0) < b.d; i++ {
		select {
		case <-ctx.Done():
			r.errs++
			r.firstErr = ctx.Err()
			return r
		case <-time.After(pause):
		}
		s := time.Now()
		if err := op(ctx); err != nil {
			r.errs++
			if r.firstErr == nil {
				r.firstErr = err
			}
			continue
		}
		r.lat = append(r.lat, time.Since(s))
	}
	r.elapsed = time.Since(t0)
	return merge(r) // sorted
}

// level is one concurrency level of the saturation sweep.
type level struct {
	conc int
	r    result
}

// sweepLevels measures a closed loop of op at each concurrency level of sz.sweep.
func sweepLevels(ctx context.Context, sz sizes, op func(context.Context) error) ([]level, error) {
	var out []level
	for _, c := range sz.sweep {
		b := sz.sweepLoad
		b.conc = c
		r := drive(ctx, b, op)
		if err := r.check(fmt.Sprintf("%d in flight", c)); err != nil {
			return nil, err
		}
		out = append(out, level{c, r})
	}
	return out, nil
}

// saturated is the lowest level whose throughput reaches 90% of the best: the worker is busy
// (it finds work whenever it looks), and more callers would only wait longer in the queue.
func saturated(levels []level) level {
	best := 0.0
	for _, l := range levels {
		best = max(best, l.r.rate())
	}
	for _, l := range levels {
		if l.r.rate() >= 0.9*best {
			return l
		}
	}
	return levels[len(levels)-1]
}

// knee is the level with the most throughput per unit of latency (throughput ÷ p50, Kleinrock's
// "power"): the best operating point, often below saturation.
func knee(levels []level) level {
	k, power := levels[0], 0.0
	for _, l := range levels {
		if p := l.r.rate() / l.r.p(.5).Seconds(); p > power {
			k, power = l, p
		}
	}
	return k
}

func sweepText(levels []level) string {
	var parts []string
	for _, l := range levels {
		parts = append(parts, fmt.Sprintf("%d: %.0f/s p50 %.1fms", l.conc, l.r.rate(), ms(l.r.p(.5))))
	}
	return "sweep " + strings.Join(parts, "; ")
}

// inProcessPing times the worker's ping handler called directly, n times.
func inProcessPing(ctx context.Context, n int) (result, error) {
	h := workers.Ping{Worker: "tbench"}
	task := asynq.NewTask(jobs.TypePing, []byte(`{"delay_ms":0}`))
	var r result
	t0 := time.Now()
	for range n {
		s := time.Now()
		if _, err := h.Handle(ctx, task); err != nil {
			return r, fmt.Errorf("in-process ping: %w", err)
		}
		r.lat = append(r.lat, time.Since(s))
	}
	r.elapsed = time.Since(t0)
	return merge(r), nil
}
