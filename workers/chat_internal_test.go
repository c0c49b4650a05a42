package workers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

func TestFitHistoryKeepsTheNewestThatFit(t *testing.T) {
	msg := func(role string, words int) storage.Message {
		return storage.Message{Role: role, Content: strings.Repeat("word ", words)}
	}
	// Each 20-word message costs 25 + 4 = 29 estimated tokens.
	history := []storage.Message{msg("user", 20), msg("assistant", 20), msg("user", 20), msg("assistant", 20)}
	for _, tc := range []struct {
		budget int
		want   []string
	}{
		{1000, []string{"user", "assistant", "user", "assistant"}},
		{4 * 29, []string{"user", "assistant", "user", "assistant"}},
		{4*29 - 1, []string{"user", "assistant"}}, // three fit, but the answer without its question is dropped
		{2 * 29, []string{"user", "assistant"}},
		{29, nil}, // only a lone answer fits: nothing
		{0, nil},
	} {
		t.Run(fmt.Sprint(tc.budget), func(t *testing.T) {
			var got []string
			for _, m := range fitHistory(history, tc.budget) {
				got = append(got, m.Role)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("budget %d kept %v, want %v", tc.budget, got, tc.want)
			}
		})
	}
}

func TestParseObject(t *testing.T) {
	for _, tc := range []struct {
		reply, want string
		ok          bool
	}{
		{`{"a":1}`, `{"a":1}`, true},
		{"  {\"a\": [1, 2]}\n", `{"a":[1,2]}`, true},
		{"```json\n{\"a\":true}\n```", `{"a":true}`, true},
		{`[1,2]`, "null", false},
		{`not json`, "null", false},
		{`{"a":1} trailing`, "null", false},
		{``, "null", false},
	} {
		got, why := parseObject(tc.reply)
		if string(got) != tc.want || (why == nil) != tc.ok {
			t.Errorf("parseObject(%q) = %s, %v", tc.reply, got, why)
		}
		if !tc.ok && !strings.Contains(*why, "not a valid JSON object") {
			t.Errorf("reason %q", *why)
		}
	}
}

func TestUpstreamErrorMapping(t *testing.T) {
	api := func(status int, msg string) error {
		return fmt.Errorf("wrapped: %w", &openai.APIError{HTTPStatusCode: status, Message: msg})
	}
	for _, tc := range []struct {
		err       error
		status    int
		code      string
		retryable bool
	}{
		{api(429, "slow down"), 503, jobs.CodeUnavailable, true},
		{api(500, "boom internal detail"), 503, jobs.CodeUnavailable, true},
		{api(503, ""), 503, jobs.CodeUnavailable, true},
		{&openai.RequestError{HTTPStatusCode: 502, Err: errors.New("bad gateway")}, 503, jobs.CodeUnavailable, true},
		{api(400, "Invalid image"), 400, "upstream_rejected", false},
		{api(401, "Incorrect API key sk-123"), 502, "upstream_misconfigured", false},
		{errStalled{first: true}, 503, jobs.CodeUnavailable, true},
		{errors.New("connection reset by peer"), 503, jobs.CodeUnavailable, true},
		{context.Canceled, 503, jobs.CodeUnavailable, false},
	} {
		je := upstreamError(tc.err).(*jobs.Error)
		if je.Status != tc.status || je.Code != tc.code || retryable(tc.err) != tc.retryable {
			t.Errorf("%v → %+v, retryable %v", tc.err, je, retryable(tc.err))
		}
		if strings.Contains(je.Message, "sk-123") || strings.Contains(je.Message, "internal detail") {
			t.Errorf("%v leaks into %q", tc.err, je.Message)
		}
		if tc.status == 503 && je.RetryAfter == 0 {
			t.Errorf("%v: 503 without Retry-After", tc.err)
		}
	}
	if je := upstreamError(api(400, "Invalid image")).(*jobs.Error); !strings.Contains(je.Message, "Invalid image") {
		t.Errorf("a rejection does not say why: %q", je.Message)
	}
}

func TestBackoff(t *testing.T) {
	limited := &openai.APIError{HTTPStatusCode: http.StatusTooManyRequests}
	if d := backoff(1, limited); d < 1e9 {
		t.Errorf("rate-limited retry waits %s, want at least 1s", d)
	}
	for a := 1; a < 10; a++ {
		if d := backoff(a, nil); d <= 0 || d > 4e9 {
			t.Errorf("attempt %d waits %s", a, d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "0": 0, "-1": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// Now that every job type has asynq retries (for crashed workers), a job that used its whole
// timeout, or was canceled, must still not be run again.
func TestTimeoutsAndCancelsAreNotRetried(t *testing.T) {
	timedOut, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for name, ctx := range map[string]context.Context{"timeout": timedOut, "cancel": canceled} {
		if je := failure(ctx, ctx.Err()); !je.Permanent {
			t.Errorf("%s: %+v is retried", name, je)
		}
	}
}

// A job that fails because Redis (or the object store) was away tells its caller to try again
// (503 service_unavailable with Retry-After), not that it failed inside; an error a handler
// decided itself keeps its code.
func TestOutageFailuresAreRetryable(t *testing.T) {
	ctx := context.Background()
	je := failure(ctx, fmt.Errorf("append frames: %w", redis.ErrClosed))
	if je.Code != jobs.CodeServiceUnavailable || je.Status != 503 || je.RetryAfter == 0 {
		t.Errorf("an outage failure: %+v", je)
	}
	decided := jobs.Permanent("upstream_rejected", "no", 400)
	if je := failure(ctx, fmt.Errorf("%w (after %w)", decided, redis.ErrClosed)); je != decided {
		t.Errorf("a decided error became %+v", je)
	}
	if je := failure(ctx, errors.New("bad")); je.Code != jobs.CodeInternal {
		t.Errorf("an internal failure: %+v", je)
	}
}

// A usage record that fails does not fail the turn, but it is logged with the job and the key:
// the key's usage report is short by those tokens.
func TestCountTokensLogsAFailedRecord(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	var logs bytes.Buffer
	c := &Chat{Usage: storage.NewUsage(rdb, storage.NewKeys("t:")), Log: slog.New(slog.NewTextHandler(&logs, nil))}
	c.countTokens("JOB1", "key:k_1", jobs.ChatUsage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7})
	for _, want := range []string{"record token usage", "job_id=JOB1", "key_id=k_1", "tokens=7", "error="} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log %q lacks %q", logs.String(), want)
		}
	}
	// Nothing to record, nothing to log: no tokens, or a caller that is not a key.
	logs.Reset()
	c.countTokens("JOB2", "key:k_1", jobs.ChatUsage{})
	c.countTokens("JOB3", "wallet:p:addr", jobs.ChatUsage{TotalTokens: 7})
	if logs.Len() != 0 {
		t.Fatalf("logged %q", logs.String())
	}
}
