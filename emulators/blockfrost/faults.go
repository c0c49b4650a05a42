package blockfrostemu

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tbackend/tbackend/emulators/internal/control"
)

// FaultHeader overrides the fault of one request: its value is a fault spec (see ParseFault).
// With times=N (and after=M) the spec is counted per distinct header value, so a client that
// sends the same header on every retry sees M successes, then N failures, then successes.
const FaultHeader = control.Header

// FaultKind is what goes wrong.
type FaultKind string

// Fault kinds, with the bodies Blockfrost sends for them.
const (
	// FaultNone injects no error; Delay still applies ("slow=300ms" alone).
	FaultNone FaultKind = ""
	// FaultRateLimit: 429 {"error":"Project Over Limit","message":"Usage is over limit."} with
	// Retry-After (the per-IP rate limit: 10 requests/s, bursts of 500).
	FaultRateLimit FaultKind = "rate_limit"
	// FaultDailyLimit: 402, the same body: the project's daily request quota is used up.
	FaultDailyLimit FaultKind = "daily_limit"
	// FaultBanned: 418 {"error":"Requested Banned","message":"IP has been auto-banned for flooding."}.
	FaultBanned FaultKind = "banned"
	// FaultServerError: 500 {"error":"Internal Server Error","message":"An unexpected response was received from the backend."}.
	FaultServerError FaultKind = "server_error"
	// FaultMempoolFull: 425 {"error":"Mempool Full","message":"Mempool is full, please try resubmitting again later."}.
	FaultMempoolFull FaultKind = "mempool_full"
	// FaultDrop closes the connection without an answer.
	FaultDrop FaultKind = "drop"
	// FaultMalformed answers 200 with the real body cut in half (invalid JSON).
	FaultMalformed FaultKind = "malformed"
)

var faultKinds = map[string]FaultKind{
	"rate_limit": FaultRateLimit, "429": FaultRateLimit,
	"daily_limit": FaultDailyLimit, "over_limit": FaultDailyLimit, "402": FaultDailyLimit,
	"banned": FaultBanned, "418": FaultBanned,
	"server_error": FaultServerError, "500": FaultServerError,
	"mempool_full": FaultMempoolFull, "425": FaultMempoolFull,
	"drop": FaultDrop, "malformed": FaultMalformed,
}

// Fault is an injected failure.
type Fault struct {
	Kind FaultKind
	// Endpoint limits the fault to one endpoint (an Endpoint* constant, e.g.
	// EndpointAssetAddresses); empty matches every request.
	Endpoint string
	// Path limits the fault to one request path below /api/v0 (without the query), e.g.
	// "/assets/<unit>/addresses".
	Path string
	// Delay is waited before answering (or failing).
	Delay time.Duration
	// RetryAfter is the Retry-After of rate_limit answers (default 1s; whole seconds on the wire).
	RetryAfter time.Duration
	// Times is how many matching requests fail (0: all of them).
	Times int
	// After lets this many matching requests through before the fault starts.
	After int
}

func (f Fault) isZero() bool { return f.Kind == FaultNone && f.Delay == 0 }

// ParseFault reads a fault spec: a semicolon-separated list of a kind and key=value
// parameters, in any order, e.g. "rate_limit;retry_after=2s", "server_error;times=2",
// "slow=300ms", "mempool_full;endpoint=/tx/submit", "drop;after=3;times=1".
// Kinds: rate_limit (429), daily_limit (402), banned (418), server_error (500),
// mempool_full (425), drop, malformed. Parameters: slow (or delay), retry_after, times, after,
// endpoint, path. Durations use Go syntax; a bare number is milliseconds.
func ParseFault(spec string) (Fault, error) {
	return control.Parse(spec, (*Fault).setKind, (*Fault).setParam)
}

// setKind sets the kind a bare item of a fault spec names (its name or its status).
func (f *Fault) setKind(name string) error {
	kind, ok := faultKinds[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("unknown fault kind %q", strings.ToLower(name))
	}
	if f.Kind != FaultNone && f.Kind != kind {
		return fmt.Errorf("two fault kinds: %q and %q", f.Kind, kind)
	}
	f.Kind = kind
	return nil
}

