package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tbackend/tbackend/storage"
)

const (
	localRequestID = "request_id"
	localCaller    = "caller"
)

// caller is who made an authenticated request.
type caller struct {
	key   storage.APIKey
	owner string // the job/session owner id: "key:<id>"
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

func callerOf(c *fiber.Ctx) *caller {
	k, _ := c.Locals(localCaller).(*caller)
	return k
}

// routeOf is the matched route's pattern (bounded cardinality for logs and usage), or
// "unmatched" when only middleware ran.
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "/" && c.Path() != "/" {
		return "unmatched"
	}
	return r.Path
}

// validRequestID accepts a client's id when it is short and plain; anything else is replaced, so
// logs and headers never carry a client's arbitrary bytes.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':'
		if !ok {
			return false
		}
	}
	return true
}

// frame is the outermost middleware: request id, panic recovery, error rendering and the access
// log. Errors are rendered here rather than by fiber so that the log sees the final status.
func (s *Server) frame(c *fiber.Ctx) (err error) {
	start := time.Now()
	id := c.Get("X-Request-Id")
	if !validRequestID(id) {
		id = uuid.NewString()
	}
	c.Locals(localRequestID, id)
	c.Set("X-Request-ID", id)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic", "request_id", id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = s.writeError(c, fmt.Errorf("panic: %v", r))
		}
		releaseBody(c)
		s.access(c, start)
	}()
	if err := c.Next(); err != nil {
		return s.writeError(c, err)
	}
	return nil
}

// access records the request in the metrics and the access log (typed attributes: no boxing).
func (s *Server) access(c *fiber.Ctx, start time.Time) {
	elapsed := time.Since(start)
	route, status := routeOf(c), c.Response().StatusCode()
	s.deps.Metrics.observe(route, c.Method(), status, elapsed)
	ctx := c.UserContext()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	keyID := ""
	if cl := callerOf(c); cl != nil {
		keyID = cl.key.ID
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", requestID(c)), slog.String("method", c.Method()), slog.String("route", route),
		slog.Int("status", status), slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
		slog.String("key_id", keyID), slog.String("client_ip", s.clientIP(c)))
}

// requireKey authenticates the api-key header, checks scope (empty: any valid key), applies the
// key's rate limit, and counts the call in the key's usage when it succeeds. A route's prefetch
// rides along the rate limit's round trip.
func (s *Server) requireKey(scope string, pre ...prefetch) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cl, err := s.authenticate(c, scope)
		if err != nil {
			return err
		}
		if err := s.rateLimit(c, cl.key, prefetchAll(c, pre)...); err != nil {
			return err
		}
		return s.serveKeyed(c, cl)
	}
}

// prefetch reads what a route's handler will need from the request (a cheap, side-effect free
// step: parsing the body, say) and names the Redis read that serves it, or nil. The read then
// goes in the rate limit's pipeline, so a request answered from Redis (a cached token analysis)
// costs one round trip in all. A request the read cannot serve leaves its outcome, an error
// included, for the handler, which answers it after the rate limit has been applied.
type prefetch func(c *fiber.Ctx) storage.Read

func prefetchAll(c *fiber.Ctx, pre []prefetch) []storage.Read {
	var reads []storage.Read
	for _, p := range pre {
		if r := p(c); r != nil {
			reads = append(reads, r)
		}
	}
	return reads
}

// serveKeyed runs the rest of the chain as an authenticated, rate-limited key holder and counts
// the call in the key's usage when it succeeds.
func (s *Server) serveKeyed(c *fiber.Ctx, cl *caller) error {
	c.Locals(localCaller, cl)
	if err := c.Next(); err != nil {
		if err := s.writeError(c, err); err != nil {
			return err
		}
	}
	if c.Response().StatusCode() < 400 {
		s.countCall(cl.key.ID, routeOf(c))
	}
	return nil
}

func (s *Server) authenticate(c *fiber.Ctx, scope string) (*caller, error) {
	plain := c.Get("api-key")
	if plain == "" {
		return nil, httpError(http.StatusUnauthorized, "Missing API key (send it in the api-key header)")
	}
	k, err := s.deps.Keys.Lookup(c.UserContext(), plain)
	if errors.Is(err, storage.ErrKeyCorrupt) {
		// Refused (401), so writeError does not log it: the operator must hear of it here.
		s.log.Error("api key refused", "request_id", requestID(c), "error", err)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case k.RevokedAt != nil:
		return nil, httpError(http.StatusUnauthorized, "API key revoked")
	case !k.Active(now):
		return nil, httpError(http.StatusUnauthorized, "API key expired")
	case scope != "" && !k.HasScope(scope):
		return nil, httpError(http.StatusForbidden, fmt.Sprintf("API key lacks the %q scope", scope))
	}
	return &caller{key: k, owner: "key:" + k.ID}, nil
}

func (s *Server) rateLimit(c *fiber.Ctx, k storage.APIKey, reads ...storage.Read) error {
	d, err := s.deps.Limiter.Allow(c.UserContext(), k.ID, k.RPM, reads...)
	if err != nil {
		return err
	}
	if d.Limit == 0 {
		return nil
	}
	c.Set("x-ratelimit-limit", strconv.Itoa(d.Limit))
	c.Set("x-ratelimit-remaining", strconv.Itoa(d.Remaining))
	c.Set("x-ratelimit-reset", strconv.Itoa(ceilSeconds(d.Reset)))
	if !d.Allowed {
		return &HTTPError{Status: http.StatusTooManyRequests, Detail: "Rate limit exceeded",
			Headers: map[string]string{"Retry-After": strconv.Itoa(max(1, ceilSeconds(d.RetryAfter)))}}
	}
	return nil
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// countCall tallies the call in process; the tally reaches Redis within a second (Usage.Run).
func (s *Server) countCall(keyID, route string) {
	s.deps.Usage.Count(keyID, route, s.now())
}
