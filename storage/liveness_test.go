package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/stream"
)

// A final frame is appended once, numbered after the last frame, and never after a final one.
func TestFramesAppendFinal(t *testing.T) {
	env := newFrames(t, time.Minute, 0)
	ctx := context.Background()
	for i, data := range []string{`{"type":"content","job_id":"j","seq":1,"text":"a"}`, `{"type":"content","job_id":"j","seq":2,"text":"b"}`} {
		if _, err := env.frames.Append(ctx, "j", []byte(data)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	// Seq is the relay's to set: the frame follows the last one whatever the caller says.
	lost := stream.Frame{Type: stream.TypeError, JobID: "j", Seq: 7, Code: "worker_lost"}
	id1, err := env.frames.AppendFinal(ctx, "j", lost)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := env.frames.AppendFinal(ctx, "j", stream.Frame{Type: stream.TypeError, JobID: "j", Code: "other"})
	if err != nil || id2 != id1 {
		t.Fatalf("second final frame: %s %v, want the first one's id %s", id2, err, id1)
	}
	got, err := env.frames.After(ctx, "j", "", 0)
	if err != nil || len(got) != 3 || string(got[2].Raw) != `{"type":"error","job_id":"j","seq":3,"code":"worker_lost"}` {
		t.Fatalf("frames %v %v", got, err)
	}
	if last, ok, err := env.frames.Last(ctx, "j"); !ok || err != nil || last.ID != id1 {
		t.Fatalf("Last = %+v %v %v, want %s", last, ok, err, id1)
	}
	if _, ok, err := env.frames.Last(ctx, "none"); ok || err != nil {
		t.Fatalf("Last of no stream: %v %v", ok, err)
	}
	// On an empty stream the final frame is the first.
	if _, err := env.frames.AppendFinal(ctx, "k", stream.Frame{Type: stream.TypeError, JobID: "k", Code: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.frames.After(ctx, "k", "", 0); len(got) != 1 || string(got[0].Raw) != `{"type":"error","job_id":"k","seq":1,"code":"x"}` {
		t.Fatalf("frames %v", got)
	}
}

func TestLivenessBeatsExpire(t *testing.T) {
	rdb := redistest.Claim(t)
	l := storage.NewLiveness(rdb, storage.NewKeys("t:"), 200*time.Millisecond)
	ctx := context.Background()
	if err := l.Beat(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Alive(ctx, "a"); !ok || err != nil {
		t.Fatalf("a just beat: %v %v", ok, err)
	}
	if err := l.End(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.Alive(ctx, "b"); ok {
		t.Fatal("b ended but is alive")
	}
	deadline := time.Now().Add(10 * time.Second)
	for ok := true; ok; ok, _ = l.Alive(ctx, "a") {
		if time.Now().After(deadline) {
			t.Fatal("a heartbeat never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
