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

// serveMetrics answers /metrics and a liveness /health on METRICS_ADDR (no auth: bind it where
// only scrapers and probes reach) until ctx ends. It is how a worker, which serves no api, is
// scraped and probed.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, ping func(context.Context) error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &configError{"METRICS_ADDR", err.Error()}
	}
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
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
