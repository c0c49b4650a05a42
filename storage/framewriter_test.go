package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/stream"
)

// scriptCounter counts the scripts a client runs (EVALSHA and EVAL: one per append round trip).
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Frames written through a FrameWriter are stored and announced one by one, in order, with the
// ids the stream gave them, however they were grouped into appends.
func TestFrameWriterOrder(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel("job-w"))
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	const n = 500
	w := e.frames.Writer(context.Background(), "job-w")
	for i := range n {
		if err := w.Write(ctx, fmt.Appendf(nil, "frame-%d", i)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	stored, err := e.frames.After(ctx, "job-w", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("%d frames stored, want %d", len(stored), n)
	}
	var live []stream.Frame
	for len(live) < n {
		batch, ok := storage.ParseLiveBatch(framesRecv(t, msgs))
		if !ok {
			t.Fatalf("a live message after %d frames does not parse", len(live))
		}
		live = append(live, batch...)
	}
	for i, f := range stored {
		if want := fmt.Sprintf("frame-%d", i); string(f.Raw) != want {
			t.Fatalf("stored frame %d is %q, want %q", i, f.Raw, want)
		}
		if live[i].ID != f.ID || string(live[i].Raw) != string(f.Raw) {
			t.Fatalf("live frame %d: %s %q, stored %s %q", i, live[i].ID, live[i].Raw, f.ID, f.Raw)
		}
	}
}

// A batch is announced in one message that gives back every frame's id and bytes, whatever they
// hold; anything malformed is refused (the relay then re-reads the stream).
func TestParseLiveBatch(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel("job-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	data := [][]byte{[]byte("a:1,b\n"), {}, []byte("1-0\nx"), {0, '\n', ':', ',', 0xff}, []byte(`{"type":"content"}`)}
	ids, err := e.frames.AppendBatch(ctx, "job-b", data)
	if err != nil {
		t.Fatal(err)
	}
	msg := framesRecv(t, msgs)
	got, ok := storage.ParseLiveBatch(msg)
	if !ok || len(got) != len(data) {
		t.Fatalf("ParseLiveBatch(%q) = %d frames, ok %v", msg, len(got), ok)
	}
	for i := range data {
		if got[i].ID != ids[i] || !bytes.Equal(got[i].Raw, data[i]) {
			t.Fatalf("frame %d: %s %q, want %s %q", i, got[i].ID, got[i].Raw, ids[i], data[i])
		}
	}
	if one, ok := storage.ParseLiveBatch([]byte("5-1\n{}")); !ok || len(one) != 1 || one[0].ID != "5-1" || string(one[0].Raw) != "{}" {
		t.Fatalf("a one-frame message: %v %v", one, ok)
	}
	for _, bad := range []string{"", "5-1:3\nab", "5-1:1\nab", "5-1:x\na", "5:1\na", "5-1:1,\na", "5-1:-1\n", "junk"} {
		if f, ok := storage.ParseLiveBatch([]byte(bad)); ok {
			t.Errorf("ParseLiveBatch(%q) = %v, want refused", bad, f)
		}
	}
}

// Frames that arrive while an append is in flight go together: fewer round trips than frames.
func TestFrameWriterGroups(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	rdb := redis.NewClient(e.rdb.Options())
	defer rdb.Close()
	counter := &scriptCounter{}
	rdb.AddHook(counter)
	frames := storage.NewFrames(rdb, e.keys, time.Hour, 0)
	w := frames.Writer(context.Background(), "job-g")
	const n = 2000
	for i := range n {
		if err := w.Write(context.Background(), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := counter.n.Load(); got >= n {
		t.Fatalf("%d appends for %d frames written back to back", got, n)
	}
	stored, err := frames.After(context.Background(), "job-g", "", 0)
	if err != nil || len(stored) != n {
		t.Fatalf("%d frames stored (err %v), want %d", len(stored), err, n)
	}
}

// After a failed append nothing more is written, and every call says why: no hole in a stream.
func TestFrameWriterFailure(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	rdb := redis.NewClient(e.rdb.Options())
	frames := storage.NewFrames(rdb, e.keys, time.Hour, 0)
	w := frames.Writer(context.Background(), "job-f")
	ctx := context.Background()
	if err := w.Write(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Close() // the store is gone
	_ = w.Write(ctx, []byte("lost"))
	if err := w.Flush(); err == nil {
		t.Fatal("Flush after a failed append: no error")
	}
	if err := w.Write(ctx, []byte("after")); err == nil {
		t.Fatal("Write after a failed append: no error")
	}
	stored, err := e.frames.After(ctx, "job-f", "", 0)
	if err != nil || len(stored) != 1 || string(stored[0].Raw) != "first" {
		t.Fatalf("stored %v (err %v), want only the first frame", stored, err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.frames.Writer(context.Background(), "job-c").Write(canceled, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write on a canceled context: %v", err)
	}
}
