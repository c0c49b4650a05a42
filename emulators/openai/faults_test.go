package openaiemu_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/openai"
)

// wait blocks until cond holds for the emulator's counters (or fails after 10s).
func (h *harness) wait(what string, cond func(openaiemu.Stats) bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.emu.WaitFor(ctx, cond); err != nil {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// openStream starts a streamed chat completion and returns the live response.
func (h *harness) openStream(ctx context.Context, text string, hdr map[string]string) (*http.Response, *bufio.Reader) {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini", "stream": true, "messages": []any{userMsg(text)}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("stream status %d: %s", resp.StatusCode, body)
	}
	return resp, bufio.NewReader(resp.Body)
}

// nextEvent reads one "data: ...\n\n" event.
func nextEvent(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "data: ") {
		return "", fmt.Errorf("unexpected line %q", line)
	}
	if blank, err := rd.ReadString('\n'); err != nil || blank != "\n" {
		return "", fmt.Errorf("no blank line after event: %q %v", blank, err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n"), nil
}

func TestFaultErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	chat := chatBody("gpt-4o-mini", userMsg("hi"))
	for _, tc := range []struct {
		fault       string
		status      int
		typ, code   string
		retryAfter  string
		messageHint string
	}{
		{"rate_limit;retry_after=2s", 429, "requests", "rate_limit_exceeded", "2", "Rate limit reached for gpt-4o-mini"},
		{"insufficient_quota", 429, "insufficient_quota", "insufficient_quota", "1", "You exceeded your current quota"},
		{"server_error", 500, "server_error", "", "", "The server had an error"},
		{"overloaded", 503, "server_error", "", "1", "overloaded"},
		{"stream_error", 500, "server_error", "", "", "The server had an error"},
	} {
		r := h.postJSON("/chat/completions", chat, map[string]string{openaiemu.FaultHeader: tc.fault})
		e := wantError(t, r, tc.status, tc.typ, tc.code, "")
		if got := r.header.Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("%s: Retry-After %q, want %q", tc.fault, got, tc.retryAfter)
		}
		if !strings.Contains(e["message"].(string), tc.messageHint) {
			t.Errorf("%s: message %q", tc.fault, e["message"])
		}
	}

	// Errors come before validation, like the real API's gateway.
	wantError(t, h.postJSON("/chat/completions", map[string]any{}, map[string]string{openaiemu.FaultHeader: "rate_limit"}), 429, "requests", "rate_limit_exceeded", "")

	// content_policy: images are refused with 400, chat answers with a refusal.
	img := map[string]any{"model": "dall-e-2", "prompt": "forbidden", "size": "256x256"}
	e := wantError(t, h.postJSON("/images/generations", img, map[string]string{openaiemu.FaultHeader: "content_policy"}), 400, "invalid_request_error", "content_policy_violation", "")
	if !strings.Contains(e["message"].(string), "safety system") {
		t.Errorf("message %q", e["message"])
	}
	c, r := h.chat(chat, map[string]string{openaiemu.FaultHeader: "content_policy"})
	if ch := c.Choices[0].Message; ch.Content != nil || ch.Refusal == nil || *ch.Refusal != openaiemu.RefusalText {
		t.Errorf("refusal answer %s", r.body)
	}

	// A malformed override is a test bug, reported as such.
	wantError(t, h.postJSON("/chat/completions", chat, map[string]string{openaiemu.FaultHeader: "explode"}), 400, "emulator_error", "bad_fault", "")
	if got := h.emu.Stats().Faults; got != 8 {
		t.Errorf("faults counted %d, want 8", got)
	}
}

