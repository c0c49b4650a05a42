package workers

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
)

// retryCase runs retryUpstream with two retries over the given attempt results; each attempt
// leaves a Retry-After of after in the hint, as the transport would, so the waits stay short.
func retryCase(t *testing.T, after time.Duration, results ...error) (err error, attempts int, gaveUp error) {
	t.Helper()
	hint := &retryHint{}
	err = retryUpstream(context.Background(), 2, hint, func(ctx context.Context) error {
		if got, _ := ctx.Value(retryHintKey{}).(*retryHint); got != hint {
			t.Error("the attempt's context does not carry the hint for the transport")
		}
		hint.after.Store(int64(after))
		attempts++
		return results[min(attempts, len(results))-1]
	}, func(last error) error {
		gaveUp = last
		return errors.New("gave up")
	})
	return err, attempts, gaveUp
}

func TestRetryUpstream(t *testing.T) {
	busy := &openai.APIError{HTTPStatusCode: http.StatusServiceUnavailable}
	rejected := &openai.APIError{HTTPStatusCode: http.StatusBadRequest}
	ours := jobs.Permanent("input_missing", "gone", 400)
	mapped := errors.New("mapped already")
	for _, tc := range []struct {
		name       string
		after      time.Duration
		results    []error
		want       error
		attempts   int
		gaveUpWith error
		wantGiveUp bool
	}{
		{"a retry fixes it", time.Millisecond, []error{busy, nil}, nil, 2, nil, false},
		{"retries run out", time.Millisecond, []error{busy}, nil, 3, busy, true},
		{"a rejection is not retried", 0, []error{rejected}, nil, 1, rejected, true},
		{"a long Retry-After ends the loop", maxHonoured + time.Second, []error{busy}, nil, 1, busy, true},
		{"a final error is the answer", time.Millisecond, []error{busy, final(mapped)}, mapped, 2, nil, false},
		{"our own error is not the provider's", 0, []error{ours}, ours, 1, nil, false},
	} {
		err, attempts, gaveUp := retryCase(t, tc.after, tc.results...)
		if tc.wantGiveUp {
			if err == nil || err.Error() != "gave up" || gaveUp != tc.gaveUpWith {
				t.Errorf("%s: got %v (gave up with %v), want giveUp(%v)", tc.name, err, gaveUp, tc.gaveUpWith)
			}
		} else if err != tc.want || gaveUp != nil {
			t.Errorf("%s: got %v (gave up with %v), want %v", tc.name, err, gaveUp, tc.want)
		}
		if attempts != tc.attempts {
			t.Errorf("%s: %d attempts, want %d", tc.name, attempts, tc.attempts)
		}
	}
}

// A context that ends stops the loop with its own error, during an attempt or between two.
func TestRetryUpstreamStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	err := retryUpstream(ctx, 5, nil, func(context.Context) error {
		attempts++
		cancel()
		return errors.New("connection reset")
	}, func(error) error { return errors.New("gave up") })
	if !errors.Is(err, context.Canceled) || attempts != 1 {
		t.Errorf("got %v after %d attempts, want context.Canceled after 1", err, attempts)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = retryUpstream(ctx, 5, nil, func(context.Context) error {
		return &openai.APIError{HTTPStatusCode: http.StatusTooManyRequests} // backoff ≥ 1 s
	}, func(error) error { return errors.New("gave up") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a context ending in the backoff gave %v, want its deadline", err)
	}
}
