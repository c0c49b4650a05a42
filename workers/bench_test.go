package workers_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/workers"
)

// benchCounter counts the Redis commands a client sends.
type benchCounter struct{ n atomic.Int64 }

func (c *benchCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *benchCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *benchCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// BenchmarkIdlePickup measures how late an idle worker starts a job (enqueue → handler entry),
// and how many Redis commands one idle worker sends per second while it waits for work.
func BenchmarkIdlePickup(b *testing.B) {
	base := redistest.Claim(b)
	wopts := *base.Options()
	wrdb := redis.NewClient(&wopts)
	defer wrdb.Close()
	counter := &benchCounter{}
	wrdb.AddHook(counter)

	started := make(chan time.Time, 1)
	srv := workers.NewServer(wrdb, workers.Config{Concurrency: 4}, storage.NewPublisher(wrdb),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.Handle(jobs.TypePing, func(context.Context, *asynq.Task) (any, error) {
		started <- time.Now()
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Idle command rate over a quiet second (after start-up settles).
	time.Sleep(500 * time.Millisecond)
	before := counter.n.Load()
	time.Sleep(2 * time.Second)
	idleRate := float64(counter.n.Load()-before) / 2

	enq := asynq.NewClientFromRedisClient(base)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Let the worker go idle again: a real pickup after a quiet spell, not a busy loop.
		time.Sleep(30 * time.Millisecond)
		t0 := time.Now()
		if _, err := enq.Enqueue(asynq.NewTask(jobs.TypePing, []byte(`{}`)), asynq.Queue(jobs.QueueDefault)); err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-started:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(5 * time.Second):
			b.Fatal("job not picked up within 5 s")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "pickup-p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "pickup-p99-ms")
	b.ReportMetric(idleRate, "idle-redis-cmds/s")
}

// BenchmarkJobEnd measures the worker's Redis commands per short job with heartbeats on, 16 jobs
// in flight (asynq's dequeue, completion and polling included): the result, the notice and the
// heartbeat's end share one pipeline, and a job shorter than a tenth of a beat sends no heartbeat.
func BenchmarkJobEnd(b *testing.B) {
	base := redistest.Claim(b)
	wopts := *base.Options()
	wrdb := redis.NewClient(&wopts)
	defer wrdb.Close()
	counter := &benchCounter{}
	wrdb.AddHook(counter)
	keys := storage.NewKeys("bench:")
	srv := workers.NewServer(wrdb, workers.Config{Concurrency: 16, NoticePrefix: keys.Notices(""),
		Liveness: storage.NewLiveness(wrdb, keys, 3*time.Second), BeatEvery: time.Second},
		storage.NewPublisher(wrdb), slog.New(slog.NewTextHandler(io.Discard, nil)))
	var done atomic.Int64
	srv.Handle(jobs.TypePing, func(context.Context, *asynq.Task) (any, error) {
		done.Add(1)
		return jobs.PingResult{Worker: "bench"}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	enq := asynq.NewClientFromRedisClient(base)
	headers := map[string]string{jobs.HeaderReplyTo: keys.Notices("bench")}
	b.ResetTimer()
	before := counter.n.Load()
	for i := 0; i < b.N; i++ {
		task := asynq.NewTaskWithHeaders(jobs.TypePing, []byte(`{}`), headers)
		if _, err := enq.Enqueue(task, asynq.Queue(jobs.QueueDefault), asynq.Retention(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	for limit := time.Now().Add(time.Minute); done.Load() < int64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(limit) {
			b.Fatalf("%d of %d jobs done within a minute", done.Load(), b.N)
		}
	}
	time.Sleep(50 * time.Millisecond) // the last jobs' completions
	b.StopTimer()
	b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "worker-redis-cmds/job")
}
