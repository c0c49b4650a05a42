package main

import (
	"context"
	"fmt"
	"time"
)

// measureFront is figure 1: GET /health through the api's whole middleware stack against a bare
// fiber app (a process of its own, like the api) answering the very bytes /health answered,
// from the same client at the same concurrency, in alternating rounds.
func measureFront(ctx context.Context, e *env, sz sizes) ([]row, error) {
	body, hdr, err := e.call(ctx, "GET", e.apiURL+"/health", nil, nil, 200)
	if err != nil {
		return nil, err
	}
	bare, bareURL, err := e.startBare(ctx, body, hdr.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	defer func() {
		closeClient(e.client) // idle keep-alive connections would hold its graceful shutdown
		bare.stop(5 * time.Second)
	}()
	api, base, err := alternate(ctx, sz, e.getOp(e.apiURL+"/health"), e.getOp(bareURL))
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d connections, %d+%d requests", sz.front.conc, len(api.lat), len(base.lat))
	cmds, err := e.commandsPer(ctx, sz.traced, e.getOp(e.apiURL+"/health"), e.api.pid())
	if err != nil {
		return nil, err
	}
	return []row{
		versus("GET /health throughput", "req/s", api.rate(), base.rate(), note).want(targetRatioMin, 0.85),
		versus("GET /health latency p50", "ms", ms(api.p(.5)), ms(base.p(.5)), ""),
		versus("GET /health latency p99", "ms", ms(api.p(.99)), ms(base.p(.99)), ""),
		info("Redis commands per GET /health", "cmd", cmds[0], "what the api sends (MONITOR); the baseline sends none"),
	}, nil
}

// alternate measures two operations in sz.frontRounds alternating rounds, each bounded by
// sz.front, after a short warm-up of both, so that drift of a shared machine hits both alike.
func alternate(ctx context.Context, sz sizes, subject, baseline func(context.Context) error) (result, result, error) {
	warm := bounds{n: 200, d: time.Second, conc: sz.front.conc}
	drive(ctx, warm, subject)
	drive(ctx, warm, baseline)
	var s, b []result
	for i := range sz.frontRounds {
		if i%2 == 0 {
			b = append(b, drive(ctx, sz.front, baseline))
			s = append(s, drive(ctx, sz.front, subject))
		} else {
			s = append(s, drive(ctx, sz.front, subject))
			b = append(b, drive(ctx, sz.front, baseline))
		}
	}
	sm, bm := merge(s...), merge(b...)
	if err := sm.check("subject"); err != nil {
		return sm, bm, err
	}
	return sm, bm, bm.check("baseline")
}

// getOp is a GET that must answer 200.
func (e *env) getOp(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, _, err := e.call(ctx, "GET", url, nil, nil, 200)
		return err
	}
}

// commandsPer counts the Redis commands each of pids sends per operation over n operations,
// 16 in flight (so a worker is busy rather than polling an empty queue).
func (e *env) commandsPer(ctx context.Context, n int, op func(context.Context) error, pids ...int) ([]float64, error) {
	var r result
	counts, err := monitor(ctx, e.redisOpts, pids, func(ctx context.Context) error {
		r = drive(ctx, bounds{n: n, d: time.Minute, conc: 16}, op)
		return r.check("counting Redis commands")
	})
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i] = float64(counts[pid]) / float64(len(r.lat))
	}
	return out, nil
}
