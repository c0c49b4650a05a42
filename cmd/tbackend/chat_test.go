package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/internal/testwait"
)

// chatEnv is `tbackend dev` on the test Redis, talking to an emulator the test controls.
type chatEnv struct {
	svc      *started
	base     string
	key      string
	emu      *openaiemu.Emulator
	spec     *specChecker
	storage  string
	redisURL string
}

func newChatEnv(t *testing.T, env ...string) *chatEnv {
	t.Helper()
	emu := openaiemu.New("sk-test")
	url := serveEmulator(t, emu.Start)
	dir := t.TempDir()
	redisURL := testRedisURL(t)
	env = append([]string{"REDIS_URL", redisURL, "OPENAI_API_KEY", "sk-test", "OPENAI_BASE_URL", url,
		"OPENAI_RETRIES", "2"}, env...)
	svc, base, key := startDev(t, append(env, "STORAGE_DIR", dir)...)
	return &chatEnv{svc: svc, base: base, key: key, emu: emu, spec: newSpecChecker(t, base), storage: dir, redisURL: redisURL}
}

// chat posts a chat body and checks the answer against the OpenAPI document.
func (e *chatEnv) chat(t *testing.T, body string, hdr ...string) reply {
	t.Helper()
	return e.spec.call(t, "POST", e.base+"/chat", e.key, body, hdr...)
}

// otherKey creates a second caller.
func (e *chatEnv) otherKey(t *testing.T) string {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "other", "--scopes", "chat", "--json"},
		envOf("REDIS_URL", e.redisURL), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var k struct{ Key string }
	_ = json.Unmarshal(out.Bytes(), &k)
	return k.Key
}

