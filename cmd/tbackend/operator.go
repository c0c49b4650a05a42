package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
)

// newRegistry is the process's metrics registry with the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// registerQueueMetrics adds queue sizes and latency read from Redis (asynq's own collector).
func registerQueueMetrics(reg prometheus.Registerer, rdb redis.UniversalClient) {
	reg.MustRegister(metrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(rdb)))
}

// serveMetrics answers /metrics and a liveness /health on ln (no auth: bind it where only
// scrapers and probes reach) until ctx ends, and returns once the requests in flight then are
// answered (at most 5 s). It is how a worker, which serves no api, is scraped and probed.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ping func(context.Context) error) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	debugHandlers(mux)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := ping(pctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"degraded","checks":{"redis":{"status":"down"}}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok","checks":{"redis":{"status":"ok"}}}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err // Serve returns only on a failure until Shutdown is called
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// ownConn gives asynqmon connections of its own, built from the same options as ours: asynqmon
// closes what it is given.
type ownConn struct{ opts *redis.UniversalOptions }

func (o ownConn) MakeRedisClient() any { return redis.NewUniversalClient(o.opts) }

// newQueuesDashboard builds asynqmon for /admin/queues.
func newQueuesDashboard(cfg config) (http.Handler, error) {
	opts, err := storage.RedisOptions(cfg.Redis)
	if err != nil {
		return nil, err
	}
	return asynqmon.New(asynqmon.Options{
		RootPath:     "/admin/queues",
		RedisConnOpt: ownConn{opts},
		ReadOnly:     !cfg.AdminQueuesWrite,
	}), nil
}
