package jobs

import (
	"encoding/json"
	"time"

	"github.com/tbackend/tbackend/stream"
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

// ChatUsage counts tokens as the upstream reported them (or as estimated when it could not). It
// is the usage a stream's done frame carries, so it is one type with stream.Usage.
type ChatUsage = stream.Usage

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

// StreamTTL is how long a job's frames stay replayable after the last one.
const StreamTTL = 10 * time.Minute