// setParam sets one key=value item of a fault spec.
func (f *Fault) setParam(k, v string) error {
	switch k = strings.ToLower(k); k {
	case "slow", "delay", "retry_after":
		d, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if k == "retry_after" {
			f.RetryAfter = d
		} else {
			f.Delay = d
		}
	case "times", "after":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s must be a non-negative integer", k)
		}
		if k == "times" {
			f.Times = n
		} else {
			f.After = n
		}
	case "endpoint":
		f.Endpoint = v
	case "path":
		f.Path = v
	default:
		return fmt.Errorf("unknown fault parameter %q", k)
	}
	return nil
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// String renders the fault as a spec ParseFault reads back.
func (f Fault) String() string {
	var parts []string
	if f.Kind != FaultNone {
		parts = append(parts, string(f.Kind))
	}
	if f.Delay > 0 {
		parts = append(parts, "slow="+f.Delay.String())
	}
	if f.RetryAfter > 0 {
		parts = append(parts, "retry_after="+f.RetryAfter.String())
	}
	if f.Times > 0 {
		parts = append(parts, "times="+strconv.Itoa(f.Times))
	}
	if f.After > 0 {
		parts = append(parts, "after="+strconv.Itoa(f.After))
	}
	if f.Endpoint != "" {
		parts = append(parts, "endpoint="+f.Endpoint)
	}
	if f.Path != "" {
		parts = append(parts, "path="+f.Path)
	}
	return strings.Join(parts, ";")
}

func (f Fault) matches(endpoint, path string) bool {
	return (f.Endpoint == "" || f.Endpoint == endpoint) && (f.Path == "" || f.Path == path)
}

// Window lets After matching requests through, then fails Times of them (0: all the rest).
func (f Fault) Window() (after, times int) { return f.After, f.Times }

// SetFaults replaces the emulator-wide faults (none clears them). For each request the first
// fault that matches it and is not used up applies.
func (e *Emulator) SetFaults(faults ...Fault) { e.rules.Set(faults...) }

// AddFault appends an emulator-wide fault after the existing ones.
func (e *Emulator) AddFault(f Fault) { e.rules.Add(f) }

// ClearFaults removes every emulator-wide fault (and forgets header-fault counts).
func (e *Emulator) ClearFaults() { e.rules.Clear() }

var errBadFault = errors.New("blockfrostemu: bad " + FaultHeader)

// faultFor picks the fault of one request: the header's, else the first matching
// emulator-wide fault.
func (e *Emulator) faultFor(r *http.Request, endpoint, path string) (Fault, error) {
	matches := func(f Fault) bool { return f.matches(endpoint, path) }
	if spec := r.Header.Get(FaultHeader); spec != "" {
		f, err := ParseFault(spec)
		if err != nil {
			return Fault{}, fmt.Errorf("%w: %v", errBadFault, err)
		}
		if !matches(f) || !e.rules.TakeHeader(spec, f) {
			return Fault{}, nil
		}
		e.noteFault(f)
		return f, nil
	}
	f, _ := e.rules.Pick(matches)
	e.noteFault(f)
	return f, nil
}

func (e *Emulator) noteFault(f Fault) {
	if !f.isZero() {
		e.counters.Update(func(s *Stats) { s.Faults++ })
	}
}

// faultError answers an error-kind fault; it reports false for other kinds.
func faultError(w http.ResponseWriter, f Fault) bool {
	switch f.Kind {
	case FaultRateLimit:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
		WriteError(w, http.StatusTooManyRequests, "Project Over Limit", "Usage is over limit.")
	case FaultDailyLimit:
		WriteError(w, http.StatusPaymentRequired, "Project Over Limit", "Usage is over limit.")
	case FaultBanned:
		WriteError(w, http.StatusTeapot, "Requested Banned", "IP has been auto-banned for flooding.")
	case FaultServerError:
		WriteError(w, http.StatusInternalServerError, "Internal Server Error", "An unexpected response was received from the backend.")
	case FaultMempoolFull:
		WriteError(w, http.StatusTooEarly, "Mempool Full", "Mempool is full, please try resubmitting again later.")
	case FaultDrop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		panic(http.ErrAbortHandler) // net/http drops the connection quietly
	default:
		return false
	}
	return true
}

