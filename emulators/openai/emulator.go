// Package openaiemu is a built-in emulator of the OpenAI API's wire format, used by tests and by
// `tbackend dev` when no OPENAI_API_KEY is set. It speaks exactly what the real API speaks (bodies,
// status codes, error shape, server-sent events), so the real client library runs against it
// unchanged: point a client at the base URL Start returns (it ends in /v1), e.g. for
// github.com/sashabaranov/go-openai:
//
//	url, stop, _ := openaiemu.New("sk-test").Start("")
//	cfg := openai.DefaultConfig("sk-test")
//	cfg.BaseURL = url // "http://127.0.0.1:PORT/v1"
//	client := openai.NewClientWithConfig(cfg)
//
// With httptest.NewServer(emu) the base URL is srv.URL + "/v1".
//
// Emulated: POST /v1/chat/completions (plain, JSON mode, structured outputs, image inputs,
// streaming with usage), GET /v1/models, GET /v1/models/{model}, POST /v1/images/generations,
// /v1/images/edits and /v1/images/variations (real PNGs, served under /files/ for url answers).
// Replies are deterministic (see Reply, Tokens and CountTokens) so tests can assert content.
//
// Tests inject failures with SetFaults/AddFault (emulator-wide) or per request with the
// FaultHeader header or a FaultDirective in the prompt, and observe the emulator through
// Stats, Requests, OpenStreams, CanceledStreams and WaitFor.
package openaiemu

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tbackend/tbackend/emulators/internal/control"
	"github.com/tbackend/tbackend/internal/ctxsleep"
)

// maxBody bounds request bodies (image uploads included).
const maxBody = 64 << 20

// Emulator is an OpenAI-compatible HTTP server. It is safe for concurrent use; Key and Models
// must not change while it serves.
type Emulator struct {
	// Key is the bearer token callers must send; empty accepts any.
	Key string
	// Models are the models that exist: requests naming another model get 404 model_not_found.
	Models []string
	mux    *http.ServeMux

	rules    control.Rules[Fault]
	counters *control.Counters[Stats]

	chunkDelay atomic.Int64
	files      *fileStore
}

// New returns an emulator serving the given models (default: gpt-4o-mini and gpt-image-1).
func New(key string, models ...string) *Emulator {
	if len(models) == 0 {
		models = []string{"gpt-4o-mini", "gpt-image-1"}
	}
	e := &Emulator{Key: key, Models: models, mux: http.NewServeMux(),
		counters: control.NewCounters(Stats{Requests: map[Endpoint]int64{}}, cloneStats),
		files:    newFileStore(512)}
	e.mux.HandleFunc("GET /v1/models", e.listModels)
	e.mux.HandleFunc("GET /v1/models/{model...}", e.retrieveModel)
	e.mux.HandleFunc("POST /v1/chat/completions", e.chatCompletions)
	e.mux.HandleFunc("POST /v1/images/generations", e.imageGenerations)
	e.mux.HandleFunc("POST /v1/images/edits", e.imageEdits)
	e.mux.HandleFunc("POST /v1/images/variations", e.imageVariations)
	e.mux.HandleFunc("GET /files/{name}", e.serveFile)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "invalid_request_error", "unknown_url",
			"Unknown request URL: "+r.Method+" "+r.URL.Path+". Please check the URL for typos, or see the docs at https://platform.openai.com/docs/api-reference/.")
	})
	return e
}

