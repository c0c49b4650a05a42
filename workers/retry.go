package workers

import (
	"context"
	"errors"

	"github.com/tbackend/tbackend/internal/ctxsleep"
	"github.com/tbackend/tbackend/jobs"
)

// finalError ends a retry loop with its error as is.
type finalError struct{ err error }

func (f finalError) Error() string { return f.err.Error() }
func (f finalError) Unwrap() error { return f.err }

// final marks an attempt's error as the loop's answer: no retry, no mapping.
func final(err error) error {
	if err == nil {
		return nil
	}
	return finalError{err}
}

// retryUpstream is the retry policy of every provider call. It runs try once and then up to
// retries more times while the failure is retryable, waiting backoff between attempts, or the
// provider's Retry-After when hint (nil: not read) caught one; a Retry-After longer than
// maxHonoured ends the loop. It returns nil when an attempt succeeds; an attempt's final error
// as is; ctx's error when ctx ends; an error we decided already (a *jobs.Error) as is, since it
// is not the provider's; otherwise giveUp of the last provider error.
func retryUpstream(ctx context.Context, retries int, hint *retryHint, try func(context.Context) error, giveUp func(last error) error) error {
	if hint != nil {
		ctx = withRetryHint(ctx, hint)
	}
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			d, ok := backoffHinted(attempt, last, hint)
			if !ok {
				break
			}
			if !ctxsleep.For(ctx, d) {
				return ctx.Err()
			}
		}
		err := try(ctx)
		var f finalError
		var ours *jobs.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &f):
			return f.err
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &ours):
			return err
		}
		last = err
		if !retryable(err) {
			break
		}
	}
	return giveUp(last)
}
