package workers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
)

// NewOpenAI builds the LLM client for any OpenAI-compatible endpoint. The transport bounds
// connecting and waiting for response headers, not whole responses: streams last as long as the
// chat handler's own timeouts allow.
func NewOpenAI(baseURL, key string, m *Metrics) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = baseURL
	cfg.HTTPClient = openAIHTTP(m)
	return openai.NewClientWithConfig(cfg)
}

// openAIHTTP is the measured HTTP client of calls to an OpenAI-compatible API.
func openAIHTTP(m *Metrics) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 90 * time.Second,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: hintTransport{m.Transport("openai", tr)}}
}

// retryHint carries the provider's Retry-After from the transport back to the retry loop that
// made the call: go-openai's errors keep the status but not the response headers.
type retryHint struct{ after atomic.Int64 } // nanoseconds; 0: none given

type retryHintKey struct{}

func withRetryHint(ctx context.Context, h *retryHint) context.Context {
	return context.WithValue(ctx, retryHintKey{}, h)
}

// Wait returns the last Retry-After the provider sent (0: none, or no hint).
func (h *retryHint) Wait() time.Duration {
	if h == nil {
		return 0
	}
	return time.Duration(h.after.Load())
}

// hintTransport records the Retry-After of 429 and 503 answers in the request's retryHint.
type hintTransport struct{ next http.RoundTripper }

func (t hintTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(r)
	h, ok := r.Context().Value(retryHintKey{}).(*retryHint)
	if err != nil || !ok {
		return res, err
	}
	var after time.Duration // each answer replaces the last one's hint
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		after = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	h.after.Store(int64(after))
	return res, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxHonoured is the longest Retry-After we wait out inside a job; a longer one ends the job and
// is passed on to the caller, who may be better off retrying later than holding a connection.
const maxHonoured = 20 * time.Second

// errStalled is an upstream stream that produced no token in time.
type errStalled struct{ first bool }

func (e errStalled) Error() string {
	if e.first {
		return "upstream sent no first token in time"
	}
	return "upstream stream stalled"
}

// statusOf reads the HTTP status of a go-openai error (0 when there was none).
func statusOf(err error) int {
	var api *openai.APIError
	var req *openai.RequestError
	switch {
	case errors.As(err, &api):
		return api.HTTPStatusCode
	case errors.As(err, &req):
		return req.HTTPStatusCode
	}
	return 0
}

// retryable: rate limits, server errors, timeouts and broken connections can succeed next time;
// a request the provider rejects cannot.
func retryable(err error) bool {
	var stalled errStalled
	if errors.As(err, &stalled) {
		return true
	}
	switch s := statusOf(err); {
	case s == http.StatusTooManyRequests, s >= 500:
		return true
	case s != 0:
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// backoff grows 0.5 s, 1 s, 2 s… capped at 4 s; a rate limit waits at least 1 s.
func backoff(attempt int, last error) time.Duration {
	d := time.Duration(250<<min(attempt, 4)) * time.Millisecond
	if statusOf(last) == http.StatusTooManyRequests {
		d = max(d, time.Second)
	}
	return min(d, 4*time.Second)
}

// backoffHinted is backoff, or the provider's Retry-After when it gave one; ok is false when that
// is longer than we wait inside a job.
func backoffHinted(attempt int, last error, h *retryHint) (time.Duration, bool) {
	if w := h.Wait(); w > 0 {
		return w, w <= maxHonoured
	}
	return backoff(attempt, last), true
}

// upstreamError turns a provider failure into what the caller sees: a rejected request is the
// caller's to fix (400, with the provider's own explanation); everything else is "try again".
func upstreamError(err error) error {
	var api *openai.APIError
	s := statusOf(err)
	switch {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &jobs.Error{Code: "upstream_misconfigured", Message: "the model provider refused our credentials", Status: 502}
	case s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout:
		msg := "the model provider rejected the request"
		if errors.As(err, &api) && api.Message != "" {
			msg += ": " + truncate(api.Message, 300)
		}
		return jobs.Permanent("upstream_rejected", msg, 400)
	}
	return &jobs.Error{Code: jobs.CodeUnavailable, Message: "the model provider is unavailable, try again shortly",
		Status: 503, RetryAfter: 5, Permanent: true}
}

// upstreamError is the package's upstreamError whose Retry-After is the provider's when it
// gave one.
func (h *retryHint) upstreamError(err error) error { return h.passOn(upstreamError(err)) }

// passOn gives a retryable answer (one with a Retry-After) the provider's Retry-After when it
// gave one, so the caller waits as long as the provider asked.
func (h *retryHint) passOn(out error) error {
	var je *jobs.Error
	if w := h.Wait(); w > 0 && errors.As(out, &je) && je.RetryAfter > 0 {
		je.RetryAfter = max(int((w+time.Second-1)/time.Second), 1)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
