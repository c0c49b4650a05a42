package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
)

// syncBuffer is a bytes.Buffer that go-redis's background goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// go-redis's own complaints (here: dialing a port nobody listens on) arrive as JSON log records.
func TestRedisLogsGoThroughSlog(t *testing.T) {
	var buf syncBuffer
	storage.RouteRedisLogs(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { storage.RouteRedisLogs(slog.Default()) })
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	for i := 0; i < 20 && !strings.Contains(buf.String(), "go-redis"); i++ {
		_ = c.Ping(context.Background()).Err()
		time.Sleep(20 * time.Millisecond)
	}
	out := buf.String()
	if !strings.Contains(out, `"component":"go-redis"`) {
		t.Fatalf("no go-redis record in %q", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("not a JSON record: %q", line)
		}
	}
}