func TestChatReply(t *testing.T) {
	e := newChatEnv(t)
	r := e.chat(t, `{"message":"Hello there","max_tokens":50,"temperature":0,"top_p":0.5}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if !strings.HasPrefix(r.body["reply"].(string), "Echo: Hello there") || r.body["reply_json"] != nil ||
		r.body["provider"] != "openai" || r.body["model"] != "gpt-4o-mini" || r.body["session_id"] == "" ||
		r.header.Get("X-Job-Id") == "" {
		t.Fatalf("reply %s", r.raw)
	}
	u := r.body["usage"].(map[string]any)
	total := u["total_tokens"].(float64)
	if total <= 0 || total != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
		t.Fatalf("usage %v", u)
	}
	usage := e.spec.call(t, "GET", e.base+"/usage", e.key, "")
	ep := usage.body["usage"].(map[string]any)["by_endpoint"].(map[string]any)["/chat"].(map[string]any)
	if ep["calls"] != float64(1) || ep["total_tokens"] != total {
		t.Fatalf("usage /chat = %v, want 1 call and %v tokens", ep, total)
	}
}

func TestChatValidation(t *testing.T) {
	e := newChatEnv(t)
	png := pngDataURI(t, 4, 4)
	for _, tc := range []struct {
		body   string
		status int
		loc    string
		typ    string
	}{
		{`{}`, 422, "body message", "missing"},
		{`{"message":""}`, 422, "body message", "string_too_short"},
		{`{"message":"` + strings.Repeat("é", 32001) + `"}`, 422, "body message", "string_too_long"},
		{`{"message":"x","temperature":2.5}`, 422, "body temperature", "less_than_equal"},
		{`{"message":"x","top_p":-0.1}`, 422, "body top_p", "greater_than_equal"},
		{`{"message":"x","max_tokens":0}`, 422, "body max_tokens", "greater_than_equal"},
		{`{"message":"x","max_tokens":262145}`, 422, "body max_tokens", "less_than_equal"},
		{`{"message":"x","output_mode":"xml"}`, 422, "body output_mode", "literal_error"},
		{`{"message":"x","stream":"yes"}`, 422, "body stream", "bool_type"},
		{`{"message":"x","image_data":"https://example.com/a.png"}`, 422, "body image_data", "value_error"},
		{`{"message":"x","image_data":"data:image/bmp;base64,Qk0="}`, 422, "body image_data", "value_error"},
		{`{"message":"x","image_data":"data:image/jpeg;base64,` + strings.SplitN(png, ",", 2)[1] + `"}`, 422, "body image_data", "value_error"},
		{`{"message":"x","image_data":"data:image/png;base64,!!!"}`, 422, "body image_data", "value_error"},
	} {
		t.Run(tc.loc+" "+tc.typ, func(t *testing.T) {
			r := e.chat(t, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d: %.300s", r.status, r.raw)
			}
			first := r.body["detail"].([]any)[0].(map[string]any)
			if fmt.Sprint(first["loc"]) != "["+tc.loc+"]" || first["type"] != tc.typ {
				t.Fatalf("detail %v", first)
			}
		})
	}
	t.Run("image over 20 MB", func(t *testing.T) {
		big := "data:image/png;base64," + base64.StdEncoding.EncodeToString(make([]byte, 20<<20+10))
		r := e.chat(t, `{"message":"x","image_data":"`+big+`"}`)
		if r.status != 413 || !strings.Contains(r.raw, "image_data") {
			t.Fatalf("status %d: %.300s", r.status, r.raw)
		}
	})
	if n := e.emu.Requests(openaiemu.EndpointChatCompletions); n != 0 {
		t.Fatalf("invalid requests reached the model %d times", n)
	}
}

func TestChatSessionsAreHistoryAndPrivate(t *testing.T) {
	e := newChatEnv(t)
	first := e.chat(t, `{"message":"My name is Ada","session_id":"s-1"}`)
	second := e.chat(t, `{"message":"What is my name?","session_id":"s-1"}`)
	fresh := e.chat(t, `{"message":"What is my name?","session_id":"s-2"}`)
	prompt := func(r reply) float64 { return r.body["usage"].(map[string]any)["prompt_tokens"].(float64) }
	if second.body["session_id"] != "s-1" || prompt(second) <= prompt(fresh)+prompt(first)/2 {
		t.Fatalf("the second turn did not carry the history: prompt tokens %v vs fresh %v", prompt(second), prompt(fresh))
	}
	// Another caller using the same session id gets a conversation of its own.
	other := e.otherKey(t)
	theirs := call(t, "POST", e.base+"/chat", other, `{"message":"What is my name?","session_id":"s-1"}`)
	if theirs.status != 200 || prompt(theirs) != prompt(fresh) {
		t.Fatalf("another caller's turn used %v prompt tokens, a fresh session %v: %s", prompt(theirs), prompt(fresh), theirs.raw)
	}
	// …and the owner's history did not absorb it.
	third := e.chat(t, `{"message":"What is my name?","session_id":"s-1"}`)
	if prompt(third) <= prompt(second) {
		t.Fatalf("history shrank or was shared: %v then %v", prompt(second), prompt(third))
	}
	if absent := e.chat(t, `{"message":"hi"}`); absent.body["session_id"] == nil || absent.body["session_id"] == "" {
		t.Fatalf("no session id handed out: %s", absent.raw)
	}
}

func TestChatStructuredOutput(t *testing.T) {
	e := newChatEnv(t)
	for _, r := range []reply{
		e.chat(t, `{"message":"give me json","output_mode":"structured"}`),
		e.spec.call(t, "POST", e.base+"/chat?output=structured", e.key, `{"message":"give me json"}`),
	} {
		obj, ok := r.body["reply_json"].(map[string]any)
		if r.status != 200 || !ok || obj["echo"] != "give me json" {
			t.Fatalf("structured: %d %s", r.status, r.raw)
		}
		var raw map[string]any
		if json.Unmarshal([]byte(r.body["reply"].(string)), &raw) != nil {
			t.Fatalf("reply keeps the raw text: %s", r.raw)
		}
	}
}

func TestChatVision(t *testing.T) {
	e := newChatEnv(t)
	r := e.chat(t, `{"message":"What is this?","image_data":"`+pngDataURI(t, 8, 8)+`"}`)
	if r.status != 200 || !strings.Contains(r.body["reply"].(string), "I see 1 image") {
		t.Fatalf("vision: %d %s", r.status, r.raw)
	}
	// The upload went through the object store (never Redis) and is gone once the job is over.
	testwait.For(t, "the uploaded image to be deleted", 5*time.Second, func() bool {
		var files []string
		_ = filepath.Walk(filepath.Join(e.storage, "inputs"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		return len(files) == 0
	})
}

func TestChatIdempotency(t *testing.T) {
	e := newChatEnv(t)
	body := `{"message":"charge me once","request_id":"req-77"}`
	a := e.chat(t, body)
	b := e.chat(t, body)
	if a.status != 200 || b.status != 200 || a.raw != b.raw || a.body["request_id"] != "req-77" {
		t.Fatalf("first %s\nsecond %s", a.raw, b.raw)
	}
	if n := e.emu.Requests(openaiemu.EndpointChatCompletions); n != 1 {
		t.Fatalf("the model was called %d times", n)
	}
	if b.header.Get("X-Idempotent-Replay") != "true" {
		t.Fatal("the replay is not marked")
	}
	u := e.spec.call(t, "GET", e.base+"/usage", e.key, "")
	total := a.body["usage"].(map[string]any)["total_tokens"].(float64)
	if got := u.body["usage"].(map[string]any)["total_tokens"]; got != total {
		t.Fatalf("tokens billed %v, want %v (once)", got, total)
	}
	// Another caller's identical request id is another request.
	other := e.otherKey(t)
	if r := call(t, "POST", e.base+"/chat", other, body); r.status != 200 || e.emu.Requests(openaiemu.EndpointChatCompletions) != 2 {
		t.Fatalf("other caller: %d, model calls %d", r.status, e.emu.Requests(openaiemu.EndpointChatCompletions))
	}
}

func TestChatUpstreamFailures(t *testing.T) {
	e := newChatEnv(t, "OPENAI_FIRST_TOKEN_TIMEOUT", "300ms", "OPENAI_REQUEST_TIMEOUT", "2s")
	t.Run("a rate limit before the answer is retried", func(t *testing.T) {
		e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointChatCompletions, Times: 1})
		defer e.emu.ClearFaults()
		if r := e.chat(t, `{"message":"retry me"}`); r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	})
	t.Run("persistent 5xx is a 503 with Retry-After", func(t *testing.T) {
		e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError, Endpoint: openaiemu.EndpointChatCompletions})
		defer e.emu.ClearFaults()
		before := e.emu.Requests(openaiemu.EndpointChatCompletions)
		r := e.chat(t, `{"message":"fail me"}`)
		if r.status != 503 || r.header.Get("Retry-After") == "" || strings.Contains(r.raw, "server_error") {
			t.Fatalf("status %d %v: %s", r.status, r.header, r.raw)
		}
		if n := e.emu.Requests(openaiemu.EndpointChatCompletions) - before; n != 3 {
			t.Fatalf("%d attempts, want 3 (first + 2 retries)", n)
		}
	})
	t.Run("a stalled first token times out", func(t *testing.T) {
		r := e.chat(t, `{"message":"[[openaiemu:stall;stall_for=5s]] wait"}`)
		if r.status != 503 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	})
	t.Run("the provider's Retry-After is waited out and passed on", func(t *testing.T) {
		e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointChatCompletions, RetryAfter: 2 * time.Second})
		defer e.emu.ClearFaults()
		before := e.emu.Requests(openaiemu.EndpointChatCompletions)
		r := e.chat(t, `{"message":"limited"}`)
		if r.status != 503 || r.header.Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
		}
		if n := e.emu.Requests(openaiemu.EndpointChatCompletions) - before; n != 3 {
			t.Fatalf("%d attempts, want 3", n)
		}
	})
	t.Run("a Retry-After longer than a job waits is not waited out", func(t *testing.T) {
		e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultOverloaded, Endpoint: openaiemu.EndpointChatCompletions, RetryAfter: time.Minute})
		defer e.emu.ClearFaults()
		before := e.emu.Requests(openaiemu.EndpointChatCompletions)
		r := e.chat(t, `{"message":"overloaded"}`)
		if r.status != 503 || r.header.Get("Retry-After") != "60" {
			t.Fatalf("status %d Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
		}
		if n := e.emu.Requests(openaiemu.EndpointChatCompletions) - before; n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
	})
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id   string
	data string
}

// openStream posts a streamed chat and returns the response for reading events.
func (e *chatEnv) openStream(t *testing.T, body string) *http.Response {
	t.Helper()
	body = `{"stream":true,` + strings.TrimPrefix(body, "{")
	req, _ := http.NewRequest("POST", e.base+"/chat", strings.NewReader(body))
	req.Header.Set("api-key", e.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	return res
}

// readEvents reads events until [DONE] (returned last) or until n events when n > 0.
func readEvents(t *testing.T, rd *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var ev sseEvent
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended without [DONE] after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		case line == "" && ev.data != "":
			out = append(out, ev)
			if ev.data == "[DONE]" || len(out) == n {
				return out
			}
			ev = sseEvent{}
		}
	}
}

type frame struct {
	Type      string  `json:"type"`
	JobID     string  `json:"job_id"`
	Text      string  `json:"text"`
	Code      string  `json:"code"`
	Message   string  `json:"message"`
	Seq       int     `json:"seq"`
	Reply     *string `json:"reply"`
	SessionID *string `json:"session_id"`
}

func parseFrames(t *testing.T, evs []sseEvent) []frame {
	t.Helper()
	var out []frame
	for _, ev := range evs {
		if ev.data == "[DONE]" {
			continue
		}
		var f frame
		if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
			t.Fatalf("frame %q: %v", ev.data, err)
		}
		if ev.id == "" {
			t.Fatalf("frame without id: %q", ev.data)
		}
		out = append(out, f)
	}
	return out
}

func TestChatStream(t *testing.T) {
	e := newChatEnv(t)
	res := e.openStream(t, `{"message":"stream this","session_id":"st"}`)
	defer res.Body.Close()
	if res.Header.Get("X-Accel-Buffering") != "no" || res.Header.Get("Content-Encoding") != "" || res.Header.Get("ETag") != "" {
		t.Fatalf("headers %v", res.Header)
	}
	evs := readEvents(t, bufio.NewReader(res.Body), 0)
	if evs[len(evs)-1].data != "[DONE]" {
		t.Fatal("no [DONE]")
	}
	frames := parseFrames(t, evs)
	var text strings.Builder
	for i, f := range frames {
		if f.JobID != res.Header.Get("X-Job-Id") || f.Seq != i+1 {
			t.Fatalf("frame %d: %+v (job %s)", i, f, res.Header.Get("X-Job-Id"))
		}
		if f.Type == "content" {
			text.WriteString(f.Text)
		}
	}
	done := frames[len(frames)-1]
	if done.Type != "done" || done.Reply == nil || *done.Reply != text.String() || !strings.HasPrefix(text.String(), "Echo: stream this") ||
		done.SessionID == nil || *done.SessionID != "st" {
		t.Fatalf("done %+v, streamed text %q", done, text.String())
	}
	// The streamed job's result is the same as the non-streamed answer would be. The job writes
	// its done frame just before the worker stores its result, so the status may trail the frame.
	var st reply
	testwait.For(t, "the streamed job succeeded", 10*time.Second, func() bool {
		st = e.spec.call(t, "GET", e.base+"/jobs/"+done.JobID, e.key, "")
		return st.body["status"] != "running"
	})
	if st.body["status"] != "succeeded" || st.body["result"].(map[string]any)["reply"] != text.String() {
		t.Fatalf("job %s", st.raw)
	}
}

func TestChatConcurrentStreamsStayApart(t *testing.T) {
	e := newChatEnv(t)
	e.emu.SetChunkDelay(5 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			msg := fmt.Sprintf("stream number %d", i)
			res := e.openStream(t, `{"message":"`+msg+`"}`)
			defer res.Body.Close()
			frames := parseFrames(t, readEvents(t, bufio.NewReader(res.Body), 0))
			var text strings.Builder
			for _, f := range frames {
				if f.JobID != res.Header.Get("X-Job-Id") {
					t.Errorf("stream %d got a frame of job %s", i, f.JobID)
				}
				text.WriteString(f.Text)
			}
			if !strings.HasPrefix(text.String(), "Echo: "+msg) {
				t.Errorf("stream %d text %q", i, text.String())
			}
		})
	}
	wg.Wait()
}

func TestChatStreamResume(t *testing.T) {
	e := newChatEnv(t)
	e.emu.SetChunkDelay(40 * time.Millisecond)
	res := e.openStream(t, `{"message":"resume me after a short break please"}`)
	jobID := res.Header.Get("X-Job-Id")
	head := readEvents(t, bufio.NewReader(res.Body), 3)
	res.Body.Close() // the client drops; it reconnects at once

	req, _ := http.NewRequest("GET", e.base+"/chat/stream/"+jobID, nil)
	req.Header.Set("api-key", e.key)
	req.Header.Set("Last-Event-ID", head[2].id)
	res2, err := http.DefaultClient.Do(req)
	if err != nil || res2.StatusCode != 200 {
		t.Fatalf("resume: %v %v", err, res2)
	}
	defer res2.Body.Close()
	tail := readEvents(t, bufio.NewReader(res2.Body), 0)
	frames := parseFrames(t, append(head, tail...))
	var text strings.Builder
	for i, f := range frames {
		if f.Seq != i+1 {
			t.Fatalf("frame %d has seq %d: a frame was lost or repeated", i, f.Seq)
		}
		text.WriteString(f.Text)
	}
	last := frames[len(frames)-1]
	if last.Type != "done" || *last.Reply != text.String() {
		t.Fatalf("resumed stream: last %+v, text %q", last, text.String())
	}
	// Only the owner may attach.
	other := e.otherKey(t)
	if r := call(t, "GET", e.base+"/chat/stream/"+jobID, other, ""); r.status != 404 {
		t.Fatalf("another caller attached: %d", r.status)
	}
	if r := call(t, "GET", e.base+"/chat/stream/"+jobID, e.key, "", "Last-Event-ID", "garbage"); r.status != 422 {
		t.Fatalf("bad Last-Event-ID: %d", r.status)
	}
}

func TestChatDisconnectStopsTheUpstream(t *testing.T) {
	e := newChatEnv(t)
	e.emu.SetChunkDelay(300 * time.Millisecond) // ~5 s of generation
	res := e.openStream(t, `{"message":"a long answer that nobody will read to the end"}`)
	jobID := res.Header.Get("X-Job-Id")
	readEvents(t, bufio.NewReader(res.Body), 2)
	res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := e.emu.WaitFor(ctx, func(s openaiemu.Stats) bool { return s.StreamsCanceled == 1 }); err != nil {
		t.Fatalf("the upstream stream was not canceled: %+v", e.emu.Stats())
	}
	testwait.For(t, "the job to end canceled", 5*time.Second, func() bool {
		st := call(t, "GET", e.base+"/jobs/"+jobID, e.key, "")
		return st.body["status"] == "canceled"
	})
	// Only what was produced is billed: far less than the whole reply.
	u := call(t, "GET", e.base+"/usage", e.key, "")
	if got := u.body["usage"].(map[string]any)["total_tokens"].(float64); got <= 0 || got >= 40 {
		t.Fatalf("billed %v tokens for a stream cut after two frames", got)
	}
}

func TestChatStreamUpstreamFailsMidway(t *testing.T) {
	e := newChatEnv(t, "OPENAI_IDLE_TIMEOUT", "500ms", "OPENAI_FIRST_TOKEN_TIMEOUT", "1s")
	prompt := func(r reply) any { return r.body["usage"].(map[string]any)["prompt_tokens"] }
	fresh := prompt(e.chat(t, `{"message":"and now?","session_id":"fresh"}`))
	// delay: a stall before the response headers, which the first-token timeout covers too.
	for i, directive := range []string{"cut;after=3", "stream_error;after=3", "stall;after=3;stall_for=5s", "end;after=3", "delay=30s"} {
		t.Run(directive, func(t *testing.T) {
			session := fmt.Sprint("midway-", i)
			res := e.openStream(t, `{"message":"[[openaiemu:`+directive+`]] break midway","session_id":"`+session+`"}`)
			defer res.Body.Close()
			frames := parseFrames(t, readEvents(t, bufio.NewReader(res.Body), 0))
			last := frames[len(frames)-1]
			if last.Type != "error" || last.Code != "upstream_unavailable" || last.Message == "" {
				t.Fatalf("last frame %+v", last)
			}
			// Nothing of the failed turn is in the session: the next turn's prompt is a fresh one.
			if got := prompt(e.chat(t, `{"message":"and now?","session_id":"`+session+`"}`)); got != fresh {
				t.Fatalf("the failed turn was saved: prompt tokens %v, fresh session %v", got, fresh)
			}
			// The error frame goes out just before the job ends: allow it that moment.
			testwait.For(t, "the job to end failed (a stream without done is not complete)", 5*time.Second, func() bool {
				return call(t, "GET", e.base+"/jobs/"+last.JobID, e.key, "").body["status"] == "failed"
			})
			// A failed job (result null, error set) as the document describes it.
			if st := e.spec.call(t, "GET", e.base+"/jobs/"+last.JobID, e.key, ""); st.body["result"] != nil || st.body["error"] == nil {
				t.Fatalf("failed job %s", st.raw)
			}
		})
	}
}

func pngDataURI(t *testing.T, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

// A request id whose first attempt failed is free again: the retry reaches the model, while a
// retry of a successful attempt would not.
func TestChatIdempotencyAfterAFailure(t *testing.T) {
	e := newChatEnv(t, "OPENAI_RETRIES", "0")
	body := `{"message":"try twice","request_id":"req-fail-then-ok"}`
	e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError, Endpoint: openaiemu.EndpointChatCompletions})
	if r := e.chat(t, body); r.status != 503 {
		t.Fatalf("first attempt: %d %s", r.status, r.raw)
	}
	e.emu.ClearFaults()
	r := e.chat(t, body)
	if r.status != 200 || r.header.Get("X-Idempotent-Replay") != "" {
		t.Fatalf("retry after a failure: %d %v %s", r.status, r.header, r.raw)
	}
	if n := e.emu.Requests(openaiemu.EndpointChatCompletions); n != 2 {
		t.Fatalf("the model was called %d times, want 2 (failed attempt, then the retry)", n)
	}
	if again := e.chat(t, body); again.raw != r.raw || again.header.Get("X-Idempotent-Replay") != "true" {
		t.Fatalf("a repeat of the successful attempt: %s", again.raw)
	}
}

// TestChatKeepsHTMLLiteral: the reply the worker stored, the stream's frames and the job's status
// all reach the client with &, < and > as themselves in the raw bytes (the worker's own encoder
// escapes them; the api undoes that on the way out).
func TestChatKeepsHTMLLiteral(t *testing.T) {
	e := newChatEnv(t)
	const msg = "Tom & Jerry <3 >"
	escaped := regexp.MustCompile(`(?i)\\u00(26|3c|3e)`)
	r := e.chat(t, `{"message":"`+msg+`"}`)
	if r.status != 200 || !strings.Contains(r.raw, `"reply":"Echo: `+msg) || escaped.MatchString(r.raw) {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	st := e.spec.call(t, "GET", e.base+"/jobs/"+r.header.Get("X-Job-Id"), e.key, "")
	if !strings.Contains(st.raw, `"reply":"Echo: `+msg) || escaped.MatchString(st.raw) {
		t.Fatalf("job %s", st.raw)
	}
	res := e.openStream(t, `{"message":"`+msg+`"}`)
	defer res.Body.Close()
	evs := readEvents(t, bufio.NewReader(res.Body), 0)
	for _, ev := range evs {
		if escaped.MatchString(ev.data) {
			t.Fatalf("escaped frame %s", ev.data)
		}
	}
	if done := evs[len(evs)-2].data; !strings.Contains(done, `"reply":"Echo: `+msg) {
		t.Fatalf("done frame %s", done)
	}
}
