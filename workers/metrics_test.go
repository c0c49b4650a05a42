package workers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tbackend/tbackend/workers"
)

func TestUpstreamTransportMetrics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer up.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more: a transport error

	reg := prometheus.NewRegistry()
	m := workers.NewMetrics(reg)
	client := &http.Client{Transport: m.Transport("openai", nil)}
	for _, u := range []string{up.URL + "/ok", up.URL + "/ok", up.URL + "/limited", up.URL + "/broken", gone.URL} {
		res, err := client.Get(u)
		if err == nil {
			res.Body.Close()
		}
	}
	want := `
# HELP tbackend_upstream_errors_total Upstream calls that failed, by upstream and kind (transport, 4xx, 5xx, 429).
# TYPE tbackend_upstream_errors_total counter
tbackend_upstream_errors_total{kind="429",upstream="openai"} 1
tbackend_upstream_errors_total{kind="5xx",upstream="openai"} 1
tbackend_upstream_errors_total{kind="transport",upstream="openai"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tbackend_upstream_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "tbackend_upstream_request_duration_seconds"); n != 4 {
		t.Fatalf("latency series = %d, want 4 (2xx, 4xx, 5xx, error)", n)
	}
}
