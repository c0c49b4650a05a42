package workers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
	"github.com/tbackend/tbackend/stream"
)

// ImageReader reads (and finally deletes) a caller's uploaded image in the object store.
type ImageReader interface {
	Get(ctx context.Context, key string) (io.ReadCloser, objstore.Object, error)
	Delete(ctx context.Context, key string) error
}

// Chat runs chat:complete jobs: it builds the prompt from the session's history, calls the LLM
// (streamed or not), relays stream frames through Redis, and keeps the history and token usage.
type Chat struct {
	LLM      *openai.Client
	Model    string
	Provider string // shown to callers: "openai", or "emulator" in dev
	Sessions *storage.Sessions
	Frames   *storage.Frames
	Images   ImageReader
	Usage    *storage.Usage

	// FirstToken bounds the wait for the first streamed token; Idle the gap between tokens;
	// Request a whole non-streamed call.
	FirstToken, Idle, Request time.Duration
	// Retries are attempts after the first, made only before any token has been produced.
	Retries int
	// ContextTokens is the model's window: history is trimmed so the prompt always fits.
	ContextTokens int
	// Interrupted reports a worker shutdown (Server.Stopping).
	Interrupted func() bool
	// Log gets what fails beside the job without failing it (nil: slog.Default()).
	Log *slog.Logger
}

// errStopped ends a streamed job that a worker shutdown interrupted, and its re-run: asynq hands
// an interrupted job to another worker, but its client was already told, so the re-run does
// nothing and the client sends the request again (the same request_id is free then).
var errStopped = jobs.Permanent(jobs.CodeWorkerLost, "the worker running this job stopped; send the request again", 503)

// Handle is the job handler.
func (c *Chat) Handle(ctx context.Context, t *asynq.Task) (_ any, err error) {
	in, err := jobs.Decode[jobs.ChatPayload](t)
	if err != nil {
		return nil, err
	}
	jobID, _ := asynq.GetTaskID(ctx)
	owner := t.Headers()[jobs.HeaderOwner]
	if in.ImageKey != "" {
		// Kept while another attempt follows (asynq retries a non-streamed chat).
		defer func() {
			if !willRetry(ctx, err) {
				c.dropImage(ctx, in.ImageKey)
			}
		}()
	}
	out := &emitter{frames: c.Frames, w: c.Frames.Writer(ctx, jobID), jobID: jobID, interrupted: c.interrupted}
	defer func() { _ = out.w.Flush() }() // no frame is written after the job ends
	if in.Stream && c.streamEnded(ctx, jobID) {
		return nil, errStopped
	}
	if in.SessionID == "" {
		in.SessionID = "sess_" + strings.ToLower(rand.Text())
	}
	msgs, err := c.prompt(ctx, owner, in)
	if err != nil {
		return nil, out.fail(ctx, in.Stream, err)
	}
	req := c.request(in, msgs)
	var reply string
	var usage jobs.ChatUsage
	if in.Stream {
		reply, usage, err = c.stream(ctx, out, req)
		if ferr := out.w.Flush(); err == nil && ferr != nil {
			// A content frame was not stored: the stream fails as when its append failed at once.
			err = fmt.Errorf("%w: append frame: %w", errRelay, ferr)
		}
	} else {
		reply, usage, err = c.complete(ctx, req)
	}
	// Whatever was produced is counted, also when the caller went away midway.
	c.countTokens(jobID, owner, usage)
	if err != nil {
		return nil, out.fail(ctx, in.Stream, err)
	}
	res := c.result(in, reply, usage)
	user := storage.Message{Role: "user", Content: in.Message, Tokens: usage.PromptTokens, At: time.Now().UTC()}
	assistant := storage.Message{Role: "assistant", Content: reply, Tokens: usage.CompletionTokens, At: time.Now().UTC()}
	if err := c.Sessions.Append(ctx, owner, in.SessionID, user, assistant); err != nil {
		return nil, out.fail(ctx, in.Stream, fmt.Errorf("save history: %w", err))
	}
	if in.Stream {
		done := stream.Frame{Type: stream.TypeDone, Reply: &res.Reply, ReplyJSON: res.ReplyJSON, Usage: &res.Usage, SessionID: res.SessionID}
		if err := out.emitFinal(ctx, done); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// prompt builds the messages: system, as much history as fits the window, then the new message.
func (c *Chat) prompt(ctx context.Context, owner string, in jobs.ChatPayload) ([]openai.ChatCompletionMessage, error) {
	var sys []string
	if in.System != "" {
		sys = append(sys, in.System)
	}
	if in.Structured {
		// JSON mode requires the word "JSON" in the prompt, and says what to produce.
		sys = append(sys, "Reply with a single valid JSON object and nothing else.")
	}
	user, err := c.userMessage(ctx, in)
	if err != nil {
		return nil, err
	}
	budget := c.window() - in.MaxTokens - estimateTokens(in.Message) - estimateTokens(strings.Join(sys, "\n")) - 64
	if in.ImageKey != "" {
		budget -= 1105 // a high-detail image's token cost at most, as the provider counts it
	}
	if budget < 0 {
		return nil, jobs.Permanent("context_length_exceeded",
			"message and max_tokens do not fit the model's context window", 400)
	}
	history, err := c.Sessions.History(ctx, owner, in.SessionID)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var msgs []openai.ChatCompletionMessage
	if len(sys) > 0 {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: strings.Join(sys, "\n")})
	}
	msgs = append(msgs, fitHistory(history, budget)...)
	return append(msgs, user), nil
}