func TestFaultScopesTimesAndOverrides(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	chat := chatBody("gpt-4o-mini", userMsg("hi"))
	h.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointChatCompletions, Times: 2})

	// Other endpoints are not affected; the header shields one request and does not use up Times.
	if r := h.do(http.MethodGet, "/models", "", nil, nil); r.status != 200 {
		t.Errorf("models under a chat fault: %d", r.status)
	}
	h.chat(chat, map[string]string{openaiemu.FaultHeader: "none"})
	for i := range 2 {
		r := h.postJSON("/chat/completions", chat, nil)
		wantError(t, r, 429, "requests", "rate_limit_exceeded", "")
		if r.header.Get("Retry-After") != "1" || r.header.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Errorf("attempt %d headers %v", i, r.header)
		}
	}
	h.chat(chat, nil) // Times used up

	// An emulator-wide fault until cleared; the first matching fault wins.
	h.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError, Endpoint: openaiemu.EndpointImageGenerations})
	h.emu.AddFault(openaiemu.Fault{Kind: openaiemu.FaultQuota})
	wantError(t, h.postJSON("/images/generations", map[string]any{"prompt": "x"}, nil), 500, "server_error", "", "")
	wantError(t, h.postJSON("/chat/completions", chat, nil), 429, "insufficient_quota", "insufficient_quota", "")
	wantError(t, h.postJSON("/chat/completions", chat, nil), 429, "insufficient_quota", "insufficient_quota", "")
	h.emu.ClearFaults()
	h.chat(chat, nil)

	// In-prompt directive, for tests that reach the emulator through a service; it is not echoed.
	dir := chatBody("gpt-4o-mini", userMsg("hello [[openaiemu:server_error]]"))
	wantError(t, h.postJSON("/chat/completions", dir, nil), 500, "server_error", "", "")
	c, _ := h.chat(chatBody("gpt-4o-mini", userMsg("hello [[openaiemu:delay=1ms]]")), nil)
	if got := content(t, c, 0); got != openaiemu.Reply("hello", 0) {
		t.Errorf("directive echoed: %q", got)
	}
	wantError(t, h.postJSON("/images/generations", map[string]any{"prompt": "cat [[openaiemu:content_policy]]"}, nil), 400, "invalid_request_error", "content_policy_violation", "")
	// The header wins over a directive.
	h.chat(dir, map[string]string{openaiemu.FaultHeader: "none"})

	st := h.emu.Stats()
	if st.Requests[openaiemu.EndpointChatCompletions] != 10 || st.Requests[openaiemu.EndpointImageGenerations] != 2 || st.Requests[openaiemu.EndpointModelsList] != 1 {
		t.Errorf("request counters %v", st.Requests)
	}
	h.emu.ResetStats()
	if st := h.emu.Stats(); len(st.Requests) != 0 || st.Faults != 0 {
		t.Errorf("after reset %+v", st)
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	f := openaiemu.Fault{Kind: openaiemu.FaultStall, After: 3, Delay: time.Second, FirstTokenDelay: 2 * time.Millisecond,
		ChunkDelay: 5 * time.Millisecond, RetryAfter: 4 * time.Second, StallFor: time.Minute}
	got, err := openaiemu.ParseFault(f.String())
	if err != nil || got != f {
		t.Errorf("round trip %q: %+v %v", f.String(), got, err)
	}
	if s := (openaiemu.Fault{}).String(); s != "none" {
		t.Errorf("zero fault %q", s)
	}
	for _, bad := range []string{"boom", "stall;after=x", "delay=soon", "colour=red"} {
		if _, err := openaiemu.ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

func TestFaultStallAndCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, rd := h.openStream(ctx, "stall here", map[string]string{openaiemu.FaultHeader: "stall;after=2"})
	for range 2 {
		ev, err := nextEvent(rd)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, "CreateChatCompletionStreamResponse", []byte(ev))
	}
	h.wait("an open stream", func(s openaiemu.Stats) bool { return s.OpenStreams == 1 })
	cancel() // our side gives up: the emulator must notice and stop generating
	h.wait("the stream to be canceled", func(s openaiemu.Stats) bool { return s.StreamsCanceled == 1 && s.OpenStreams == 0 })
	if st := h.emu.Stats(); st.StreamsCompleted != 0 || st.StreamsAborted != 0 {
		t.Errorf("stats %+v", st)
	}

	// A stall that outlasts StallFor ends with the connection cut.
	_, rd = h.openStream(context.Background(), "stall briefly", map[string]string{openaiemu.FaultHeader: "stall;after=1;stall_for=50ms"})
	if _, err := nextEvent(rd); err != nil {
		t.Fatal(err)
	}
	if _, err := nextEvent(rd); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("after the stall: %v, want unexpected EOF", err)
	}
	h.wait("the stall to abort", func(s openaiemu.Stats) bool { return s.StreamsAborted == 1 })

	// Non-streamed: no answer until the client leaves.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		b, _ := json.Marshal(chatBody("gpt-4o-mini", userMsg("hold")))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/chat/completions", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set(openaiemu.FaultHeader, "stall")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got an answer: %d", resp.StatusCode)
		}
		done <- err
	}()
	h.wait("the stalled request", func(s openaiemu.Stats) bool { return s.Faults == 3 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("stalled request: %v", err)
	}
	h.wait("the request to be canceled", func(s openaiemu.Stats) bool { return s.RequestsCanceled == 1 })
}

