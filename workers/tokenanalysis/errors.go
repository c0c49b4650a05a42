package tokenanalysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tbackend/tbackend/workers/blockfrosterr"
)

// ErrAssetNotFound is wrapped by every error that means the requested token does not exist
// (or could not be identified from the given policy id, asset name and token text).
var ErrAssetNotFound = errors.New("tokenanalysis: asset not found")

// NotFoundError is an unknown token. What says what was tried (units and names only: safe to
// show callers). It matches ErrAssetNotFound with errors.Is.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string        { return ErrAssetNotFound.Error() + ": " + e.What }
func (e *NotFoundError) Is(target error) bool { return target == ErrAssetNotFound }

func notFound(format string, args ...any) error {
	return &NotFoundError{What: fmt.Sprintf(format, args...)}
}

// ErrInvalidUnit is wrapped when a unit or policy id is not well-formed hex of the right length.
var ErrInvalidUnit = errors.New("tokenanalysis: invalid asset unit")

// UpstreamError reports that a required chain data call failed for a reason that may pass:
// rate limiting (429), the daily quota (402), an auto-ban (418), a server error (5xx) or a
// transport failure (Status 0). RetryAfter is a hint for the caller's Retry-After.
type UpstreamError struct {
	Source     string        // the endpoint, e.g. "/assets/{asset}"
	Status     int           // HTTP status; 0 for transport errors
	RetryAfter time.Duration // how long to wait before trying again
	Err        error
}

func (e *UpstreamError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("tokenanalysis: %s unavailable (retry after %s): %v", e.Source, e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("tokenanalysis: %s answered %d (retry after %s): %v", e.Source, e.Status, e.RetryAfter, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// retryHint is the wait suggested for a retryable status.
func retryHint(st int, now time.Time) time.Duration {
	switch {
	case st == 429:
		return time.Second
	case st == 402:
		// The daily quota resets at 00:00 UTC.
		n := now.UTC()
		midnight := time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, time.UTC)
		return midnight.Sub(n).Round(time.Second)
	case st == 418:
		return 10 * time.Minute
	default:
		return 5 * time.Second
	}
}

// classify turns an error of a required call into ErrAssetNotFound (404), an *UpstreamError
// (429/402/418/5xx/transport), or returns it wrapped as is (context errors, 400/403).
func classify(ctx context.Context, source, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("tokenanalysis: %s: %w", source, ctx.Err())
	}
	st := blockfrosterr.Status(err)
	switch {
	case st == 404:
		return notFound("%s", what)
	case st == 429 || st == 402 || st == 418 || st >= 500:
		return &UpstreamError{Source: source, Status: st, RetryAfter: retryHint(st, time.Now()), Err: err}
	case st == 0:
		return &UpstreamError{Source: source, RetryAfter: retryHint(0, time.Now()), Err: err}
	}
	return fmt.Errorf("tokenanalysis: %s: %w", source, err)
}

func isNotFound(err error) bool { return errors.Is(err, ErrAssetNotFound) }
