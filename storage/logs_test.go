package storage_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/storage"
)

// go-redis's own complaints (here: dialing a port nobody listens on) arrive as JSON log records.
func TestRedisLogsGoThroughSlog(t *testing.T) {
	var buf syncbuf.Buffer
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
