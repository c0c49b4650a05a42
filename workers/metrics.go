package workers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's Prometheus collectors: jobs by type and outcome, and calls to
// upstreams by upstream and result.
type Metrics struct {
	jobs        *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	upstream    *prometheus.HistogramVec
	upstreamErr *prometheus.CounterVec
}

// NewMetrics registers the worker's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tbackend_jobs_total", Help: "Job attempts by type and outcome (succeeded, failed, retried, interrupted).",
		}, []string{"type", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tbackend_job_duration_seconds", Help: "Job attempt duration by type and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"type", "outcome"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tbackend_upstream_request_duration_seconds", Help: "Upstream HTTP call latency by upstream and status class.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"upstream", "status"}),
		upstreamErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tbackend_upstream_errors_total", Help: "Upstream calls that failed, by upstream and kind (transport, 4xx, 5xx, 429).",
		}, []string{"upstream", "kind"}),
	}
	reg.MustRegister(m.jobs, m.jobDuration, m.upstream, m.upstreamErr)
	return m
}

func (m *Metrics) job(taskType, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(taskType, outcome).Inc()
	m.jobDuration.WithLabelValues(taskType, outcome).Observe(d.Seconds())
}

// Transport wraps next so that every call to the named upstream is measured. Upstream clients
// (OpenAI, Blockfrost) are built on it.
func (m *Metrics) Transport(upstream string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		res, err := next.RoundTrip(r)
		if err != nil {
			m.upstream.WithLabelValues(upstream, "error").Observe(time.Since(start).Seconds())
			m.upstreamErr.WithLabelValues(upstream, "transport").Inc()
			return nil, err
		}
		class := strconv.Itoa(res.StatusCode/100) + "xx"
		m.upstream.WithLabelValues(upstream, class).Observe(time.Since(start).Seconds())
		switch {
		case res.StatusCode == http.StatusTooManyRequests:
			m.upstreamErr.WithLabelValues(upstream, "429").Inc()
		case res.StatusCode >= 400:
			m.upstreamErr.WithLabelValues(upstream, class).Inc()
		}
		return res, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
