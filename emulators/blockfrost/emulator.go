// Package blockfrostemu is a built-in emulator of the Blockfrost API's wire format, used by tests
// and by `tbackend dev` when no BLOCKFROST_PROJECT_ID is set. It checks the project_id header and
// answers with Blockfrost's own bodies and error shape (validated in its tests against the
// published OpenAPI document), so blockfrost-go runs against it unchanged:
//
//	emu := blockfrostemu.New("test-project")
//	url, stop, _ := emu.Start("")   // url = "http://127.0.0.1:PORT/api/v0"
//	defer stop()
//	api := blockfrost.NewAPIClient(blockfrost.APIClientOptions{
//		ProjectID: "test-project", Server: url,
//		Client:    &http.Client{Timeout: 10 * time.Second}, // not the default 15 s retrying client
//	})
//
// One emulator serves one network (WithNetwork, default mainnet) and starts with a deterministic
// data set (see Token and the Token* keys): the real SNEK on mainnet plus synthetic tokens under
// open, closed, time-locked, Plutus and multisig policies, one of them with 5,000 holders.
//
// Emulated endpoints (below /api/v0): / , /health, /health/clock, /blocks/latest,
// /assets/{asset}, /assets/{asset}/history, /assets/{asset}/transactions,
// /assets/{asset}/addresses, /assets/policy/{policy_id}, /scripts/{script_hash},
// /scripts/{script_hash}/json, /txs/{hash}, /txs/{hash}/utxos, /txs/{hash}/metadata,
// POST /tx/submit, and what a wallet needs to pay: /addresses/{address}/utxos and
// /epochs/latest/parameters (Fund credits an address at once).
//
// Tests drive the chain with AddTx and AdvanceTip (a submitted or added transaction goes into
// the next block), inject failures with SetFaults or the X-Emulator-Fault header, and observe
// requests through Stats, Requests, PathRequests and WaitFor.
package blockfrostemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tbackend/tbackend/emulators/internal/control"
	"github.com/tbackend/tbackend/internal/ctxsleep"
)

// The endpoints, as the spec names their paths (below /api/v0); counters and faults use them.
const (
	EndpointRoot              = "/"
	EndpointHealth            = "/health"
	EndpointHealthClock       = "/health/clock"
	EndpointBlockLatest       = "/blocks/latest"
	EndpointAsset             = "/assets/{asset}"
	EndpointAssetHistory      = "/assets/{asset}/history"
	EndpointAssetTransactions = "/assets/{asset}/transactions"
	EndpointAssetAddresses    = "/assets/{asset}/addresses"
	EndpointAssetsPolicy      = "/assets/policy/{policy_id}"
	EndpointScript            = "/scripts/{script_hash}"
	EndpointScriptJSON        = "/scripts/{script_hash}/json"
	EndpointTx                = "/txs/{hash}"
	EndpointTxUTXOs           = "/txs/{hash}/utxos"
	EndpointTxMetadata        = "/txs/{hash}/metadata"
	EndpointTxSubmit          = "/tx/submit"
	EndpointAddressUTXOs      = "/addresses/{address}/utxos"
	EndpointEpochParameters   = "/epochs/latest/parameters"
	EndpointUnknown           = "(unknown)"
)

// APIPrefix is the path prefix every endpoint lives under.
const APIPrefix = "/api/v0"

// Emulator is a Blockfrost-compatible HTTP server rooted at /api/v0. It is safe for concurrent
// use; ProjectID must not change while it serves.
type Emulator struct {
	// ProjectID is the project_id header callers must send; empty accepts any non-empty value.
	ProjectID string
	mux       *http.ServeMux
	routes    []route
	network   Network
	params    netParams
	chain     *chain
	tokens    map[string]Token

	rules    control.Rules[Fault]
	counters *control.Counters[Stats]

	live      time.Duration
	stopLive  chan struct{}
	closeOnce sync.Once
	now       func() time.Time
}

type options struct {
	network Network
	live    time.Duration
	now     func() time.Time
}

// Option configures New.
type Option func(*options)

// WithNetwork picks the network (default Mainnet): address prefixes and headers, the time line
// (slots, epochs) and the data set (SNEK exists on mainnet only). An unknown network panics;
// use ParseNetwork on user input.
func WithNetwork(n Network) Option { return func(o *options) { o.network = n } }

// WithLiveChain anchors the tip to the wall clock and produces a block every interval until
// Close (or the stop function of Start), so submitted transactions confirm on their own — what
// `tbackend dev` wants. Without it the tip is fixed (slot 150,000,000 on mainnet) and moves only
// with AdvanceTip, which is what tests want.
func WithLiveChain(blockEvery time.Duration) Option {
	return func(o *options) { o.live = blockEvery }
}

// WithClock sets the wall clock a live chain follows (default time.Now): a test that anchors the
// tip a minute in the past can place blocks before and after "now".
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns an emulator with its data set built.
func New(projectID string, opts ...Option) *Emulator {
	o := options{network: Mainnet, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := paramsFor(o.network)
	if err != nil {
		panic(err)
	}
	tipHeight, tipSlot := p.tipHeight, p.tipSlot
	if o.live > 0 {
		now := p.timeSlot(o.now().Unix())
		tipHeight += (now - tipSlot) / 20
		tipSlot = now
	}
	e := &Emulator{ProjectID: projectID, mux: http.NewServeMux(), network: o.network, params: p,
		chain: newChain(o.network, p, tipHeight, tipSlot), counters: control.NewCounters(newStats(), cloneStats),
		live: o.live, now: o.now}
	e.tokens = buildDataset(e.chain)
	e.registerRoutes()
	e.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeInvalidPath(w) })
	if o.live > 0 {
		e.stopLive = make(chan struct{})
		go e.produceBlocks()
	}
	return e
}