// ServeHTTP checks the bearer token like the real API, then routes. Image URLs under /files/
// need no key, like the real API's pre-signed image URLs.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Request-Id", "req_"+randomHex(32))
	if strings.HasPrefix(r.URL.Path, "/files/") {
		e.mux.ServeHTTP(w, r)
		return
	}
	h.Set("Openai-Version", "2020-10-01")
	h.Set("Openai-Organization", "org-emulator")
	if e.Key != "" {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			WriteError(w, http.StatusUnauthorized, "invalid_request_error", "",
				"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
			return
		}
		if auth != "Bearer "+e.Key {
			WriteError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
				"Incorrect API key provided: "+maskKey(strings.TrimPrefix(auth, "Bearer "))+". You can find your API key at https://platform.openai.com/account/api-keys.")
			return
		}
	}
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
	h.Set("X-Ratelimit-Reset-Requests", "6ms")
	h.Set("X-Ratelimit-Limit-Tokens", "10000000")
	h.Set("X-Ratelimit-Remaining-Tokens", "9999000")
	h.Set("X-Ratelimit-Reset-Tokens", "6ms")
	e.mux.ServeHTTP(w, r)
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", 12) + k[len(k)-4:]
}

// Handle adds a route (features register their endpoints here).
func (e *Emulator) Handle(pattern string, h http.HandlerFunc) { e.mux.HandleFunc(pattern, h) }

func (e *Emulator) hasModel(m string) bool { return slices.Contains(e.Models, m) }

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func newModelObject(id string) modelObject {
	return modelObject{ID: id, Object: "model", Created: 1700000000, OwnedBy: "system"}
}

func (e *Emulator) listModels(w http.ResponseWriter, r *http.Request) {
	e.count(EndpointModelsList)
	f, ok := e.begin(w, r, EndpointModelsList, nil, "", false)
	if !ok {
		return
	}
	out := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: []modelObject{}}
	for _, m := range e.Models {
		out.Data = append(out.Data, newModelObject(m))
	}
	e.finish(w, r, f, out)
}

func (e *Emulator) retrieveModel(w http.ResponseWriter, r *http.Request) {
	e.count(EndpointModelsRetrieve)
	f, ok := e.begin(w, r, EndpointModelsRetrieve, nil, "", false)
	if !ok {
		return
	}
	id := r.PathValue("model")
	if !e.hasModel(id) {
		writeAPIError(w, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model",
			Code: "model_not_found", Message: "The model '" + id + "' does not exist"})
		return
	}
	e.finish(w, r, f, newModelObject(id))
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the API's error body: {"error": {message, type, param, code}}, with param
// null and code null when code is empty.
func WriteError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeAPIError(w, &apiError{Status: status, Type: typ, Code: code, Message: msg})
}

// Start serves the emulator on a loopback port and returns its base URL (ending in /v1).
func (e *Emulator) Start(addr string) (baseURL string, stop func(), err error) {
	base, stop, err := control.Serve(addr, e)
	if err != nil {
		return "", nil, err
	}
	return base + "/v1", stop, nil
}

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, invalidRequest("", "", "The request body could not be read: %v.", err)
	}
	return body, nil
}

// beginJSON counts a JSON request, reads its body and begins it (see begin) with the model it
// names and, on an endpoint that streams, its stream flag. Both are read leniently: a body
// that does not decode still gets its fault first, and its validation error after.
func (e *Emulator) beginJSON(w http.ResponseWriter, r *http.Request, ep Endpoint, streams bool) ([]byte, Fault, bool) {
	e.count(ep)
	body, aerr := readBody(w, r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return nil, Fault{}, false
	}
	var peek struct {
		Model  any `json:"model"`
		Stream any `json:"stream"`
	}
	_ = json.Unmarshal(body, &peek)
	model, _ := peek.Model.(string)
	stream, _ := peek.Stream.(bool)
	f, ok := e.begin(w, r, ep, body, model, streams && stream)
	return body, f, ok
}