// halfWriter buffers a 200 answer and sends only its first half (FaultMalformed).
type halfWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (h *halfWriter) WriteHeader(status int) { h.status = status }
func (h *halfWriter) Write(b []byte) (int, error) {
	h.buf = append(h.buf, b...)
	return len(b), nil
}

func (h *halfWriter) flush() {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	body := h.buf
	if h.status == http.StatusOK {
		body = body[:len(body)/2]
	}
	h.ResponseWriter.Header().Del("Content-Length")
	h.ResponseWriter.WriteHeader(h.status)
	_, _ = h.ResponseWriter.Write(body)
}

// Stats is a snapshot of the emulator's counters.
type Stats struct {
	// Requests counts requests per endpoint (an Endpoint* constant such as
	// "/assets/{asset}/addresses"; "(unknown)" for paths the API does not have). Every request
	// counts, faulted and unauthorised ones included.
	Requests map[string]int64
	// Paths counts requests per path and query below /api/v0, query parameters sorted, e.g.
	// "/assets/<unit>/addresses?count=100&page=2".
	Paths map[string]int64
	// InFlight is the number of requests being answered right now, per endpoint.
	InFlight map[string]int64
	// MaxInFlight is the most requests ever answered at the same time, per endpoint: 1 proves
	// a caller never sent concurrent identical scans.
	MaxInFlight map[string]int64
	// Total counts every request.
	Total int64
	// Faults counts requests that got a fault (an error, a drop, a malformed body or a delay).
	Faults int64
	// Forbidden counts requests refused for their project_id.
	Forbidden int64
	// Submitted counts transactions accepted by /tx/submit.
	Submitted int64
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats { return e.counters.Snapshot() }

func newStats() Stats {
	return Stats{Requests: map[string]int64{}, Paths: map[string]int64{}, InFlight: map[string]int64{},
		MaxInFlight: map[string]int64{}}
}

func cloneStats(s Stats) Stats {
	s.Requests = maps.Clone(s.Requests)
	s.Paths = maps.Clone(s.Paths)
	s.InFlight = maps.Clone(s.InFlight)
	s.MaxInFlight = maps.Clone(s.MaxInFlight)
	return s
}

// Requests returns how many requests reached an endpoint (an Endpoint* constant).
func (e *Emulator) Requests(endpoint string) int64 {
	return control.Read(e.counters, func(s *Stats) int64 { return s.Requests[endpoint] })
}

// PathRequests returns how many requests asked for exactly this path and query (below /api/v0,
// query parameters in any order), e.g. "/assets/<unit>/addresses?page=2".
func (e *Emulator) PathRequests(pathAndQuery string) int64 {
	p := canonicalPath(pathAndQuery)
	return control.Read(e.counters, func(s *Stats) int64 { return s.Paths[p] })
}

// ResetStats zeroes the counters (requests still being answered stay in InFlight).
func (e *Emulator) ResetStats() {
	e.counters.Update(func(s *Stats) {
		inflight := s.InFlight
		*s = newStats()
		s.InFlight = inflight
		for k, v := range inflight {
			if v > 0 {
				s.MaxInFlight[k] = v
			}
		}
	})
}

// WaitFor blocks until cond holds for the counters or ctx ends.
func (e *Emulator) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	return e.counters.WaitFor(ctx, "blockfrostemu", cond)
}

// begin counts a request; the returned func ends it.
func (e *Emulator) begin(endpoint, path string) func() {
	e.counters.Update(func(s *Stats) {
		s.Total++
		s.Requests[endpoint]++
		s.Paths[path]++
		s.InFlight[endpoint]++
		s.MaxInFlight[endpoint] = max(s.MaxInFlight[endpoint], s.InFlight[endpoint])
	})
	return func() { e.counters.Update(func(s *Stats) { s.InFlight[endpoint]-- }) }
}
