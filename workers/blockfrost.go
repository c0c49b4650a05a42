package workers

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/blockfrost/blockfrost-go"
	"golang.org/x/time/rate"

	"github.com/tbackend/tbackend/internal/ctxsleep"
)

// BlockfrostConfig sets up the chain data client.
type BlockfrostConfig struct {
	URL, ProjectID string
	// RPS is the shared request rate of this process, under Blockfrost's 10 req/s; Burst its bucket
	// (default 500, Blockfrost's own burst allowance: quiet periods refill it, a busy minute drains
	// it to the steady rate).
	RPS   float64
	Burst int
	// Retries of 429/5xx answers (and transport errors of idempotent calls); a Retry-After longer
	// than MaxWait is not waited for: the caller reports 503 with it instead.
	Retries int
	MaxWait time.Duration
	// Timeout bounds one HTTP exchange.
	Timeout time.Duration
}

// NewBlockfrost builds a blockfrost-go client on a plain http.Client: the library's default
// retrying client hides status codes and retries for 15 s. Rate limiting, bounded retries that
// honour Retry-After, metrics and closing error bodies (the library leaves them open) happen in
// the transport, under every call.
func NewBlockfrost(cfg BlockfrostConfig, m *Metrics) blockfrost.APIClient {
	if cfg.RPS <= 0 {
		cfg.RPS = 9
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 500
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
	tr := &chainTransport{
		next: m.Transport("blockfrost", base), limit: rate.NewLimiter(rate.Limit(cfg.RPS), cfg.Burst),
		retries: cfg.Retries, maxWait: cfg.MaxWait,
	}
	return blockfrost.NewAPIClient(blockfrost.APIClientOptions{
		ProjectID: cfg.ProjectID, Server: cfg.URL,
		Client: &http.Client{Transport: tr, Timeout: cfg.Timeout * time.Duration(cfg.Retries+2)},
	})
}

// chainTransport rate-limits, retries and tidies Blockfrost calls.
type chainTransport struct {
	next    http.RoundTripper
	limit   *rate.Limiter
	retries int
	maxWait time.Duration
}

func (t *chainTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		if err := t.limit.Wait(r.Context()); err != nil {
			return nil, err
		}
		req, err := rewind(r)
		if err != nil {
			return nil, err
		}
		res, err := t.next.RoundTrip(req)
		last := attempt >= t.retries
		if err != nil {
			if last || !replayable(r) || !ctxsleep.For(r.Context(), chainBackoff(attempt)) {
				return nil, err
			}
			continue
		}
		if res.StatusCode != http.StatusTooManyRequests && res.StatusCode < 500 {
			if res.StatusCode >= 400 {
				return buffered(res), nil
			}
			return res, nil
		}
		wait, ok := retryAfter(res.Header)
		if !ok {
			wait = chainBackoff(attempt)
		}
		if last || wait > t.maxWait || !replayable(r) {
			return buffered(res), nil
		}
		drain(res)
		if !ctxsleep.For(r.Context(), wait) {
			return nil, r.Context().Err()
		}
	}
}

// rewind gives each attempt a fresh copy of the request and its body.
func rewind(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.GetBody == nil {
		return r, nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil, err
	}
	c := r.Clone(r.Context())
	c.Body = body
	return c, nil
}

func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// buffered reads an error answer into memory and closes the connection's body, so the library's
// unclosed error bodies cannot leak connections.
func buffered(res *http.Response) *http.Response {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	_ = res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(data))
	return res
}

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
}

func chainBackoff(attempt int) time.Duration {
	return min(time.Duration(200<<min(attempt, 5))*time.Millisecond, 3*time.Second)
}

// retryAfter reads a Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
