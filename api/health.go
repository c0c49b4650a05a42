package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

type check struct {
	Status    string  `json:"status"` // ok | degraded | down | emulated | live
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Mode      string  `json:"mode,omitempty"`
	Live      *int    `json:"live,omitempty"`
	Error     string  `json:"error,omitempty"`
}

type healthBody struct {
	Status  string           `json:"status"`
	Version string           `json:"version"`
	Checks  map[string]check `json:"checks"`
}

// healthTTL is how long one health report answers every caller: probes and load balancers may
// poll as often as they like without each poll costing five Redis commands (the worker list is
// a scan of asynq's server set).
const healthTTL = time.Second

// healthCache holds the latest report; its mutex also makes concurrent callers share one check.
type healthCache struct {
	mu     sync.Mutex
	at     time.Time
	status int
	body   []byte
}

// health reports each dependency. Redis down is fatal (503): nothing works without it. No live
// worker or a failing object store degrade the service but leave the api answering.
func (s *Server) health(c *fiber.Ctx) error {
	h := &s.healthCache
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := time.Now(); now.Sub(h.at) >= healthTTL {
		status, body := s.checkHealth(c.UserContext())
		raw, err := marshalJSON(body)
		if err != nil {
			return err
		}
		h.at, h.status, h.body = now, status, raw
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(h.status).Send(h.body)
}

func (s *Server) checkHealth(parent context.Context) (int, healthBody) {
	ctx, cancel := context.WithTimeout(parent, 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Version: s.cfg.Version, Checks: map[string]check{}}
	status := http.StatusOK

	start := time.Now()
	if err := s.deps.RedisPing(ctx); err != nil {
		body.Checks["redis"] = check{Status: "down", Error: "unreachable"}
		body.Status, status = "degraded", http.StatusServiceUnavailable
	} else {
		body.Checks["redis"] = check{Status: "ok", LatencyMS: ms(time.Since(start))}
		body.Checks["workers"] = s.workersCheck()
	}
	if s.deps.Objects != nil {
		start = time.Now()
		if err := s.deps.Objects.Ping(ctx); err != nil {
			body.Checks["object_store"] = check{Status: "down", Mode: s.deps.Objects.Mode(), Error: "unreachable"}
		} else {
			body.Checks["object_store"] = check{Status: "ok", Mode: s.deps.Objects.Mode(), LatencyMS: ms(time.Since(start))}
		}
	}
	for name, mode := range s.cfg.Upstreams {
		body.Checks[name] = check{Status: "ok", Mode: mode}
	}
	for _, ch := range body.Checks {
		if ch.Status != "ok" && body.Status == "ok" {
			body.Status = "degraded"
		}
	}
	return status, body
}

func (s *Server) workersCheck() check {
	n, err := s.deps.Jobs.Workers()
	if err != nil {
		return check{Status: "down", Error: "unknown"}
	}
	if n == 0 {
		return check{Status: "degraded", Live: &n, Error: "no live worker: jobs will wait"}
	}
	return check{Status: "ok", Live: &n}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
