package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
)

// A stopping api (SIGTERM) cannot wait minutes for jobs: its graceful stop has a deadline, and
// fasthttp waits for every connection that is not idle. So when the stop begins (Server.Serve),
// every stream ends with an error frame to resume after (relay.stopped), and a quarter of the
// deadline later every synchronous call still waiting for its job answers 202 with the job's id
// (the job runs on in the workers; the caller polls GET /jobs/{id} at any api): answers that were
// seconds away still come.

// beginStop starts the stop of streams, waits and connections that never sent a request; done
// ends all waits at once.
func (s *Server) beginStop(fl *freshListener) (done func()) {
	fl.endFresh()
	s.halt()
	t := time.AfterFunc(s.cfg.ShutdownTimeout/4, s.haltWaits)
	return func() { t.Stop(); s.haltWaits() }
}

// errStopping answers a call whose job was never queued because the api began to stop.
var errStopping = &HTTPError{Status: http.StatusServiceUnavailable, Detail: "The api is restarting, try again",
	Headers: map[string]string{"Retry-After": "1"}}

// stopping ends when the api begins to stop.
func (s *Server) stopping() <-chan struct{} { return s.stop.Done() }

// waitJob runs wait (an enqueue and a wait for the job id, or a wait alone) in a context that also
// ends when a stopping api ends waits. A wait cut short that way reports jobs.ErrStillRunning with the
// job's Info when the job was queued, so the caller gets its id; errStopping when it was not.
func (s *Server) waitJob(c *fiber.Ctx, id string, wait func(ctx context.Context) (jobs.Info, jobs.Outcome, error)) (jobs.Info, jobs.Outcome, error) {
	ctx, cancel := context.WithCancel(c.UserContext())
	defer cancel()
	defer context.AfterFunc(s.waits, cancel)()
	info, out, err := wait(ctx)
	if err == nil || s.waits.Err() == nil || !errors.Is(err, context.Canceled) {
		return info, out, err
	}
	if info.ID != "" {
		return info, jobs.Outcome{}, jobs.ErrStillRunning
	}
	// The enqueue itself was cut short: whether the job got in is Redis's to say.
	qctx, qcancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), 2*time.Second)
	defer qcancel()
	if _, err := s.deps.Jobs.Status(qctx, id); err != nil {
		return info, jobs.Outcome{}, errStopping
	}
	info.ID = id
	return info, jobs.Outcome{}, jobs.ErrStillRunning
}
