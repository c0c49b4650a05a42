package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outcome is what a finished job leaves behind: the worker stores it as the task's result and
// publishes it as the completion notice. Result is the body the api returns to the caller.
type Outcome struct {
	JobID  string          `json:"job_id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
	// Truncated marks a notice that left Result out because it was too large for pub/sub: the
	// receiver reads the stored result instead.
	Truncated bool `json:"truncated,omitempty"`
	// FinishedAt is when the worker finished (asynq keeps its own times in whole seconds).
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Error is a job's failure as the caller should see it. Status is the HTTP status the api answers
// with; Message is safe to show to clients (workers never put upstream internals in it).
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Status     int    `json:"status"`
	RetryAfter int    `json:"retry_after,omitempty"` // seconds
	// Permanent failures are not retried by the worker.
	Permanent bool `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Common error codes.
const (
	CodeInternal    = "internal_error"
	CodeCanceled    = "canceled"
	CodeTimeout     = "timeout"
	CodeUnavailable = "upstream_unavailable"
	CodeBadRequest  = "bad_request"
	// CodeServiceUnavailable ends a stream whose relay lost Redis: the job may still finish, and
	// the client resumes with Last-Event-ID once the service answers again.
	CodeServiceUnavailable = "service_unavailable"
)

// Permanent wraps a failure that retrying cannot fix.
func Permanent(code, message string, status int) *Error {
	return &Error{Code: code, Message: message, Status: status, Permanent: true}
}

// AsError extracts a job Error from err, or describes err as an internal failure without leaking it.
func AsError(err error) *Error {
	var je *Error
	if errors.As(err, &je) {
		return je
	}
	return &Error{Code: CodeInternal, Message: "the job failed", Status: 500}
}

// Decode unmarshals the outcome's result into v.
func (o Outcome) Decode(v any) error {
	if !o.OK {
		if o.Error != nil {
			return o.Error
		}
		return &Error{Code: CodeInternal, Message: "the job failed", Status: 500}
	}
	return json.Unmarshal(o.Result, v)
}
