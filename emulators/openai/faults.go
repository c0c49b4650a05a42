package openaiemu

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tbackend/tbackend/emulators/internal/control"
)

// Endpoint names an emulated endpoint, for request counters and for scoping faults.
type Endpoint string

// The emulated endpoints.
const (
	EndpointChatCompletions  Endpoint = "chat.completions"   // POST /v1/chat/completions
	EndpointImageGenerations Endpoint = "images.generations" // POST /v1/images/generations
	EndpointImageEdits       Endpoint = "images.edits"       // POST /v1/images/edits
	EndpointImageVariations  Endpoint = "images.variations"  // POST /v1/images/variations
	EndpointModelsList       Endpoint = "models.list"        // GET /v1/models
	EndpointModelsRetrieve   Endpoint = "models.retrieve"    // GET /v1/models/{model}
	EndpointFiles            Endpoint = "files"              // GET /files/{name}: image URLs (never faulted)
)

// FaultKind is what goes wrong.
type FaultKind string

// Fault kinds. Error kinds answer before the request is validated, like the real API's
// gateway does; stream kinds act after Fault.After data events of a streamed chat completion
// (on a non-streamed request they act before the body is written).
const (
	// FaultNone injects no error; Delay, FirstTokenDelay and ChunkDelay still apply.
	FaultNone FaultKind = ""
	// FaultRateLimit: 429, Retry-After, {"type":"requests","code":"rate_limit_exceeded"}.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultQuota: 429 {"type":"insufficient_quota","code":"insufficient_quota"}.
	FaultQuota FaultKind = "insufficient_quota"
	// FaultServerError: 500 {"type":"server_error"}.
	FaultServerError FaultKind = "server_error"
	// FaultOverloaded: 503 {"type":"server_error"} "overloaded" with Retry-After.
	FaultOverloaded FaultKind = "overloaded"
	// FaultContentPolicy: images answer 400 {"code":"content_policy_violation"}; chat answers
	// 200 with a refusal (message.content null, message.refusal set) like the real safety system.
	FaultContentPolicy FaultKind = "content_policy"
	// FaultStall stops sending after After events but keeps the connection open until the
	// client leaves or StallFor passes (default 30s); non-streamed: no answer at all.
	FaultStall FaultKind = "stall"
	// FaultCut closes the TCP connection after After events (no [DONE], no final chunk).
	FaultCut FaultKind = "cut"
	// FaultMalformed sends a "data:" line that is not JSON after After events, then carries on
	// normally; non-streamed: a 200 whose JSON body is cut short.
	FaultMalformed FaultKind = "malformed"
	// FaultStreamError sends `data: {"error":{...}}` (server_error) after After events and ends
	// the stream without [DONE], as the real API does on a mid-stream failure; non-streamed: 500.
	FaultStreamError FaultKind = "stream_error"
	// FaultEnd ends the response cleanly after After events: no [DONE], and the chunk with
	// finish_reason not sent unless After reaches it, as a proxy that drops a stream midway
	// does; non-streamed: a 200 with an empty body.
	FaultEnd FaultKind = "end"
)

var faultKinds = []FaultKind{FaultRateLimit, FaultQuota, FaultServerError, FaultOverloaded,
	FaultContentPolicy, FaultStall, FaultCut, FaultMalformed, FaultStreamError, FaultEnd}

// FaultHeader is the per-request fault override. Its value is Fault.String()'s syntax, for
// example "stall;after=3", "rate_limit;retry_after=2s", "delay=300ms", or "none" to shield a
// request from the emulator-wide faults. A request carrying the header ignores SetFaults.
const FaultHeader = control.Header

// FaultDirective starts an in-prompt fault override, for tests that reach the emulator through
// a service that does not forward headers: a chat message text or an image prompt containing
// "[[openaiemu:stall;after=2]]" gets that fault (the directive is removed from the text the
// emulator echoes and counts). The header wins over a directive.
const FaultDirective = "[[openaiemu:"

// Fault describes an injected failure or slowness. The zero Fault does nothing.
type Fault struct {
	Kind FaultKind
	// Endpoint limits an emulator-wide fault to one endpoint; "" means every API endpoint.
	Endpoint Endpoint
	// Times limits an emulator-wide fault to the next Times matching requests; 0 means until cleared.
	Times int
	// After is the number of stream data events sent before a stream fault acts
	// (the first event is the role chunk).
	After int
	// Delay holds the whole answer back (time to response headers).
	Delay time.Duration
	// FirstTokenDelay: streams send their headers at once and the first event after this
	// (non-streamed requests add it to Delay).
	FirstTokenDelay time.Duration
	// ChunkDelay paces stream events, overriding SetChunkDelay when > 0.
	ChunkDelay time.Duration
	// RetryAfter is the Retry-After of rate_limit, insufficient_quota and overloaded (default 1s).
	RetryAfter time.Duration
	// StallFor bounds a stall (default 30s); after it the emulator ends the response.
	StallFor time.Duration
}

