package api

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/internal/syncbuf"
)

// Every request leaves one access line with its id, route pattern, status, latency, key and
// client; below info level, none.
func TestAccessLog(t *testing.T) {
	var buf syncbuf.Buffer
	h := newHarness(t, func(_ *Config, d *Deps) { d.Log = slog.New(slog.NewJSONHandler(&buf, nil)) })
	k, plain := h.key(0)
	h.do("GET", "/health", "", "X-Request-Id", "acc-1")
	h.do("GET", "/usage", "", "api-key", plain, "X-Request-Id", "acc-2")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("access lines: %v", lines)
	}
	for i, want := range []map[string]any{
		{"request_id": "acc-1", "method": "GET", "route": "/health", "status": float64(200), "key_id": ""},
		{"request_id": "acc-2", "method": "GET", "route": "/usage", "status": float64(200), "key_id": k.ID},
	} {
		for f, v := range want {
			if lines[i][f] != v {
				t.Errorf("line %d: %s = %v, want %v", i, f, lines[i][f], v)
			}
		}
		if _, ok := lines[i]["latency_ms"].(float64); !ok {
			t.Errorf("line %d lacks latency_ms: %v", i, lines[i])
		}
		if ip, _ := lines[i]["client_ip"].(string); ip == "" {
			t.Errorf("line %d lacks client_ip: %v", i, lines[i])
		}
	}

	var quiet syncbuf.Buffer
	h = newHarness(t, func(_ *Config, d *Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	h.do("GET", "/health", "")
	if strings.Contains(quiet.String(), `"request"`) {
		t.Fatalf("an access line at warn level: %s", quiet.String())
	}
}
