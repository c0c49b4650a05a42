package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// TestRetentionIsScheduledAndDeletesOldObjects runs the worker role's real wiring: the hourly
// entry on asynq's scheduler, and the sweep job deleting only what is older than the retention.
func TestRetentionIsScheduledAndDeletesOldObjects(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig("worker", envOf("REDIS_URL", testRedisURL(t), "STORAGE_DIR", dir,
		"FILES_SIGNING_KEY", strings.Repeat("k", 32), "OPENAI_API_KEY", "k", "BLOCKFROST_PROJECT_ID", "p",
		"OBJECT_RETENTION", "24h"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), keys: storage.NewKeys(""),
		upstreams: map[string]string{}, reg: newRegistry()}
	t.Cleanup(s.close) // after the worker has stopped (cleanups run last-in first-out)
	if err := s.openRedis(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.openObjects(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"images/old.png", "images/new.png"} {
		if _, err := s.objects.Put(ctx, k, bytes.NewReader([]byte("png")), 3, "image/png", ""); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "images", "old.png"), old, old); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- s.serveWorker(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	insp := asynq.NewInspectorFromRedisClient(s.rdb)
	testwait.For(t, "the retention entry on the scheduler", 10*time.Second, func() bool {
		entries, _ := insp.SchedulerEntries()
		for _, e := range entries {
			if e.Task.Type() == jobs.TypeObjectRetention && e.Spec == "@every 1h0m0s" {
				return true
			}
		}
		return false
	})

	hub := storage.NewHub(s.rdb, 8)
	defer hub.Close()
	jc := jobs.NewClient(asynq.NewClientFromRedisClient(s.rdb), insp, s.keys.Notices("retention-test"))
	if err := jc.Start(ctx, hub); err != nil {
		t.Fatal(err)
	}
	_, out, err := jc.Run(ctx,
		jobs.RetentionJob(jobs.RetentionPayload{MaxAgeSeconds: int64(cfg.ObjectRetention / time.Second)}), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var res jobs.RetentionResult
	if err := out.Decode(&res); err != nil || res.Deleted != 1 {
		t.Fatalf("outcome %+v, decoded %+v, err %v", out, res, err)
	}
	if _, err := s.objects.Stat(ctx, "images/old.png"); err == nil {
		t.Fatal("the old object survived")
	}
	if _, err := s.objects.Stat(ctx, "images/new.png"); err != nil {
		t.Fatalf("the new object is gone: %v", err)
	}
}
