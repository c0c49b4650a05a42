// Package openaiemu is a built-in emulator of the OpenAI API's wire format, used by tests and by
// `tbackend dev` when no OPENAI_API_KEY is set. It speaks exactly what the real API speaks (bodies,
// status codes, error shape), so the real client library runs against it unchanged. The chat and
// images endpoints are added by their features; this file holds the server and the shared parts.
package openaiemu

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// Emulator is an OpenAI-compatible HTTP server.
type Emulator struct {
	// Key is the bearer token callers must send; empty accepts any.
	Key    string
	Models []string
	mux    *http.ServeMux
}

// New returns an emulator serving the given models.
func New(key string, models ...string) *Emulator {
	if len(models) == 0 {
		models = []string{"gpt-4o-mini", "gpt-image-1"}
	}
	e := &Emulator{Key: key, Models: models, mux: http.NewServeMux()}
	e.mux.HandleFunc("GET /v1/models", e.listModels)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "invalid_request_error", "unknown_url",
			"Unknown request URL: "+r.Method+" "+r.URL.Path+".")
	})
	return e
}

// ServeHTTP checks the bearer token like the real API, then routes.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.Key != "" && r.Header.Get("Authorization") != "Bearer "+e.Key {
		WriteError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided.")
		return
	}
	e.mux.ServeHTTP(w, r)
}

// Handle adds a route (features register their endpoints here).
func (e *Emulator) Handle(pattern string, h http.HandlerFunc) { e.mux.HandleFunc(pattern, h) }

func (e *Emulator) listModels(w http.ResponseWriter, _ *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, m := range e.Models {
		out.Data = append(out.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "system"})
	}
	WriteJSON(w, http.StatusOK, out)
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the API's error body: {"error": {message, type, param, code}}.
func WriteError(w http.ResponseWriter, status int, typ, code, msg string) {
	WriteJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}})
}

// Start serves the emulator on a loopback port and returns its base URL (ending in /v1).
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
	return "http://" + strings.TrimSuffix(ln.Addr().String(), "/") + "/v1", func() { _ = srv.Close() }, nil
}
