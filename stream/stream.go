// Package stream is the wire format of a chat stream, the one home of its frame type and of its
// frame ids. The worker writes Frames, storage relays them (a Redis Stream per job for replay, a
// pub/sub channel for live delivery), and the api sends them to clients as Server-Sent Events or
// NDJSON lines; all three use Frame and ParseID from here.
//
// stream is a leaf: it imports the standard library only. That is what lets both jobs (the
// api–worker contract, itself a leaf: asynq, the standard library and this package) and storage
// (which imports no other project package but this one) share it; cmd/tbackend's architecture
// test enforces both rules.
//
// Everything here is wire format between separately deployed processes and their clients:
// change names and JSON tags only on purpose.
package stream

import (
	"encoding/json"
)

// Frame types (docs/design.md): every SSE event's data is one Frame.
const (
	TypeContent   = "content"
	TypeReasoning = "reasoning"
	TypeDone      = "done"  // final: the reply, its usage and session
	TypeError     = "error" // final: Code and Message say why
)

// FinalTypes are the types of the frames that end a stream.
func FinalTypes() []string { return []string{TypeDone, TypeError} }

// Usage counts tokens as the upstream reported them (or as estimated when it could not).
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Frame is one event of a chat stream. JobID is on every frame, so the first one a client sees
// names the job to resume with GET /chat/stream/{job_id}.
//
// ID and Raw are not part of the JSON: a frame read back from the relay carries its entry id in
// the job's stream (the SSE event id a client's Last-Event-ID names) and its JSON exactly as
// stored, which the api forwards without re-encoding it. DecodeHead fills in what a relay
// reads of Raw; the worker, which writes frames, fills in the fields and leaves ID and Raw empty.
type Frame struct {
	ID  string `json:"-"`
	Raw []byte `json:"-"`

	Type  string `json:"type"`
	JobID string `json:"job_id"`
	// Seq numbers a job's frames 1, 2, 3…: a relay that sees a gap re-reads the stored frames.
	Seq       int             `json:"seq"`
	Text      string          `json:"text,omitempty"`
	Reply     *string         `json:"reply,omitempty"`
	ReplyJSON json.RawMessage `json:"reply_json,omitempty"`
	Usage     *Usage          `json:"usage,omitempty"`
	SessionID *string         `json:"session_id,omitempty"`
	Code      string          `json:"code,omitempty"`
	Message   string          `json:"message,omitempty"`
}

// Final tells whether a frame ends its stream.
func (f Frame) Final() bool { return f.Type == TypeDone || f.Type == TypeError }

// head is what a relay reads of a stored frame: its place and whether (and how) it ends the
// stream. Decoding only these keeps the per-frame cost off the text, which is forwarded as is.
type head struct {
	Type string `json:"type"`
	Seq  int    `json:"seq"`
	Code string `json:"code"`
}

// DecodeHead sets Type, Seq and Code from Raw and leaves the other fields alone. A Raw that is
// not a JSON object is an error (Type, Seq and Code stay as they were).
func (f *Frame) DecodeHead() error {
	var h head
	if err := json.Unmarshal(f.Raw, &h); err != nil {
		return err
	}
	f.Type, f.Seq, f.Code = h.Type, h.Seq, h.Code
	return nil
}
