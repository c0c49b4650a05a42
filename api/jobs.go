package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
)

// wantsAsync: `Prefer: respond-async` (RFC 7240) or `?async=true`.
func wantsAsync(c *fiber.Ctx) bool {
	if paid, _ := c.Locals(localPaid).(bool); paid {
		return false // a paid call is settled by its outcome, so it is answered in full
	}
	for _, p := range strings.Split(c.Get("Prefer"), ",") {
		if strings.EqualFold(strings.TrimSpace(p), "respond-async") {
			return true
		}
	}
	return c.QueryBool("async", false)
}

func (s *Server) baseURL(c *fiber.Ctx) string {
	if s.cfg.PublicBaseURL != "" {
		return strings.TrimRight(s.cfg.PublicBaseURL, "/")
	}
	return c.BaseURL()
}

// acceptedBody is the 202 answer for async callers (and for sync callers whose job outlived the wait).
type acceptedBody struct {
	JobID     string `json:"job_id"`
	Status    string `json:"status"`
	StatusURL string `json:"status_url"`
}

func (s *Server) accepted(c *fiber.Ctx, id string) error {
	url := s.baseURL(c) + "/jobs/" + id
	c.Set("X-Job-Id", id)
	c.Set(fiber.HeaderLocation, url)
	return c.Status(http.StatusAccepted).JSON(acceptedBody{JobID: id, Status: jobs.StateQueued, StatusURL: url})
}

// runJob enqueues the caller's job and answers with its result, or with 202 and the job id when
// the caller asked for async or the job outlives the wait.
func (s *Server) runJob(c *fiber.Ctx, spec jobs.Spec, wait time.Duration) error {
	spec.RequestID, spec.Owner = requestID(c), callerOf(c).owner
	return s.runSpec(c, spec, wait)
}

func (s *Server) runSpec(c *fiber.Ctx, spec jobs.Spec, wait time.Duration) error {
	settle, err := s.admitJob(c, &spec)
	if err != nil {
		return err
	}
	if wantsAsync(c) {
		info, err := s.deps.Jobs.Enqueue(c.UserContext(), spec)
		settle(true, err)
		if err != nil {
			return err
		}
		return s.accepted(c, info.ID)
	}
	info, out, err := s.waitJob(c, spec.ID, func(ctx context.Context) (jobs.Info, jobs.Outcome, error) {
		return s.deps.Jobs.Run(ctx, spec, min(wait, s.cfg.SyncWait))
	})
	settle(false, err)
	return s.answer(c, info, out, err)
}

// answer writes a job's outcome as the response of the call that waited for it.
func (s *Server) answer(c *fiber.Ctx, info jobs.Info, out jobs.Outcome, err error) error {
	if errors.Is(err, jobs.ErrStillRunning) {
		return s.accepted(c, info.ID)
	}
	if err != nil {
		return err
	}
	c.Set("X-Job-Id", info.ID)
	if !out.OK {
		if out.Error == nil {
			out.Error = &jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}
		}
		return jobFailed(info.Type, out.Error)
	}
	body, err := s.presentResult(c, info.Type, out.Result)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(literalHTML(body))
}

// jobStatus shows a job to the caller that created it; to anyone else it does not exist.
func (s *Server) jobStatus(c *fiber.Ctx) error {
	id := c.Params("job_id")
	if len(id) > 64 {
		return jobs.ErrNotFound
	}
	st, err := s.deps.Jobs.Status(c.UserContext(), id)
	if err != nil {
		return err
	}
	if st.Owner != callerOf(c).owner {
		return jobs.ErrNotFound
	}
	if st.Status == jobs.StateSucceeded {
		if st.Result, err = s.presentResult(c, st.Type, st.Result); err != nil {
			return err
		}
	}
	return c.JSON(st)
}

// pingRequest is the body of POST /admin/ping.
type pingRequest struct {
	DelayMS int `json:"delay_ms"`
}

func (r *pingRequest) validate(v *fieldErrors) { v.intRange("delay_ms", r.DelayMS, 0, 30000) }

func (s *Server) ping(c *fiber.Ctx) error {
	var req pingRequest
	if err := decodeJSON(c, 4<<10, &req); err != nil {
		return err
	}
	return s.runJob(c, jobs.PingJob(jobs.PingPayload{DelayMS: req.DelayMS}), 40*time.Second)
}
