package jobs

import (
	"encoding/json"
	"time"
)

// TypeChat runs one chat turn against the configured LLM.
const TypeChat = "chat:complete"

// ChatPayload is one chat turn. Images never travel through Redis: the api stores the caller's
// image in the object store and the payload names its key.
type ChatPayload struct {
	Message     string   `json:"message"`
	SessionID   string   `json:"session_id,omitempty"`
	System      string   `json:"system,omitempty"`
	ImageKey    string   `json:"image_key,omitempty"`
	ImageMIME   string   `json:"image_mime,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   int      `json:"max_tokens"`
	Structured  bool     `json:"structured,omitempty"`
	Stream      bool     `json:"stream,omitempty"`
	RequestID   string   `json:"request_id,omitempty"` // the caller's idempotency key, echoed in the result
}

// ChatUsage counts tokens as the upstream reported them (or as estimated when it could not).
type ChatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatResult is the body of a successful POST /chat.
type ChatResult struct {
	Reply          string          `json:"reply"`
	ReplyJSON      json.RawMessage `json:"reply_json"`
	ReplyJSONError *string         `json:"reply_json_error,omitempty"`
	SessionID      *string         `json:"session_id"`
	Provider       string          `json:"provider"`
	Model          string          `json:"model"`
	Usage          ChatUsage       `json:"usage"`
	RequestID      *string         `json:"request_id"`
}

// Chat stream frame types (docs/design.md): every SSE event's data is one Frame.
const (
	FrameContent   = "content"
	FrameReasoning = "reasoning"
	FrameDone      = "done"
	FrameError     = "error"
)

// Frame is one event of a chat stream. JobID is on every frame, so the first one a client sees
// names the job to resume with GET /chat/stream/{job_id}.
type Frame struct {
	Type  string `json:"type"`
	JobID string `json:"job_id"`
	// Seq numbers a job's frames 1, 2, 3…: a relay that sees a gap re-reads the stored frames.
	Seq       int             `json:"seq"`
	Text      string          `json:"text,omitempty"`
	Reply     *string         `json:"reply,omitempty"`
	ReplyJSON json.RawMessage `json:"reply_json,omitempty"`
	Usage     *ChatUsage      `json:"usage,omitempty"`
	SessionID *string         `json:"session_id,omitempty"`
	Code      string          `json:"code,omitempty"`
	Message   string          `json:"message,omitempty"`
}

// Final tells whether a frame ends its stream.
func (f Frame) Final() bool { return f.Type == FrameDone || f.Type == FrameError }

// StreamTTL is how long a job's frames stay replayable after the last one.
const StreamTTL = 10 * time.Minute
