package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// measureThroughput is figure 4: jobs per second end to end through the api (synchronous
// POST /admin/ping from sz.jobs.conc callers: each job is enqueued, run by the worker, and its
// result reaches the caller) against raw asynq on the same Redis: as many enqueuers pushing a
// no-op task while an asynq server configured like the worker (32 at a time, 10 ms polling)
// processes it, timed until the last task is done. The sides alternate in rounds of half size.
func measureThroughput(ctx context.Context, e *env, sz sizes) ([]row, error) {
	half := sz.jobs
	half.n, half.d = max(half.n/2, 1), half.d/2
	ping := e.pingOp()
	drive(ctx, bounds{n: 200, d: 2 * time.Second, conc: half.conc}, ping) // warm-up
	var api []result
	var rawJobs int
	var rawTime time.Duration
	pids := map[string]int{"api": e.api.pid(), "worker": e.worker.pid(), "client": os.Getpid()}
	if pid := e.redisPID(ctx); pid > 0 {
		pids["redis"] = pid
	}
	apiCPU, rawCPU := newCPUMeter(pids), newCPUMeter(pids)
	for range 2 {
		apiCPU.begin()
		api = append(api, drive(ctx, half, ping))
		apiCPU.end()
		rawCPU.begin()
		n, d, err := rawAsynq(ctx, e.redisOpts, half)
		rawCPU.end()
		if err != nil {
			return nil, err
		}
		rawJobs, rawTime = rawJobs+n, rawTime+d
	}
	a := merge(api...)
	if err := a.check("jobs through the api"); err != nil {
		return nil, err
	}
	raw := float64(rawJobs) / rawTime.Seconds()
	cmds, err := e.commandsPer(ctx, sz.traced, ping, e.api.pid(), e.worker.pid())
	if err != nil {
		return nil, err
	}
	rawCmds, err := rawCommandsPerJob(ctx, e.redisOpts, sz.traced)
	if err != nil {
		return nil, err
	}
	return []row{
		versus("jobs end to end", "jobs/s", a.rate(), raw,
			fmt.Sprintf("%d callers; %d jobs via the api, %d raw", half.conc, len(a.lat), rawJobs)).want(targetRatioMin, 0.7),
		info("job round trip via the api p50", "ms", ms(a.p(.5)), ""),
		info("job round trip via the api p99", "ms", ms(a.p(.99)), ""),
		versus("CPU per job, all processes", "µs", cpuSum(apiCPU, len(a.lat)), cpuSum(rawCPU, rawJobs),
			fmt.Sprintf("via the api: api %.0f, worker %.0f, Redis %.0f, client %.0f; raw: Redis %.0f, asynq client+server %.0f",
				apiCPU.per("api", len(a.lat)), apiCPU.per("worker", len(a.lat)), apiCPU.per("redis", len(a.lat)),
				apiCPU.per("client", len(a.lat)), rawCPU.per("redis", rawJobs), rawCPU.per("client", rawJobs))),
		versus("Redis commands per job", "cmd", cmds[0]+cmds[1], rawCmds,
			fmt.Sprintf("api %.1f + worker %.1f, MONITOR over %d jobs, polling included", cmds[0], cmds[1], sz.traced)),
	}, nil
}

// rawCommandsPerJob counts the commands this process sends Redis per raw asynq job, 16 in flight.
func rawCommandsPerJob(ctx context.Context, opts *redis.Options, n int) (float64, error) {
	var jobs int
	counts, err := monitor(ctx, opts, []int{os.Getpid()}, func(ctx context.Context) (err error) {
		jobs, _, err = rawAsynq(ctx, opts, bounds{n: n, d: time.Minute, conc: 16})
		return err
	})
	if err != nil {
		return 0, err
	}
	return float64(counts[os.Getpid()]) / float64(max(jobs, 1)), nil
}

// rawQueue is where the raw baseline's tasks go: the tbackend worker does not serve it.
const rawQueue = "tbench-raw"

// rawAsynq enqueues no-op tasks from b.conc goroutines (up to b.n, within b.d) while an asynq
// server processes them, and returns how many were processed and the time from the first
// enqueue to the last completion.
func rawAsynq(ctx context.Context, opts *redis.Options, b bounds) (int, time.Duration, error) {
	o := *opts
	o.PoolSize = max(b.conc+40, 10*o.PoolSize)
	rdb := redis.NewClient(&o)
	defer rdb.Close()
	var done atomic.Int64
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 32, Queues: map[string]int{rawQueue: 1}, TaskCheckInterval: 10 * time.Millisecond,
		Logger: quietLogger{}, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("tbench:noop", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
	if err := srv.Start(mux); err != nil {
		return 0, 0, err
	}
	defer srv.Shutdown()
	cl := asynq.NewClientFromRedisClient(rdb)

	var enq atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(b.d)
	for range b.conc {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) && enq.Add(1) <= int64(b.n) {
				if _, err := cl.EnqueueContext(ctx, asynq.NewTask("tbench:noop", nil), asynq.Queue(rawQueue)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, fmt.Errorf("raw asynq enqueue: %w", firstErr)
	}
	want := min(enq.Load(), int64(b.n))
	for limit := time.Now().Add(b.d + 30*time.Second); done.Load() < want; {
		if time.Now().After(limit) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("raw asynq: %d of %d tasks processed in time", done.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	return int(want), time.Since(t0), nil
}

// quietLogger keeps asynq's own logging out of the benchmark's output.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// cpuSum is the CPU time all metered processes used per job, in µs. The api and the worker are
// idle (polling) during the raw rounds and count there too, as the raw side's processes count
// during the api rounds: both sides pay for the whole machine.
func cpuSum(m *cpuMeter, jobs int) float64 {
	total := 0.0
	for name := range m.pids {
		total += m.per(name, jobs)
	}
	return total
}