const (
	defaultRetryAfter = time.Second
	defaultStallFor   = 30 * time.Second
)

func (f Fault) retryAfter() time.Duration {
	if f.RetryAfter > 0 {
		return f.RetryAfter
	}
	return defaultRetryAfter
}

func (f Fault) stallFor() time.Duration {
	if f.StallFor > 0 {
		return f.StallFor
	}
	return defaultStallFor
}

// isZero reports whether f has no effect.
func (f Fault) isZero() bool {
	return f.Kind == FaultNone && f.Delay == 0 && f.FirstTokenDelay == 0 && f.ChunkDelay == 0
}

// String renders f in the FaultHeader syntax (Endpoint and Times are not part of it).
func (f Fault) String() string {
	var parts []string
	if f.Kind != FaultNone {
		parts = append(parts, string(f.Kind))
	}
	add := func(k string, d time.Duration) {
		if d > 0 {
			parts = append(parts, k+"="+d.String())
		}
	}
	if f.After > 0 {
		parts = append(parts, "after="+strconv.Itoa(f.After))
	}
	add("delay", f.Delay)
	add("first_token_delay", f.FirstTokenDelay)
	add("chunk_delay", f.ChunkDelay)
	add("retry_after", f.RetryAfter)
	add("stall_for", f.StallFor)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ";")
}

// ParseFault parses the FaultHeader syntax: items separated by ";", one bare item naming the
// kind (or "none"), the others key=value with keys after, delay, first_token_delay,
// chunk_delay, retry_after and stall_for (durations in time.ParseDuration form).
func ParseFault(s string) (Fault, error) {
	return control.Parse(s, (*Fault).setKind, (*Fault).setParam)
}

// setKind sets the kind a bare item of the FaultHeader syntax names ("none": no fault).
func (f *Fault) setKind(name string) error {
	if name == "none" {
		return nil
	}
	if !slices.Contains(faultKinds, FaultKind(name)) {
		return fmt.Errorf("unknown fault kind %q", name)
	}
	f.Kind = FaultKind(name)
	return nil
}

// setParam sets one key=value item of the FaultHeader syntax.
func (f *Fault) setParam(k, v string) error {
	if k == "after" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("after: want a non-negative integer, got %q", v)
		}
		f.After = n
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%s: want a duration, got %q", k, v)
	}
	switch k {
	case "delay":
		f.Delay = d
	case "first_token_delay":
		f.FirstTokenDelay = d
	case "chunk_delay":
		f.ChunkDelay = d
	case "retry_after":
		f.RetryAfter = d
	case "stall_for":
		f.StallFor = d
	default:
		return fmt.Errorf("unknown fault parameter %q", k)
	}
	return nil
}

// extractDirective finds and removes FaultDirective overrides in text.
func extractDirective(text string) (clean, spec string, found bool) {
	for {
		i := strings.Index(text, FaultDirective)
		if i < 0 {
			return text, spec, found
		}
		j := strings.Index(text[i:], "]]")
		if j < 0 {
			return text, spec, found
		}
		spec, found = text[i+len(FaultDirective):i+j], true
		text = text[:i] + text[i+j+2:]
	}
}

// Window makes emulator-wide faults apply to the next Times matching requests (0: until
// cleared). After counts stream events, not requests, so no request is let through first.
func (f Fault) Window() (after, times int) { return 0, f.Times }

// SetFaults replaces the emulator-wide faults (none clears them). For each request the first
// fault whose Endpoint matches and whose Times are not used up applies.
func (e *Emulator) SetFaults(faults ...Fault) { e.rules.Set(faults...) }

// AddFault appends an emulator-wide fault after the existing ones.
func (e *Emulator) AddFault(f Fault) { e.rules.Add(f) }

// ClearFaults removes every emulator-wide fault.
func (e *Emulator) ClearFaults() { e.rules.Clear() }

// SetChunkDelay paces every stream: the delay between two stream events (default 0).
func (e *Emulator) SetChunkDelay(d time.Duration) { e.chunkDelay.Store(int64(d)) }

// errBadFault answers a malformed FaultHeader or directive: a bug in the test, not an API error.
func errBadFault(err error) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "emulator_error", Code: "bad_fault",
		Message: "openaiemu: bad fault override: " + err.Error()}
}

// faultFor picks the fault for one request: the header, else an in-prompt directive, else
// the first matching emulator-wide fault (whose use it records).
func (e *Emulator) faultFor(r *http.Request, ep Endpoint, directive string, hasDirective bool) (Fault, *apiError) {
	if h, ok := r.Header[http.CanonicalHeaderKey(FaultHeader)]; ok && len(h) > 0 {
		f, err := ParseFault(h[0])
		if err != nil {
			return Fault{}, errBadFault(err)
		}
		e.noteFault(f)
		return f, nil
	}
	if hasDirective {
		f, err := ParseFault(directive)
		if err != nil {
			return Fault{}, errBadFault(err)
		}
		e.noteFault(f)
		return f, nil
	}
	f, _ := e.rules.Pick(func(f Fault) bool { return f.Endpoint == "" || f.Endpoint == ep })
	e.noteFault(f)
	return f, nil
}

