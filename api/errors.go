package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
)

// HTTPError is an error with the status and FastAPI-shaped detail the client should see.
type HTTPError struct {
	Status  int
	Detail  any // a string, an object, or a []FieldError for 422
	Headers map[string]string
	// Extra are more top-level fields of the body, next to detail.
	Extra map[string]any
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%d: %v", e.Status, e.Detail) }

func httpError(status int, detail any) *HTTPError { return &HTTPError{Status: status, Detail: detail} }

// FieldError is one entry of a 422 detail list, as FastAPI writes it.
type FieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// jobFailure is how a failed job reads in a response body's detail.
type jobFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	JobID   string `json:"job_id,omitempty"`
}

// toHTTP is the one place where errors become statuses. Anything unrecognised is a 500 whose
// details stay in the log.
func toHTTP(err error) (*HTTPError, bool) {
	var he *HTTPError
	var fe *fiber.Error
	var je *jobs.Error
	switch {
	case errors.As(err, &he):
		return he, true
	case errors.As(err, &fe):
		return httpError(fe.Code, statusDetail(fe.Code, fe.Message)), true
	case errors.As(err, &je):
		out := httpError(je.Status, jobFailure{Code: je.Code, Message: je.Message})
		if je.Status < 400 || je.Status > 599 {
			out.Status = http.StatusInternalServerError
		}
		if je.RetryAfter > 0 {
			out.Headers = map[string]string{"Retry-After": strconv.Itoa(je.RetryAfter)}
		}
		return out, true
	case errors.Is(err, jobs.ErrNotFound):
		return httpError(http.StatusNotFound, "Job not found"), true
	case errors.Is(err, storage.ErrKeyNotFound):
		return httpError(http.StatusUnauthorized, "Invalid API key"), true
	case errors.Is(err, storage.ErrKeyCorrupt):
		return httpError(http.StatusUnauthorized, "API key unusable: its stored record is damaged (ask for a new key)"), true
	case errors.Is(err, context.DeadlineExceeded):
		return &HTTPError{Status: http.StatusServiceUnavailable, Detail: "Timed out, try again",
			Headers: map[string]string{"Retry-After": "1"}}, true
	case outage(err):
		return &HTTPError{Status: http.StatusServiceUnavailable, Detail: outageDetail,
			Headers: map[string]string{"Retry-After": strconv.Itoa(outageRetryAfter)}}, true
	}
	return httpError(http.StatusInternalServerError, "Internal Server Error"), false
}

// What a caller sees while Redis or the object store is unreachable: nothing about the request
// was wrong, and a restart of either takes seconds.
const (
	outageDetail     = "Service temporarily unavailable, try again shortly"
	outageRetryAfter = 2
)

// outage tells whether err is Redis or the object store being unreachable (or not serving yet),
// on whatever route it surfaced: the one classification, so no route answers an outage with 500.
func outage(err error) bool {
	return storage.Unavailable(err) || errors.Is(err, objstore.ErrUnavailable)
}

// statusDetail keeps fiber's own messages for client errors and hides them for server errors.
func statusDetail(code int, msg string) string {
	switch code {
	case http.StatusNotFound:
		return "Not Found"
	case http.StatusMethodNotAllowed:
		return "Method Not Allowed"
	case http.StatusRequestEntityTooLarge:
		return "Request body too large"
	}
	if code >= 500 {
		return http.StatusText(code)
	}
	return msg
}

// writeError renders err in the FastAPI shape and logs what the client does not see.
func (s *Server) writeError(c *fiber.Ctx, err error) error {
	he, known := toHTTP(err)
	if !known || he.Status >= 500 {
		s.log.Error("request failed", "request_id", requestID(c), "route", routeOf(c), "error", err)
	}
	for k, v := range he.Headers {
		c.Set(k, v)
	}
	body := fiber.Map{"detail": he.Detail}
	for k, v := range he.Extra {
		body[k] = v
	}
	return c.Status(he.Status).JSON(body)
}
