package storage

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unavailable tells whether err means that a backing service (Redis, the object store) could not
// be reached or did not answer in time, as opposed to refusing what was asked. Callers report
// such errors as "try again shortly" (503 with Retry-After): nothing about the request was wrong,
// and retrying after the outage succeeds. asynq and the object store wrap these errors with %w,
// so one classification covers every path.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), // refused, reset, DNS, dial or read timeouts, url.Error around them
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), // the server closed a connection mid-reply
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, ErrHubClosed):
		return true
	}
	// Redis answers, but cannot serve yet: loading its AOF after a restart, a failover or a
	// cluster reconfiguring.
	return redis.IsLoadingError(err) || redis.IsMasterDownError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsReadOnlyError(err) || redis.IsMaxClientsError(err)
}