func (e *Emulator) noteFault(f Fault) {
	if !f.isZero() {
		e.counters.Update(func(s *Stats) { s.Faults++ })
	}
}

// errorForFault returns the error answer of an error-kind fault, or nil.
func errorForFault(f Fault, ep Endpoint, model string) *apiError {
	switch f.Kind {
	case FaultRateLimit:
		if model == "" {
			model = "requests"
		}
		secs := f.retryAfter().Seconds()
		return &apiError{Status: http.StatusTooManyRequests, Type: "requests", Code: "rate_limit_exceeded",
			Message: fmt.Sprintf("Rate limit reached for %s in organization org-emulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in %ss. Visit https://platform.openai.com/account/rate-limits to learn more.", model, fmtNum(math.Round(secs*1000)/1000))}
	case FaultQuota:
		return &apiError{Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota",
			Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."}
	case FaultServerError:
		return errServer()
	case FaultOverloaded:
		return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error",
			Message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists."}
	case FaultContentPolicy:
		if isImageEndpoint(ep) {
			return errContentPolicy()
		}
	}
	return nil
}

func errServer() *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error",
		Message: "The server had an error while processing your request. Sorry about that!"}
}

func errContentPolicy() *apiError {
	return invalidRequest("", "content_policy_violation",
		"Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.")
}

func isImageEndpoint(ep Endpoint) bool {
	return ep == EndpointImageGenerations || ep == EndpointImageEdits || ep == EndpointImageVariations
}

// writeFaultError writes an error-kind fault's answer with the headers the real API sends.
func writeFaultError(w http.ResponseWriter, f Fault, e *apiError) {
	if f.Kind == FaultRateLimit || f.Kind == FaultQuota || f.Kind == FaultOverloaded {
		ra := f.retryAfter()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(ra.Milliseconds(), 10))
	}
	if f.Kind == FaultRateLimit {
		w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
		w.Header().Set("X-Ratelimit-Reset-Requests", f.retryAfter().String())
	}
	writeAPIError(w, e)
}

// Stats is a snapshot of the emulator's counters.
type Stats struct {
	// Requests counts requests per endpoint that passed the API-key check.
	Requests map[Endpoint]int64
	// OpenStreams is the number of chat completion streams being written right now.
	OpenStreams int64
	// StreamsStarted counts streams whose response headers were sent.
	StreamsStarted int64
	// StreamsCompleted counts streams that reached data: [DONE].
	StreamsCompleted int64
	// StreamsCanceled counts streams the client abandoned before the end (it closed the
	// connection or canceled the request): the emulator stopped generating.
	StreamsCanceled int64
	// StreamsAborted counts streams the emulator ended early itself (cut, stream_error, a stall
	// that ran out).
	StreamsAborted int64
	// RequestsCanceled counts non-streamed requests the client abandoned while the emulator
	// was delaying or stalling them.
	RequestsCanceled int64
	// Faults counts requests that got a fault (error, stream fault or delay).
	Faults int64
}

func cloneStats(s Stats) Stats {
	s.Requests = maps.Clone(s.Requests)
	return s
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats { return e.counters.Snapshot() }

// Requests returns how many requests reached ep.
func (e *Emulator) Requests(ep Endpoint) int64 {
	return control.Read(e.counters, func(s *Stats) int64 { return s.Requests[ep] })
}

// OpenStreams returns the number of streams being written right now.
func (e *Emulator) OpenStreams() int64 {
	return control.Read(e.counters, func(s *Stats) int64 { return s.OpenStreams })
}

// CanceledStreams returns how many streams the client abandoned before the end.
func (e *Emulator) CanceledStreams() int64 {
	return control.Read(e.counters, func(s *Stats) int64 { return s.StreamsCanceled })
}

// ResetStats zeroes every counter except OpenStreams.
func (e *Emulator) ResetStats() {
	e.counters.Update(func(s *Stats) { *s = Stats{Requests: map[Endpoint]int64{}, OpenStreams: s.OpenStreams} })
}

// WaitFor blocks until cond holds for the counters or ctx ends (streams notice a client
// leaving asynchronously, so tests wait for e.g. CanceledStreams rather than poll).
func (e *Emulator) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	return e.counters.WaitFor(ctx, "openaiemu", cond)
}

func (e *Emulator) count(ep Endpoint) { e.update(func(s *Stats) { s.Requests[ep]++ }) }

func (e *Emulator) update(fn func(s *Stats)) { e.counters.Update(fn) }
