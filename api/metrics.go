package api

import (
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the api's own Prometheus collectors. Labels use route patterns, never raw paths,
// so their number stays bounded whatever clients send.
type Metrics struct {
	gatherer prometheus.Gatherer
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	streams  prometheus.Gauge
	series   sync.Map // series → seriesCollectors
}

// NewMetrics registers the api's collectors on reg; /metrics serves everything reg gathers.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		gatherer: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tbackend_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tbackend_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method", "status"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tbackend_sse_streams_open", Help: "Server-Sent Event streams currently open.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.streams)
	return m
}

// series is one (route, method, status) label set; its collectors are looked up once and kept
// (routes are patterns and statuses few, so the set stays small), sparing every request the
// label hashing of WithLabelValues.
type series struct {
	route, method string
	status        int
}

type seriesCollectors struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func (m *Metrics) observe(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := series{route, method, status}
	sc, ok := m.series.Load(k)
	if !ok {
		s := strconv.Itoa(status)
		sc, _ = m.series.LoadOrStore(k, seriesCollectors{
			requests: m.requests.WithLabelValues(route, method, s),
			latency:  m.latency.WithLabelValues(route, method, s),
		})
	}
	c := sc.(seriesCollectors)
	c.requests.Inc()
	c.latency.Observe(d.Seconds())
}

// StreamOpened counts an open SSE stream; call the returned func when it closes.
func (m *Metrics) StreamOpened() func() {
	if m == nil {
		return func() {}
	}
	m.streams.Inc()
	return m.streams.Dec
}

func (s *Server) metricsHandler() fiber.Handler {
	if s.deps.Metrics == nil {
		return func(*fiber.Ctx) error { return fiber.ErrNotFound }
	}
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.deps.Metrics.gatherer, promhttp.HandlerOpts{}))
}
