package openaiemu_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/emulators/openai"
)

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// streamChat posts a streamed chat completion and checks the event stream: every event a
// spec-valid chunk, one id and created across them, ending in [DONE].
func (h *harness) streamChat(body map[string]any, hdr map[string]string) ([]chunk, []map[string]json.RawMessage) {
	h.t.Helper()
	body["stream"] = true
	r := h.postJSON("/chat/completions", body, hdr)
	if r.status != 200 {
		h.t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		h.t.Errorf("Content-Type %q", ct)
	}
	events := sse(h.t, r.body)
	if len(events) < 2 || events[len(events)-1] != "[DONE]" {
		h.t.Fatalf("stream does not end with [DONE]: %q", events)
	}
	var chunks []chunk
	var raws []map[string]json.RawMessage
	for _, ev := range events[:len(events)-1] {
		validate(h.t, "CreateChatCompletionStreamResponse", []byte(ev))
		var c chunk
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			h.t.Fatal(err)
		}
		_ = json.Unmarshal([]byte(ev), &raw)
		if c.Object != "chat.completion.chunk" || !strings.HasPrefix(c.ID, "chatcmpl-") {
			h.t.Errorf("chunk envelope %s", ev)
		}
		if len(chunks) > 0 && (c.ID != chunks[0].ID || c.Created != chunks[0].Created) {
			h.t.Errorf("chunk id/created changed: %s", ev)
		}
		chunks, raws = append(chunks, c), append(raws, raw)
	}
	return chunks, raws
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	chunks, raws := h.streamChat(chatBody("gpt-4o-mini", userMsg("stream me please")), nil)
	want := openaiemu.Reply("stream me please", 0)

	first := chunks[0].Choices[0]
	if first.Delta.Role != "assistant" || first.Delta.Content == nil || *first.Delta.Content != "" || first.FinishReason != nil {
		t.Errorf("first chunk %+v", first)
	}
	if !strings.Contains(string(raws[0]["choices"]), `"refusal":null`) {
		t.Errorf("first delta lacks refusal:null: %s", raws[0]["choices"])
	}
	var text strings.Builder
	for _, c := range chunks[1 : len(chunks)-1] {
		ch := c.Choices[0]
		if ch.Delta.Content == nil || ch.FinishReason != nil || ch.Delta.Role != "" {
			t.Errorf("content chunk %+v", ch)
		}
		text.WriteString(*ch.Delta.Content)
	}
	if text.String() != want || len(chunks)-2 != openaiemu.CountTokens(want) {
		t.Errorf("streamed %q in %d chunks, want %q in %d", text.String(), len(chunks)-2, want, openaiemu.CountTokens(want))
	}
	last := chunks[len(chunks)-1].Choices[0]
	if last.FinishReason == nil || *last.FinishReason != "stop" || string(mustRaw(t, raws[len(raws)-1]["choices"])) != `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]` {
		t.Errorf("last chunk %s", raws[len(raws)-1]["choices"])
	}
	for i, raw := range raws {
		if _, ok := raw["usage"]; ok {
			t.Errorf("chunk %d has usage without include_usage", i)
		}
	}
	st := h.emu.Stats()
	if st.StreamsStarted != 1 || st.StreamsCompleted != 1 || st.OpenStreams != 0 || st.StreamsCanceled != 0 {
		t.Errorf("stats %+v", st)
	}
}

func mustRaw(t *testing.T, r json.RawMessage) json.RawMessage {
	t.Helper()
	if r == nil {
		t.Fatal("missing field")
	}
	return r
}

func TestChatStreamUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := chatBody("gpt-4o-mini", userMsg("count my tokens"))
	body["stream_options"] = map[string]any{"include_usage": true}
	body["max_tokens"] = 4
	chunks, raws := h.streamChat(body, nil)
	for i, raw := range raws[:len(raws)-1] {
		if string(raw["usage"]) != "null" {
			t.Errorf("chunk %d usage %s, want null", i, raw["usage"])
		}
	}
	last := chunks[len(chunks)-1]
	if string(raws[len(raws)-1]["choices"]) != "[]" || last.Usage == nil {
		t.Fatalf("usage chunk %v", raws[len(raws)-1])
	}
	wantPrompt := 3 + 3 + openaiemu.CountTokens("count my tokens")
	if last.Usage.PromptTokens != wantPrompt || last.Usage.CompletionTokens != 4 || last.Usage.TotalTokens != wantPrompt+4 {
		t.Errorf("usage %+v", *last.Usage)
	}
	finish := chunks[len(chunks)-2].Choices[0].FinishReason
	if finish == nil || *finish != "length" {
		t.Errorf("finish %v", finish)
	}
	if len(chunks) != 1+4+1+1 {
		t.Errorf("%d chunks", len(chunks))
	}
}

func TestChatStreamChoicesLogprobsAndRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := chatBody("gpt-4o-mini", userMsg("two"))
	body["n"] = 2
	body["logprobs"] = true
	body["stream_options"] = map[string]any{"include_obfuscation": false}
	chunks, raws := h.streamChat(body, nil)
	texts := map[int]string{}
	for i, c := range chunks {
		if _, ok := raws[i]["obfuscation"]; ok {
			t.Errorf("obfuscation despite include_obfuscation false")
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				texts[ch.Index] += *ch.Delta.Content
			}
		}
	}
	if texts[0] != openaiemu.Reply("two", 0) || texts[1] != texts[0] {
		t.Errorf("texts %v", texts)
	}

	chunks, _ = h.streamChat(chatBody("gpt-4o-mini", userMsg("bad request")), map[string]string{openaiemu.FaultHeader: "content_policy"})
	var refusal strings.Builder
	for _, c := range chunks[1:] {
		if r := c.Choices; len(r) > 0 && r[0].Delta.Refusal != nil {
			refusal.WriteString(*r[0].Delta.Refusal)
		}
	}
	if refusal.String() != openaiemu.RefusalText {
		t.Errorf("refusal %q", refusal.String())
	}
}
