package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// serveMetrics returns only once the request it was answering when told to stop is answered.
func TestServeMetricsWaitsForItsRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pinged, release := make(chan struct{}), make(chan struct{})
	var answered atomic.Bool
	ping := func(context.Context) error {
		close(pinged)
		<-release
		answered.Store(true)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveMetrics(ctx, ln, prometheus.NewRegistry(), ping) }()
	got := make(chan int, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/health")
		if err != nil {
			got <- 0
			return
		}
		res.Body.Close()
		got <- res.StatusCode
	}()
	<-pinged
	cancel()
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := <-served; err != nil {
		t.Fatalf("serveMetrics: %v", err)
	}
	if !answered.Load() {
		t.Fatal("serveMetrics returned while its /health request was still being answered")
	}
	if status := <-got; status != http.StatusOK {
		t.Fatalf("the in-flight /health got %d", status)
	}
}

// The service owns its metrics listener: a METRICS_ADDR it cannot bind is an error, and close
// stops the listener and waits for it.
func TestMetricsListenerIsOwnedByTheService(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	addr := freeAddr(t)
	s := &service{cfg: config{MetricsAddr: addr}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		reg: prometheus.NewRegistry(), rdb: rdb}
	if err := s.startMetrics(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/health: %d", res.StatusCode)
	}

	taken := &service{cfg: config{MetricsAddr: addr}, log: s.log, reg: s.reg, rdb: rdb}
	var cfgErr *configError
	if err := taken.startMetrics(context.Background()); !errors.As(err, &cfgErr) || cfgErr.name != "METRICS_ADDR" {
		t.Fatalf("a second listener on %s: %v, want a METRICS_ADDR error", addr, err)
	}

	s.close()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the metrics listener still accepts connections after the service closed")
	}
}