func TestFaultDelays(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A slow answer: the client's deadline passes first and the emulator sees it leave.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	b, _ := json.Marshal(chatBody("gpt-4o-mini", userMsg("slow")))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set(openaiemu.FaultHeader, "delay=20s")
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request: %v %v", resp, err)
	}
	h.wait("the slow request to be canceled", func(s openaiemu.Stats) bool { return s.RequestsCanceled == 1 })

	// Slow first token: headers arrive, the first event does not; leaving cancels the stream.
	ctx2, cancel2 := context.WithCancel(context.Background())
	resp, _ := h.openStream(ctx2, "first token", map[string]string{openaiemu.FaultHeader: "first_token_delay=20s"})
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	h.wait("an open stream", func(s openaiemu.Stats) bool { return s.OpenStreams == 1 })
	cancel2()
	h.wait("the stream to be canceled", func(s openaiemu.Stats) bool { return s.StreamsCanceled == 1 && s.OpenStreams == 0 })

	// Paced streams stop generating when the client leaves mid-way.
	h.emu.SetChunkDelay(time.Hour)
	ctx3, cancel3 := context.WithCancel(context.Background())
	_, rd := h.openStream(ctx3, "paced", nil)
	if _, err := nextEvent(rd); err != nil {
		t.Fatal(err)
	}
	cancel3()
	h.wait("the paced stream to be canceled", func(s openaiemu.Stats) bool { return s.StreamsCanceled == 2 && s.OpenStreams == 0 })
	// A per-request chunk delay overrides the emulator-wide pace.
	h.streamChat(chatBody("gpt-4o-mini", userMsg("quick")), map[string]string{openaiemu.FaultHeader: "chunk_delay=1ms"})
	h.emu.SetChunkDelay(0)
	h.streamChat(chatBody("gpt-4o-mini", userMsg("quick")), nil)
}

func TestFaultCut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, rd := h.openStream(context.Background(), "cut me", map[string]string{openaiemu.FaultHeader: "cut;after=3"})
	for range 3 {
		if _, err := nextEvent(rd); err != nil {
			t.Fatal(err)
		}
	}
	if ev, err := nextEvent(rd); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("after the cut: %q %v, want unexpected EOF", ev, err)
	}
	h.wait("the cut stream", func(s openaiemu.Stats) bool { return s.StreamsAborted == 1 && s.OpenStreams == 0 })

	b, _ := json.Marshal(chatBody("gpt-4o-mini", userMsg("cut")))
	req, _ := http.NewRequest(http.MethodPost, h.base+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set(openaiemu.FaultHeader, "cut")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-streamed cut answered %d", resp.StatusCode)
	}
}

func TestFaultMalformedAndStreamError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := chatBody("gpt-4o-mini", userMsg("garble"))
	body["stream"] = true
	r := h.postJSON("/chat/completions", body, map[string]string{openaiemu.FaultHeader: "malformed;after=2"})
	events := sse(t, r.body)
	if events[len(events)-1] != "[DONE]" {
		t.Errorf("malformed stream should carry on to [DONE]: %q", events)
	}
	bad := 0
	for i, ev := range events[:len(events)-1] {
		if !json.Valid([]byte(ev)) {
			bad++
			if i != 2 {
				t.Errorf("malformed event at %d", i)
			}
		}
	}
	if bad != 1 {
		t.Errorf("%d malformed events", bad)
	}

	r = h.postJSON("/chat/completions", chatBody("gpt-4o-mini", userMsg("garble")), map[string]string{openaiemu.FaultHeader: "malformed"})
	if r.status != 200 || json.Valid(r.body) {
		t.Errorf("non-streamed malformed: %d %s", r.status, r.body)
	}

	r = h.postJSON("/chat/completions", body, map[string]string{openaiemu.FaultHeader: "stream_error;after=1"})
	events = sse(t, r.body)
	if len(events) != 2 || !strings.HasPrefix(events[1], `{"error":`) {
		t.Fatalf("stream_error events %q", events)
	}
	validate(t, "CreateChatCompletionStreamResponse", []byte(events[0]))
	validate(t, "ErrorResponse", []byte(events[1]))

	// end: a clean end of the response after two events, with neither finish_reason nor [DONE].
	r = h.postJSON("/chat/completions", body, map[string]string{openaiemu.FaultHeader: "end;after=2"})
	events = sse(t, r.body)
	if len(events) != 2 || strings.Contains(events[1], "finish_reason\":\"") {
		t.Fatalf("end events %q", events)
	}
	h.wait("stream outcomes", func(s openaiemu.Stats) bool { return s.StreamsCompleted == 1 && s.StreamsAborted == 2 })
}

// Faults given per request do not leak between concurrent requests.
func TestFaultsConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			fault := []string{"none", "rate_limit", "server_error", "content_policy"}[i%4]
			want := []int{200, 429, 500, 200}[i%4]
			b, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini", "stream": i%8 == 0, "messages": []any{userMsg(fmt.Sprint("n", i))}})
			req, _ := http.NewRequest(http.MethodPost, h.base+"/chat/completions", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set(openaiemu.FaultHeader, fault)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != want {
				errs <- fmt.Errorf("request %d with %s: %d, want %d", i, fault, resp.StatusCode, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.emu.Stats(); st.Requests[openaiemu.EndpointChatCompletions] != 40 || st.Faults != 30 || st.OpenStreams != 0 {
		t.Errorf("stats %+v", st)
	}
}