// begin picks the request's fault and applies its delay and error answer. It reports false
// when the request has been answered (or abandoned by the client).
func (e *Emulator) begin(w http.ResponseWriter, r *http.Request, ep Endpoint, body []byte, model string, stream bool) (Fault, bool) {
	var spec string
	var found bool
	if bytes.Contains(body, []byte(FaultDirective)) {
		_, spec, found = extractDirective(string(body))
	}
	f, aerr := e.faultFor(r, ep, spec, found)
	if aerr != nil {
		writeAPIError(w, aerr)
		return f, false
	}
	delay := f.Delay
	if !stream {
		delay += f.FirstTokenDelay
	}
	if !ctxsleep.For(r.Context(), delay) {
		e.update(func(s *Stats) { s.RequestsCanceled++ })
		return f, false
	}
	if aerr := errorForFault(f, ep, model); aerr != nil {
		writeFaultError(w, f, aerr)
		return f, false
	}
	return f, true
}

// finish writes a non-streamed 200 answer, applying stream-kind faults.
func (e *Emulator) finish(w http.ResponseWriter, r *http.Request, f Fault, v any) {
	switch f.Kind {
	case FaultStall:
		if ctxsleep.For(r.Context(), f.stallFor()) {
			cut(w, false)
		} else {
			e.update(func(s *Stats) { s.RequestsCanceled++ })
		}
		return
	case FaultCut:
		cut(w, false)
		return
	case FaultStreamError:
		writeAPIError(w, errServer())
		return
	case FaultEnd:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	case FaultMalformed:
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

// cut drops the connection: hijacked and closed (HTTP/1), or the stream reset (HTTP/2).
func cut(w http.ResponseWriter, flush bool) {
	rc := http.NewResponseController(w)
	if flush {
		_ = rc.Flush()
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// streamErrorEvent is what the real API sends when generation fails mid-stream.
var streamErrorEvent = func() []byte {
	b, _ := json.Marshal(errServer().body())
	return b
}()

// stream writes server-sent events: each event as "data: <json>\n\n", flushed, paced by the
// chunk delay, then "data: [DONE]\n\n"; stream-kind faults act after f.After events.
func (e *Emulator) stream(w http.ResponseWriter, r *http.Request, f Fault, events [][]byte) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	e.update(func(s *Stats) { s.StreamsStarted++; s.OpenStreams++ })
	outcome := func(s *Stats) *int64 { return &s.StreamsCompleted }
	defer func() {
		e.update(func(s *Stats) { s.OpenStreams--; *outcome(s)++ })
	}()
	canceled := func() { outcome = func(s *Stats) *int64 { return &s.StreamsCanceled } }
	aborted := func() { outcome = func(s *Stats) *int64 { return &s.StreamsAborted } }

	pace := f.ChunkDelay
	if pace <= 0 {
		pace = time.Duration(e.chunkDelay.Load())
	}
	if !ctxsleep.For(ctx, f.FirstTokenDelay) {
		canceled()
		return
	}
	send := func(data []byte) bool {
		if ctx.Err() != nil {
			return false
		}
		if _, err := w.Write(append(append([]byte("data: "), data...), '\n', '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	after := min(f.After, len(events))
	for i := 0; i <= len(events); i++ {
		if i == after {
			switch f.Kind {
			case FaultStall:
				if ctxsleep.For(ctx, f.stallFor()) {
					aborted()
					cut(w, true)
				} else {
					canceled()
				}
				return
			case FaultCut:
				aborted()
				cut(w, true)
				return
			case FaultEnd:
				aborted()
				return
			case FaultStreamError:
				aborted()
				if !send(streamErrorEvent) {
					canceled()
				}
				return
			case FaultMalformed:
				if !send([]byte(`{"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{"delta":{"content":`)) {
					canceled()
					return
				}
			}
		}
		if i == len(events) {
			break
		}
		if i > 0 && !ctxsleep.For(ctx, pace) {
			canceled()
			return
		}
		if !send(events[i]) {
			canceled()
			return
		}
	}
	if !send([]byte("[DONE]")) {
		canceled()
	}
}

const idLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idLetters[rand.IntN(len(idLetters))]
	}
	return string(b)
}

func randomHex(n int) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hexd[rand.IntN(16)]
	}
	return string(b)
}