func (e *Emulator) produceBlocks() {
	t := time.NewTicker(e.live)
	defer t.Stop()
	for {
		select {
		case <-e.stopLive:
			return
		case <-t.C:
			e.chain.mu.Lock()
			e.chain.advance(1, e.params.timeSlot(e.now().Unix()))
			e.chain.mu.Unlock()
		}
	}
}

// Close stops the block production of a live chain. It is safe to call more than once.
func (e *Emulator) Close() {
	e.closeOnce.Do(func() {
		if e.stopLive != nil {
			close(e.stopLive)
		}
	})
}

// Network is the network the emulator serves.
func (e *Emulator) Network() Network { return e.network }

// ServeHTTP counts the request, checks project_id like the real service (/health needs none),
// applies any fault, then routes.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, underAPI := strings.CutPrefix(r.URL.Path, APIPrefix)
	if rel == "" {
		rel = "/"
	}
	endpoint := EndpointUnknown
	var rt *route
	var params map[string]string
	if underAPI && (rel == "/" || strings.HasPrefix(rel, "/")) {
		rt, params = e.match(r.Method, rel)
	}
	if rt != nil {
		endpoint = rt.pattern
	} else if _, pattern := e.mux.Handler(r); pattern != "/" && pattern != "" {
		endpoint = pattern
	}
	done := e.begin(endpoint, canonicalPath(rel+"?"+r.URL.RawQuery))
	defer done()

	if endpoint != EndpointHealth {
		got := r.Header.Get("project_id")
		if got == "" || (e.ProjectID != "" && got != e.ProjectID) {
			e.counters.Update(func(s *Stats) { s.Forbidden++ })
			msg := "Invalid project token."
			if got == "" {
				msg = "Missing project token. Please include project_id in your request."
			}
			WriteError(w, http.StatusForbidden, "Forbidden", msg)
			return
		}
	}

	f, err := e.faultFor(r, endpoint, rel)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	if !f.isZero() {
		w.Header().Set(FaultHeader, f.String()) // what was applied, for debugging
	}
	if !ctxsleep.For(r.Context(), f.Delay) {
		return
	}
	if faultError(w, f) {
		return
	}
	if f.Kind == FaultMalformed {
		hw := &halfWriter{ResponseWriter: w}
		defer hw.flush()
		w = hw
	}
	if rt != nil {
		rt.h(w, r, params)
		return
	}
	e.mux.ServeHTTP(w, r)
}

// Handle adds a route to the fallback mux (features register extra endpoints here, with
// net/http patterns such as "GET /api/v0/epochs/latest"). The emulated endpoints take precedence.
func (e *Emulator) Handle(pattern string, h http.HandlerFunc) { e.mux.HandleFunc(pattern, h) }

// WriteJSON writes v as a JSON response, unescaped like Blockfrost's (no \u003c for <).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"status_code":500,"error":"Internal Server Error","message":"An unexpected response was received from the backend."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// WriteError writes Blockfrost's error body: {status_code, error, message}.
func WriteError(w http.ResponseWriter, status int, errText, msg string) {
	WriteJSON(w, status, struct {
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
		Message    string `json:"message"`
	}{status, errText, msg})
}

func writeNotFound(w http.ResponseWriter) {
	WriteError(w, http.StatusNotFound, "Not Found", "The requested component has not been found.")
}

func writeBadRequest(w http.ResponseWriter, msg string) {
	WriteError(w, http.StatusBadRequest, "Bad Request", msg)
}

// writeInvalidPath is what Blockfrost answers for a path (or method) it does not have.
func writeInvalidPath(w http.ResponseWriter) {
	writeBadRequest(w, "Invalid path. Please check https://docs.blockfrost.io/")
}

// Start serves the emulator on a loopback port and returns its base URL (ending in /api/v0).
// stop closes the server and the emulator.
func (e *Emulator) Start(addr string) (baseURL string, stop func(), err error) {
	base, stopServer, err := control.Serve(addr, e)
	if err != nil {
		return "", nil, err
	}
	return base + APIPrefix, func() { stopServer(); e.Close() }, nil
}

// --- routing ---------------------------------------------------------------------------

type route struct {
	method, pattern string
	segs            []string
	h               func(http.ResponseWriter, *http.Request, map[string]string)
}

func (e *Emulator) handle(method, pattern string, h func(http.ResponseWriter, *http.Request, map[string]string)) {
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	if pattern == "/" {
		segs = nil
	}
	e.routes = append(e.routes, route{method: method, pattern: pattern, segs: segs, h: h})
}

// match finds the first route (in registration order: literal paths before parameterised ones)
// whose method and segments fit.
func (e *Emulator) match(method, rel string) (*route, map[string]string) {
	var segs []string
	if t := strings.Trim(rel, "/"); t != "" {
		if strings.HasSuffix(rel, "/") {
			return nil, nil
		}
		segs = strings.Split(t, "/")
	}
	for i := range e.routes {
		rt := &e.routes[i]
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		var params map[string]string
		ok := true
		for j, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				if segs[j] == "" {
					ok = false
					break
				}
				if params == nil {
					params = map[string]string{}
				}
				params[strings.Trim(s, "{}")] = segs[j]
			} else if s != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

// canonicalPath sorts a path's query parameters so equal requests count together.
func canonicalPath(p string) string {
	path, query, _ := strings.Cut(p, "?")
	if query == "" {
		return path
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return p
	}
	return path + "?" + v.Encode() // Encode sorts by key
}
