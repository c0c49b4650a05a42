package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage/objstore"
)

// chatRequest is the body of POST /chat. Pointers tell "absent" from "zero".
type chatRequest struct {
	Message     *string         `json:"message"`
	SessionID   *string         `json:"session_id"`
	ImageData   *inlineImage    `json:"image_data"`
	Stream      bool            `json:"stream"`
	System      *string         `json:"system"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	MaxTokens   *int            `json:"max_tokens"`
	OutputMode  *string         `json:"output_mode"`
	RequestID   *string         `json:"request_id"`
	Meta        ignoredObject   `json:"meta"`
	Context     ignoredJSONData `json:"context"` // untrusted: never used for entitlement or billing
}

const (
	chatMaxImage   = 20 << 20
	chatBodyLimit  = chatMaxImage*4/3 + 1<<20 // a 20 MB image in base64, plus the rest
	chatWait       = 5 * time.Minute
	defaultMaxToks = 2048
)

func (r *chatRequest) validate(v *fieldErrors) {
	v.required("message", r.Message != nil)
	v.strLen("message", r.Message, 1, 32000)
	v.strLen("session_id", r.SessionID, 1, 128)
	v.strLen("system", r.System, 0, 32000)
	v.floatRange("temperature", r.Temperature, 0, 2)
	v.floatRange("top_p", r.TopP, 0, 1)
	if r.MaxTokens != nil {
		v.intRange("max_tokens", *r.MaxTokens, 1, 262144)
	}
	v.oneOf("output_mode", r.OutputMode, "text", "structured")
	v.strLen("request_id", r.RequestID, 1, 128)
}

func (s *Server) chat(c *fiber.Ctx) error {
	var req chatRequest
	if err := decodeJSON(c, chatBodyLimit, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(c, req.RequestID)
	if err != nil {
		return err
	}
	cl := callerOf(c)
	payload := jobs.ChatPayload{
		Message: *req.Message, SessionID: deref(req.SessionID), System: deref(req.System),
		Temperature: req.Temperature, TopP: req.TopP, MaxTokens: defaultMaxToks, Stream: req.Stream,
		Structured: deref(req.OutputMode) == "structured" || c.Query("output") == "structured",
		RequestID:  key,
	}
	if req.MaxTokens != nil {
		payload.MaxTokens = *req.MaxTokens
	}
	spec := jobs.ChatJob(payload)
	spec.ID, spec.RequestID, spec.Owner = jobs.NewID(), requestID(c), cl.owner
	if payload.RequestID != "" {
		if answered, err := s.replayIfSeen(c, cl.owner, payload.RequestID, spec.ID, req.Stream); answered || err != nil {
			return err
		}
	}
	if req.ImageData != nil {
		// The job's slot before the upload: a call over the caller's cap leaves no image behind.
		// (runSpec and startStream claim the same slot again, which keeps it.)
		settle, err := s.admitJob(c, &spec)
		if err != nil {
			s.releaseRequest(c.UserContext(), cl.owner, payload.RequestID, spec.ID)
			return err
		}
		key, mime, err := s.storeChatImage(c, spec.ID, req.ImageData)
		if err != nil {
			settle(false, err)
			s.releaseRequest(c.UserContext(), cl.owner, payload.RequestID, spec.ID)
			return err
		}
		payload.ImageKey, payload.ImageMIME = key, mime
	}
	spec.Payload = payload // with its image
	if spec.Streamed {
		return s.startStream(c, spec)
	}
	return s.runSpec(c, spec, chatWait)
}

// replayIfSeen answers a request whose request_id this caller already used with the first job's
// result (or stream) instead of a second model call; answered reports that it did. A first
// attempt that failed or was canceled frees the id for this one.
func (s *Server) replayIfSeen(c *fiber.Ctx, owner, requestID, jobID string, stream bool) (answered bool, err error) {
	ctx := c.UserContext()
	prior, claimed, err := s.deps.Idempotency.Claim(ctx, owner, requestID, jobID)
	if err != nil || claimed {
		return false, err
	}
	st, err := s.deps.Jobs.Status(ctx, prior)
	if errors.Is(err, jobs.ErrNotFound) || err == nil && (st.Status == jobs.StateFailed || st.Status == jobs.StateCanceled) {
		if err := s.deps.Idempotency.Release(ctx, owner, requestID, prior); err != nil {
			return false, err
		}
		if prior, claimed, err = s.deps.Idempotency.Claim(ctx, owner, requestID, jobID); err != nil || claimed {
			return false, err
		}
	}
	c.Set("X-Idempotent-Replay", "true")
	if stream {
		return true, s.attachStream(c, prior, "")
	}
	info, err := jobs.InfoOf(jobs.TypeChat, prior)
	if err != nil {
		return true, err
	}
	_, out, err := s.waitJob(c, prior, func(ctx context.Context) (jobs.Info, jobs.Outcome, error) {
		out, err := s.deps.Jobs.Wait(ctx, info, min(chatWait, s.cfg.SyncWait))
		return info, out, err
	})
	return true, s.answer(c, info, out, err)
}

// releaseRequest frees a request id whose job was never queued, so that the caller's retry runs.
// It runs also when the request's context has ended (a departed client). A failure is logged:
// until the claim lapses, retries with that id find a job that does not exist.
func (s *Server) releaseRequest(ctx context.Context, owner, requestID, jobID string) {
	if requestID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.deps.Idempotency.Release(ctx, owner, requestID, jobID); err != nil {
		s.log.Warn("release a request id", "owner", owner, "request_id", requestID, "job_id", jobID, "error", err)
	}
}

// storeChatImage checks image_data and puts it in the object store: job payloads carry keys,
// never image bytes.
func (s *Server) storeChatImage(c *fiber.Ctx, jobID string, img *inlineImage) (key, mime string, err error) {
	info, err := checkChatImage("image_data", img, chatMaxImage)
	if err != nil {
		return "", "", err
	}
	key = objstore.ChatInputKey(s.now(), jobID, info.Ext)
	if _, err := s.deps.Objects.Put(c.UserContext(), key, bytes.NewReader(img.data), int64(len(img.data)), info.MIME, ""); err != nil {
		return "", "", err
	}
	img.data = nil // stored: the bytes need not outlive the wait for the job
	return key, info.MIME, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// chatResume re-attaches to a job's stream: GET /chat/stream/{job_id}, replaying what the client
// missed after Last-Event-ID (header or query) and continuing live. Only the job's owner may.
func (s *Server) chatResume(c *fiber.Ctx) error {
	id := c.Params("job_id")
	st, err := s.deps.Jobs.Status(c.UserContext(), id)
	if err != nil {
		return err
	}
	if st.Owner != callerOf(c).owner || st.Type != jobs.TypeChat {
		return jobs.ErrNotFound
	}
	ok, err := s.deps.Frames.Exists(c.UserContext(), id)
	if err != nil {
		return err
	}
	if !ok && (st.Status == jobs.StateSucceeded || st.Status == jobs.StateFailed || st.Status == jobs.StateCanceled) {
		return httpError(http.StatusNotFound, "This job has no stream to resume (not streamed, or expired)")
	}
	last := c.Get("Last-Event-ID")
	if last == "" {
		last = c.Query("last_event_id")
	}
	return s.attachStream(c, id, last)
}
