package tokenanalysis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/hibiken/asynq"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// Job answers token-analysis jobs: facts from the chain (parts cached), the V1
// narrative from the LLM (with a deterministic fallback), and the whole answer cached for the api.
type Job struct {
	Analyzer *Analyzer
	Cache    *storage.TokenCache
	LLM      *openai.Client
	Model    string
	// Narrative bounds the LLM call of a V1 answer (default 20 s); past it the fallback is used.
	Narrative time.Duration
	Log       *slog.Logger
	Now       func() time.Time
}

// Handle runs one analysis.
func (h *Job) Handle(ctx context.Context, t *asynq.Task) (any, error) {
	in, err := jobs.Decode[jobs.TokenAnalysisPayload](t)
	if err != nil {
		return nil, err
	}
	unit, err := h.Analyzer.Resolve(ctx, in.PolicyID, in.AssetNameHex, in.Token)
	if err != nil {
		return nil, tokenError(err)
	}
	facts, err := h.Analyzer.Facts(ctx, unit, in.Refresh)
	if err != nil {
		return nil, tokenError(err)
	}
	var body []byte
	if in.APIVersion == "2" {
		body, err = json.Marshal(v2Answer{TokenName: in.Token, Network: in.Network, APIVersion: "2", Facts: facts})
	} else {
		body, err = json.Marshal(h.v1(ctx, in, facts))
	}
	if err != nil {
		return nil, err
	}
	at := h.now()
	if err := h.Cache.Store(ctx, in.Network, in.APIVersion, in.Naming(), unit, body, at, ResultTTL); err != nil {
		h.log().Warn("token analysis not cached", "error", err) // the caller still gets the answer
	}
	reqID := t.Headers()[jobs.HeaderRequestID]
	return json.RawMessage(jobs.WithMeta(body, jobs.TokenMeta{RequestID: reqID, ComputedAt: at})), nil
}

func (h *Job) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Job) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// tokenError maps analysis failures to what the caller sees: an unknown token is a 404, a
// malformed one a 400, a chain outage a 503 with a Retry-After hint (never upstream text).
func tokenError(err error) error {
	var up *UpstreamError
	switch {
	case errors.Is(err, ErrAssetNotFound):
		return jobs.Permanent("token_not_found", notFoundMessage(err), 404)
	case errors.Is(err, ErrInvalidUnit):
		return jobs.Permanent(jobs.CodeBadRequest, "the policy id or asset name is malformed", 400)
	case errors.As(err, &up):
		secs := int(math.Ceil(up.RetryAfter.Seconds()))
		return &jobs.Error{Code: jobs.CodeUnavailable, Message: "Cardano chain data is unavailable right now, try again shortly",
			Status: 503, RetryAfter: max(secs, 1), Permanent: true}
	case errors.Is(err, context.DeadlineExceeded):
		return &jobs.Error{Code: jobs.CodeTimeout, Message: "the chain data took too long, try again", Status: 503,
			RetryAfter: 5, Permanent: true}
	}
	return err
}

// notFoundMessage keeps the analyzer's account of what was tried.
func notFoundMessage(err error) string {
	var nf *NotFoundError
	if errors.As(err, &nf) && nf.What != "" {
		return "Token not found: " + clip(nf.What, 400)
	}
	return "Token not found"
}

// v2Answer is the version 2 answer: the facts, named.
type v2Answer struct {
	TokenName  string `json:"token_name"`
	Network    string `json:"network"`
	APIVersion string `json:"api_version"`
	Facts
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