// fitHistory keeps the newest messages whose estimated tokens fit budget, oldest first, and
// never starts with an assistant message that lost its question.
func fitHistory(history []storage.Message, budget int) []openai.ChatCompletionMessage {
	start := len(history)
	for i := len(history) - 1; i >= 0; i-- {
		cost := estimateTokens(history[i].Content) + 4
		if cost > budget {
			break
		}
		budget -= cost
		start = i
	}
	for start < len(history) && history[start].Role != "user" {
		start++
	}
	out := make([]openai.ChatCompletionMessage, 0, len(history)-start)
	for _, m := range history[start:] {
		out = append(out, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	return out
}

func (c *Chat) userMessage(ctx context.Context, in jobs.ChatPayload) (openai.ChatCompletionMessage, error) {
	msg := openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser}
	if in.ImageKey == "" {
		msg.Content = in.Message
		return msg, nil
	}
	r, obj, err := c.Images.Get(ctx, in.ImageKey)
	if err != nil {
		return msg, fmt.Errorf("read image %s: %w", in.ImageKey, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return msg, fmt.Errorf("read image %s: %w", in.ImageKey, err)
	}
	mime := in.ImageMIME
	if mime == "" {
		mime = obj.ContentType
	}
	msg.MultiContent = []openai.ChatMessagePart{
		{Type: openai.ChatMessagePartTypeText, Text: in.Message},
		{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{
			URL: "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data), Detail: openai.ImageURLDetailAuto}},
	}
	return msg, nil
}

func (c *Chat) request(in jobs.ChatPayload, msgs []openai.ChatCompletionMessage) openai.ChatCompletionRequest {
	// max_tokens, not max_completion_tokens: every OpenAI-compatible provider (vLLM, Ollama,
	// LiteLLM…) takes it, and OpenAI still does for chat models.
	//lint:ignore SA1019 see above
	req := openai.ChatCompletionRequest{Model: c.Model, Messages: msgs, MaxTokens: in.MaxTokens}
	// go-openai drops zero values; the smallest float says "zero" to the provider.
	if in.Temperature != nil {
		req.Temperature = float32(math.Max(*in.Temperature, math.SmallestNonzeroFloat32))
	}
	if in.TopP != nil {
		req.TopP = float32(math.Max(*in.TopP, math.SmallestNonzeroFloat32))
	}
	if in.Structured {
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	if in.Stream {
		req.Stream = true
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return req
}

// complete makes a non-streamed call, retrying what a retry can fix.
func (c *Chat) complete(ctx context.Context, req openai.ChatCompletionRequest) (reply string, usage jobs.ChatUsage, err error) {
	hint := &retryHint{}
	err = retryUpstream(ctx, c.Retries, hint, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, c.Request)
		defer cancel()
		res, err := c.LLM.CreateChatCompletion(cctx, req)
		if err != nil {
			return err
		}
		if len(res.Choices) == 0 {
			return final(upstreamError(errors.New("no choices in the reply")))
		}
		reply = res.Choices[0].Message.Content
		usage = jobs.ChatUsage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, TotalTokens: res.Usage.TotalTokens}
		return nil
	}, hint.upstreamError)
	return reply, usage, err
}

// stream makes a streamed call and relays each delta as a frame. Before the first token a
// failure (or a first token that does not come in time) is retried; after it, it ends the stream
// as the provider's failure (never an internal one: the provider stalled or cut us off).
func (c *Chat) stream(ctx context.Context, out *emitter, req openai.ChatCompletionRequest) (reply string, usage jobs.ChatUsage, err error) {
	hint := &retryHint{}
	err = retryUpstream(ctx, c.Retries, hint, func(ctx context.Context) error {
		r, u, started, err := c.streamOnce(ctx, out, req)
		if err != nil && !started && ctx.Err() == nil && !errors.Is(err, errRelay) {
			return err // the provider failed before any token reached the client
		}
		reply, usage = r, u
		if err == nil || ctx.Err() != nil || errors.Is(err, errRelay) {
			return final(err)
		}
		return final(hint.upstreamError(err)) // the client has part of the reply
	}, hint.upstreamError)
	return reply, usage, err
}

type chunk struct {
	res openai.ChatCompletionStreamResponse
	err error
}

// errTruncated is a stream that ended (cleanly, as far as HTTP goes) before the provider said it
// was finished: no finish_reason. Its text is a fragment, not a reply.
var errTruncated = errors.New("upstream stream ended without finish_reason")

// errRelay marks a failure to relay a frame (our store, not the provider).
var errRelay = errors.New("relay frame")

// streamOnce is one streamed attempt; started reports whether any token reached the client. The
// first-token timeout runs from before connecting, so connect, response headers and first token
// together get FirstToken, not a header timeout each.
func (c *Chat) streamOnce(ctx context.Context, out *emitter, req openai.ChatCompletionRequest) (reply string, usage jobs.ChatUsage, started bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var headersLate atomic.Bool
	early := time.AfterFunc(c.FirstToken, func() { headersLate.Store(true); cancel() })
	s, err := c.LLM.CreateChatCompletionStream(sctx, req)
	early.Stop()
	if err != nil {
		if headersLate.Load() && ctx.Err() == nil {
			return "", usage, false, errStalled{first: true}
		}
		return "", usage, false, err
	}
	defer s.Close()
	chunks := make(chan chunk)
	go func() {
		for {
			r, err := s.Recv()
			select {
			case chunks <- chunk{r, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var text strings.Builder
	finished := false
	timer := time.NewTimer(max(c.FirstToken-time.Since(start), 0))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return text.String(), estimatedUsage(req, text.String()), started, ctx.Err()
		case <-timer.C:
			return text.String(), estimatedUsage(req, text.String()), started, errStalled{first: !started}
		case ch := <-chunks:
			if errors.Is(ch.err, io.EOF) {
				if !finished {
					return text.String(), estimatedUsage(req, text.String()), started, errTruncated
				}
				if usage.TotalTokens == 0 {
					usage = estimatedUsage(req, text.String())
				}
				return text.String(), usage, started, nil
			}
			if ch.err != nil {
				return text.String(), estimatedUsage(req, text.String()), started, ch.err
			}
			if u := ch.res.Usage; u != nil {
				usage = jobs.ChatUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
			}
			for _, choice := range ch.res.Choices {
				finished = finished || choice.FinishReason != ""
				for _, f := range deltaFrames(choice.Delta) {
					if err := out.emit(ctx, f); err != nil {
						return text.String(), estimatedUsage(req, text.String()), started, fmt.Errorf("%w: %w", errRelay, err)
					}
					started = true
					if f.Type == stream.TypeContent {
						text.WriteString(f.Text)
					}
				}
			}
			timer.Reset(c.Idle)
		}
	}
}

func deltaFrames(d openai.ChatCompletionStreamChoiceDelta) []stream.Frame {
	var out []stream.Frame
	if d.ReasoningContent != "" {
		out = append(out, stream.Frame{Type: stream.TypeReasoning, Text: d.ReasoningContent})
	}
	if d.Content != "" {
		out = append(out, stream.Frame{Type: stream.TypeContent, Text: d.Content})
	}
	return out
}

// streamEnded tells whether the job's stream already has its final frame: this is a re-run of a
// streamed job whose client has been told how it ended.
func (c *Chat) streamEnded(ctx context.Context, jobID string) bool {
	last, ok, err := c.Frames.Last(ctx, jobID)
	return err == nil && ok && last.DecodeHead() == nil && last.Final()
}

func (c *Chat) interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && c.Interrupted != nil && c.Interrupted()
}

// emitter writes one job's frames, numbered in order: the content frames through a FrameWriter
// (no round trip waited for per frame), the final frame once those are stored.
type emitter struct {
	frames      *storage.Frames
	w           *storage.FrameWriter
	jobID       string
	seq         int
	interrupted func(context.Context) bool
}

// emit queues a frame for the job's stream (replayable) and its channel (live); it fails when an
// earlier frame could not be stored.
func (e *emitter) emit(ctx context.Context, f stream.Frame) error {
	data, err := e.encode(f)
	if err != nil {
		return err
	}
	if err := e.w.Write(ctx, data); err != nil {
		return fmt.Errorf("append frame: %w", err)
	}
	return nil
}

// emitFinal appends the frame that ends the stream after every queued frame is stored, and waits
// for it: even after a failed content frame (the store is back, say) it is tried on its own.
func (e *emitter) emitFinal(ctx context.Context, f stream.Frame) error {
	_ = e.w.Flush()
	data, err := e.encode(f)
	if err != nil {
		return err
	}
	if _, err := e.frames.Append(ctx, e.jobID, data); err != nil {
		return fmt.Errorf("append frame: %w", err)
	}
	return nil
}

func (e *emitter) encode(f stream.Frame) ([]byte, error) {
	e.seq++
	f.JobID, f.Seq = e.jobID, e.seq
	return json.Marshal(f)
}

// fail ends a streamed job with an error frame (written even when the job's context is gone, so
// a reconnecting client learns how it ended) and returns the error the wrapper reports.
func (e *emitter) fail(ctx context.Context, streamed bool, err error) error {
	if streamed {
		je := failure(ctx, err)
		if e.interrupted != nil && e.interrupted(ctx) {
			// A shutdown, not a cancel: the client should send the request again.
			je, err = errStopped, errStopped
		}
		f := stream.Frame{Type: stream.TypeError, Code: je.Code, Message: je.Message}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = e.emitFinal(wctx, f)
	}
	return err
}

// dropImage deletes the caller's uploaded image once the job is over, whatever its outcome (also
// when the job's context has ended).
func (c *Chat) dropImage(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = c.Images.Delete(ctx, key)
}

func (c *Chat) result(in jobs.ChatPayload, reply string, usage jobs.ChatUsage) jobs.ChatResult {
	res := jobs.ChatResult{Reply: reply, ReplyJSON: json.RawMessage("null"), SessionID: &in.SessionID,
		Provider: c.Provider, Model: c.Model, Usage: usage}
	if in.RequestID != "" {
		res.RequestID = &in.RequestID
	}
	if in.Structured {
		res.ReplyJSON, res.ReplyJSONError = parseObject(reply)
	}
	return res
}

// parseObject returns reply as a JSON object, or null and why not (never an error: the caller
// still gets the raw text).
func parseObject(reply string) (json.RawMessage, *string) {
	s := strings.TrimSpace(reply)
	// Models sometimes fence JSON in markdown despite JSON mode.
	if f, ok := strings.CutPrefix(s, "```"); ok {
		f = strings.TrimPrefix(f, "json")
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "```"))
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		why := "the model's reply is not a valid JSON object: " + err.Error()
		return json.RawMessage("null"), &why
	}
	out, _ := json.Marshal(obj)
	return out, nil
}

// countTokens adds a turn's tokens to its key's usage. A failure does not fail the turn (the
// caller has its answer) but is logged: the key's usage report is short by these tokens.
func (c *Chat) countTokens(jobID, owner string, u jobs.ChatUsage) {
	keyID, ok := strings.CutPrefix(owner, "key:")
	if !ok || u.TotalTokens == 0 || c.Usage == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Usage.Record(ctx, keyID, "/chat", 0, int64(u.TotalTokens), time.Now()); err != nil {
		log := c.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("record token usage", "job_id", jobID, "key_id", keyID, "tokens", u.TotalTokens, "error", err)
	}
}

func (c *Chat) window() int {
	if c.ContextTokens > 0 {
		return c.ContextTokens
	}
	return 128000
}

// estimateTokens is the usual four-characters-a-token estimate, for budgets and for streams that
// ended before the provider reported usage.
func estimateTokens(s string) int { return (len(s) + 3) / 4 }

func estimatedUsage(req openai.ChatCompletionRequest, reply string) jobs.ChatUsage {
	p := 0
	for _, m := range req.Messages {
		p += estimateTokens(m.Content) + 4
		for _, part := range m.MultiContent {
			p += estimateTokens(part.Text)
		}
	}
	comp := estimateTokens(reply)
	return jobs.ChatUsage{PromptTokens: p, CompletionTokens: comp, TotalTokens: p + comp}
}
