// Package blockfrostemu is a built-in emulator of the Blockfrost API's wire format, used by tests
// and by `tbackend dev` when no BLOCKFROST_PROJECT_ID is set. It checks the project_id header and
// answers with Blockfrost's own bodies and error shape, so blockfrost-go runs against it unchanged.
// The chain endpoints are added by the features that need them.
package blockfrostemu

import (
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// Emulator is a Blockfrost-compatible HTTP server rooted at /api/v0.
type Emulator struct {
	// ProjectID is the project_id header callers must send; empty accepts any non-empty value.
	ProjectID string
	mux       *http.ServeMux
}

// New returns an emulator.
func New(projectID string) *Emulator {
	e := &Emulator{ProjectID: projectID, mux: http.NewServeMux()}
	e.mux.HandleFunc("GET /api/v0/{$}", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"url": "https://blockfrost.io/", "version": "0.1.91"})
	})
	e.mux.HandleFunc("GET /api/v0/health", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]bool{"is_healthy": true})
	})
	e.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusNotFound, "Not Found", "The requested component has not been found.")
	})
	return e
}

// ServeHTTP checks project_id like the real service, then routes.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get("project_id")
	if got == "" || (e.ProjectID != "" && got != e.ProjectID) {
		WriteError(w, http.StatusForbidden, "Forbidden", "Invalid project token.")
		return
	}
	e.mux.ServeHTTP(w, r)
}

// Handle adds a route (features register their endpoints here).
func (e *Emulator) Handle(pattern string, h http.HandlerFunc) { e.mux.HandleFunc(pattern, h) }

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes Blockfrost's error body: {status_code, error, message}.
func WriteError(w http.ResponseWriter, status int, errText, msg string) {
	WriteJSON(w, status, map[string]any{"status_code": status, "error": errText, "message": msg})
}

// Start serves the emulator on a loopback port and returns its base URL (ending in /api/v0).
func (e *Emulator) Start(addr string) (baseURL string, stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/api/v0", func() { _ = srv.Close() }, nil
}
