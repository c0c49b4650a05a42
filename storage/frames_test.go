package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/stream"
)

// framesEnv is a relay on a claimed database plus a hub on a connection of its own, standing for
// the api process that relays what a worker process appends.
type framesEnv struct {
	frames *storage.Frames
	rdb    *redis.Client
	keys   storage.Keys
	hub    *storage.Hub
}

// newFrames builds a relay. Pub/sub channels are global to the server, so the key prefix (and with
// it every channel name) is unique to this test.
func newFrames(t *testing.T, ttl time.Duration, maxLen int64) *framesEnv {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%d-%s:", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-")))
	hubClient := redis.NewClient(rdb.Options())
	hub := storage.NewHub(hubClient, 4096)
	t.Cleanup(func() {
		_ = hub.Close()
		_ = hubClient.Close()
	})
	return &framesEnv{frames: storage.NewFrames(rdb, keys, ttl, maxLen), rdb: rdb, keys: keys, hub: hub}
}

// framesAppendN appends frames "<prefix><i>" and returns their ids.
func framesAppendN(t *testing.T, f *storage.Frames, job, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := f.Append(context.Background(), job, fmt.Appendf(nil, "%s%d", prefix, i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		ids[i] = id
	}
	return ids
}

func framesIDs(fs []stream.Frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// framesRecv waits (boundedly) for the next live message.
func framesRecv(t *testing.T, msgs <-chan []byte) []byte {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("hub closed the subscription")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no live frame within 10 s")
	}
	return nil
}

func TestFramesAppendAfter(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	ids := framesAppendN(t, e.frames, "job-1", "f", 10)
	for i := 1; i < len(ids); i++ {
		if stream.CompareIDs(ids[i-1], ids[i]) >= 0 {
			t.Fatalf("ids out of order: %s then %s", ids[i-1], ids[i])
		}
	}
	// Another job's frames never show up.
	framesAppendN(t, e.frames, "job-2", "other", 3)

	ms, _ := strconv.ParseUint(strings.Split(ids[4], "-")[0], 10, 64)
	cases := []struct {
		name    string
		job     string
		after   string
		limit   int64
		wantIdx []int // indexes into ids; empty: none
	}{
		{name: "empty id: all", after: "", wantIdx: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "0: all", after: "0", wantIdx: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "0-0: all", after: "0-0", wantIdx: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "after the first", after: ids[0], wantIdx: []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "after the middle", after: ids[4], wantIdx: []int{5, 6, 7, 8, 9}},
		{name: "after the last", after: ids[9]},
		{name: "limit", after: "", limit: 3, wantIdx: []int{0, 1, 2}},
		{name: "limit after an id", after: ids[2], limit: 2, wantIdx: []int{3, 4}},
		{name: "limit beyond the end", after: ids[7], limit: 100, wantIdx: []int{8, 9}},
		{name: "zero limit is no limit", after: ids[6], limit: 0, wantIdx: []int{7, 8, 9}},
		{name: "negative limit is no limit", after: ids[6], limit: -1, wantIdx: []int{7, 8, 9}},
		{name: "an id between entries", after: fmt.Sprintf("%d-%d", ms, 1<<40), wantIdx: idxAfterMs(ids, ms)},
		{name: "milliseconds only mean ms-0", after: strconv.FormatUint(ms, 10), wantIdx: idxAfter(ids, fmt.Sprintf("%d-0", ms))},
		{name: "leading zeros", after: "000" + ids[8], wantIdx: []int{9}},
		{name: "far future", after: "99999999999999-0"},
		{name: "the largest id", after: "18446744073709551615-18446744073709551615"},
		{name: "the largest sequence", after: fmt.Sprintf("%d-18446744073709551615", ms), wantIdx: idxAfterMs(ids, ms)},
		{name: "unknown job", job: "job-none", after: ""},
		{name: "unknown job after an id", job: "job-none", after: ids[3]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := c.job
			if job == "" {
				job = "job-1"
			}
			got, err := e.frames.After(ctx, job, c.after, c.limit)
			if err != nil {
				t.Fatalf("After(%q, %d): %v", c.after, c.limit, err)
			}
			if got == nil {
				t.Fatal("After returned nil, want an empty slice")
			}
			want := make([]string, len(c.wantIdx))
			for i, x := range c.wantIdx {
				want[i] = ids[x]
			}
			if strings.Join(framesIDs(got), ",") != strings.Join(want, ",") {
				t.Fatalf("After(%q, %d) = %v, want %v", c.after, c.limit, framesIDs(got), want)
			}
			for i, f := range got {
				if wantData := fmt.Sprintf("f%d", c.wantIdx[i]); string(f.Raw) != wantData {
					t.Errorf("frame %s data %q, want %q", f.ID, f.Raw, wantData)
				}
			}
		})
	}
}

func idxAfter(ids []string, after string) []int {
	var out []int
	for i, id := range ids {
		if stream.CompareIDs(id, after) > 0 {
			out = append(out, i)
		}
	}
	return out
}

func idxAfterMs(ids []string, ms uint64) []int {
	return idxAfter(ids, fmt.Sprintf("%d-18446744073709551615", ms))
}

func TestFramesAfterBadID(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	framesAppendN(t, e.frames, "job-1", "f", 2)
	bad := []string{
		"abc", "1-", "-1", "-", "+", "$", "*", ">", "1-2-3", "1--2", " 1-0", "1-0 ", "0x10", "1e3", "+1-0", "1-+0",
		"18446744073709551616-0", "0-18446744073709551616", "99999999999999999999999-0", "(1-0", "1-0\n", "１-0",
	}
	for _, id := range bad {
		t.Run(id, func(t *testing.T) {
			got, err := e.frames.After(ctx, "job-1", id, 0)
			if !errors.Is(err, storage.ErrBadFrameID) {
				t.Fatalf("After(%q) = %v, %v; want ErrBadFrameID", id, framesIDs(got), err)
			}
			if errors.As(err, new(redis.Error)) {
				t.Fatalf("After(%q): %v is a Redis error; the id must be checked before Redis sees it", id, err)
			}
		})
	}
}

func TestFramesData(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"json", []byte(`{"type":"content","text":"hi"}`)},
		{"newlines", []byte("line one\nline two\n\nend\n")},
		{"leading newline", []byte("\n1-0\nlooks like an id")},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe, '\n', 0, '\r'}},
		{"unicode", []byte("ünï 会话 🙂")},
		{"large", bytes.Repeat([]byte("x\n"), 100000)},
	}
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel("job-d"))
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	var ids []string
	for _, c := range cases {
		id, err := e.frames.Append(ctx, "job-d", c.data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ids = append(ids, id)
	}
	stored, err := e.frames.After(ctx, "job-d", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(cases) {
		t.Fatalf("%d frames stored, want %d", len(stored), len(cases))
	}
	for i, c := range cases {
		live, ok := storage.ParseLive(framesRecv(t, msgs))
		if !ok {
			t.Fatalf("%s: live message does not parse", c.name)
		}
		if stored[i].ID != ids[i] || live.ID != ids[i] {
			t.Errorf("%s: stored id %s, live id %s, Append said %s", c.name, stored[i].ID, live.ID, ids[i])
		}
		if !bytes.Equal(stored[i].Raw, c.data) {
			t.Errorf("%s: stored data %.40q, want %.40q", c.name, stored[i].Raw, c.data)
		}
		if !bytes.Equal(live.Raw, c.data) {
			t.Errorf("%s: live data %.40q, want %.40q", c.name, live.Raw, c.data)
		}
	}
}

func TestFramesMaxLen(t *testing.T) {
	cases := []struct {
		name   string
		maxLen int64
		append int
	}{
		{"under the cap", 50, 20},
		{"well over the cap", 10, 600},
		{"no cap", 0, 600},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newFrames(t, time.Hour, c.maxLen)
			ctx := context.Background()
			node, err := e.rdb.ConfigGet(ctx, "stream-node-max-entries").Result()
			if err != nil {
				t.Fatal(err)
			}
			nodeMax, err := strconv.ParseInt(node["stream-node-max-entries"], 10, 64)
			if err != nil || nodeMax <= 0 {
				t.Fatalf("stream-node-max-entries = %v (%v)", node, err)
			}
			ids := framesAppendN(t, e.frames, "job-m", "f", c.append)
			n := e.rdb.XLen(ctx, e.keys.StreamFrames("job-m")).Val()
			lo, hi := int64(c.append), int64(c.append)
			if c.maxLen > 0 && int64(c.append) > c.maxLen {
				// "~": Redis drops only whole nodes, so at least maxLen and less than a node more.
				lo, hi = c.maxLen, c.maxLen+nodeMax-1
			}
			if n < lo || n > hi {
				t.Fatalf("XLEN = %d after %d appends with MAXLEN ~%d, want in [%d, %d]", n, c.append, c.maxLen, lo, hi)
			}
			got, err := e.frames.After(ctx, "job-m", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			// What is left is the newest frames, in order and without gaps.
			want := ids[len(ids)-int(n):]
			if strings.Join(framesIDs(got), ",") != strings.Join(want, ",") {
				t.Fatalf("after trimming, After = %d frames %v…, want the newest %d", len(got), framesIDs(got)[:min(3, len(got))], n)
			}
		})
	}
}

func TestFramesTTL(t *testing.T) {
	cases := []struct {
		name     string
		ttl      time.Duration
		min, max time.Duration // -1: no expiry
	}{
		{"minutes", 10 * time.Minute, 10*time.Minute - time.Minute, 10 * time.Minute},
		{"none", 0, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newFrames(t, c.ttl, 100)
			ctx := context.Background()
			key := e.keys.StreamFrames("job-t")
			framesAppendN(t, e.frames, "job-t", "f", 1)
			if ttl := e.rdb.PTTL(ctx, key).Val(); ttl < c.min || ttl > c.max {
				t.Fatalf("TTL = %v, want in [%v, %v]", ttl, c.min, c.max)
			}
			if c.min == -1 {
				return
			}
			// Each frame restarts the clock.
			if err := e.rdb.Expire(ctx, key, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			framesAppendN(t, e.frames, "job-t", "g", 1)
			if ttl := e.rdb.PTTL(ctx, key).Val(); ttl <= time.Minute || ttl > c.max {
				t.Fatalf("TTL after another frame = %v, want in (1m, %v]", ttl, c.max)
			}
			// Reading does not.
			if err := e.rdb.Expire(ctx, key, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := e.frames.After(ctx, "job-t", "", 0); err != nil {
				t.Fatal(err)
			}
			if ttl := e.rdb.PTTL(ctx, key).Val(); ttl > time.Minute {
				t.Fatalf("After extended the TTL to %v", ttl)
			}
		})
	}
}

func TestFramesExists(t *testing.T) {
	e := newFrames(t, 150*time.Millisecond, 100)
	ctx := context.Background()
	exists := func() bool {
		t.Helper()
		ok, err := e.frames.Exists(ctx, "job-e")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if exists() {
		t.Fatal("Exists before any frame")
	}
	framesAppendN(t, e.frames, "job-e", "f", 1)
	if !exists() {
		t.Fatal("not Exists after a frame")
	}
	if ok, err := e.frames.Exists(ctx, "job-other"); err != nil || ok {
		t.Fatalf("another job Exists = %v, %v", ok, err)
	}
	// The stream expires after its TTL.
	deadline := time.Now().Add(10 * time.Second)
	for exists() {
		if time.Now().After(deadline) {
			t.Fatal("a stream with a 150 ms TTL still exists after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := e.frames.After(ctx, "job-e", "", 0); err != nil || len(got) != 0 {
		t.Fatalf("After on an expired stream = %v, %v; want none", framesIDs(got), err)
	}
}

func TestFramesKeys(t *testing.T) {
	e := newFrames(t, time.Hour, 100)
	ctx := context.Background()
	jobs := []string{"job-1", "0b5e3c1a-6a53-4d2c-9d8f-5b1f3e0c9a7e"}
	for _, j := range jobs {
		framesAppendN(t, e.frames, j, "f", 1)
	}
	all, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(jobs) {
		t.Fatalf("keys = %q, want one stream per job", all)
	}
	for _, j := range jobs {
		key := e.keys.StreamFrames(j)
		if want := e.keys.Prefix() + "frames:{" + j + "}"; key != want {
			t.Errorf("StreamFrames(%q) = %q, want %q", j, key, want)
		}
		if typ := e.rdb.Type(ctx, key).Val(); typ != "stream" {
			t.Errorf("%s is a %q, want a stream", key, typ)
		}
		if ch := e.frames.Channel(j); ch != e.keys.StreamChannel(j) || ch != e.keys.Prefix()+"stream:"+j {
			t.Errorf("Channel(%q) = %q, want %q", j, ch, e.keys.Prefix()+"stream:"+j)
		}
	}
}

func TestParseLive(t *testing.T) {
	cases := []struct {
		name   string
		msg    []byte
		ok     bool
		id     string
		data   string
		reason string
	}{
		{name: "plain", msg: []byte("1700000000000-0\nhello"), ok: true, id: "1700000000000-0", data: "hello"},
		{name: "data with newlines", msg: []byte("1-2\nline1\nline2\n"), ok: true, id: "1-2", data: "line1\nline2\n"},
		{name: "only newlines", msg: []byte("1-2\n\n\n"), ok: true, id: "1-2", data: "\n\n"},
		{name: "empty data", msg: []byte("1-2\n"), ok: true, id: "1-2", data: ""},
		{name: "data that looks like a frame", msg: []byte("3-0\n4-0\nx"), ok: true, id: "3-0", data: "4-0\nx"},
		{name: "binary data", msg: []byte("5-1\n\x00\xff\r\n"), ok: true, id: "5-1", data: "\x00\xff\r\n"},
		{name: "largest id", msg: []byte("18446744073709551615-18446744073709551615\nx"), ok: true,
			id: "18446744073709551615-18446744073709551615", data: "x"},
		{name: "nil (a hub's resync signal)", msg: nil},
		{name: "empty", msg: []byte{}},
		{name: "no newline", msg: []byte("1-0")},
		{name: "no id", msg: []byte("\nhello")},
		{name: "milliseconds only", msg: []byte("1\nhello")},
		{name: "not an id", msg: []byte("hello\nworld")},
		{name: "three parts", msg: []byte("1-0-0\nx")},
		{name: "space", msg: []byte(" 1-0\nx")},
		{name: "overflow", msg: []byte("18446744073709551616-0\nx")},
		{name: "CRLF", msg: []byte("1-0\r\nx")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := storage.ParseLive(c.msg)
			if ok != c.ok {
				t.Fatalf("ParseLive(%q) ok = %v, want %v", c.msg, ok, c.ok)
			}
			if !ok {
				return
			}
			if f.ID != c.id || string(f.Raw) != c.data {
				t.Fatalf("ParseLive(%q) = %q / %q, want %q / %q", c.msg, f.ID, f.Raw, c.id, c.data)
			}
		})
	}
}

// TestFramesLiveOrder appends from many goroutines of another client while a hub listens: every
// frame is heard once, and the live order is the stream's order.
func TestFramesLiveOrder(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	worker := redis.NewClient(e.rdb.Options())
	t.Cleanup(func() { _ = worker.Close() })
	wf := storage.NewFrames(worker, e.keys, time.Hour, 0)

	msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel("job-live"))
	if err != nil {
		t.Fatal(err)
	}
	defer leave()

	const goroutines, each = 10, 30
	const n = goroutines * each
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if _, err := wf.Append(ctx, "job-live", fmt.Appendf(nil, "g%d\nframe %d", g, i)); err != nil {
					errs <- err
				}
			}
		})
	}
	var live []stream.Frame
	for range n {
		f, ok := storage.ParseLive(framesRecv(t, msgs))
		if !ok {
			t.Fatal("live message does not parse")
		}
		live = append(live, f)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stored, err := e.frames.After(ctx, "job-live", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("%d frames stored, want %d", len(stored), n)
	}
	for i := range n {
		if live[i].ID != stored[i].ID || !bytes.Equal(live[i].Raw, stored[i].Raw) {
			t.Fatalf("live frame %d is %s %q, stream holds %s %q", i, live[i].ID, live[i].Raw, stored[i].ID, stored[i].Raw)
		}
	}
	// Each goroutine's frames stay in its own order.
	next := map[string]int{}
	for _, f := range stored {
		g, body, _ := strings.Cut(string(f.Raw), "\n")
		if want := fmt.Sprintf("frame %d", next[g]); body != want {
			t.Fatalf("%s: %q, want %q", g, body, want)
		}
		next[g]++
	}
	select {
	case m := <-msgs:
		t.Fatalf("an extra live message: %q", m)
	default:
	}
}

// framesReader is the api's relay loop in miniature: subscribe, replay after the last id sent,
// then follow live frames, dropping what the replay already covered.
type framesReader struct {
	t        *testing.T
	f        *storage.Frames
	job      string
	lastSeen string
	got      []stream.Frame
	dups     int
}

func (r *framesReader) deliver(fs ...stream.Frame) {
	for _, f := range fs {
		if stream.CompareIDs(f.ID, r.lastSeen) <= 0 {
			r.dups++
			continue
		}
		r.got = append(r.got, f)
		r.lastSeen = f.ID
	}
}

func (r *framesReader) replay(ctx context.Context) {
	fs, err := r.f.After(ctx, r.job, r.lastSeen, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	r.deliver(fs...)
}

// follow takes live messages until the frame with data last has been delivered.
func (r *framesReader) follow(ctx context.Context, msgs <-chan []byte, last string) {
	for len(r.got) == 0 || string(r.got[len(r.got)-1].Raw) != last {
		f, ok := storage.ParseLive(framesRecv(r.t, msgs))
		if !ok {
			r.replay(ctx) // the hub lost messages: read them from the stream
			continue
		}
		r.deliver(f)
	}
}

// TestFramesReplayThenLive: a reader that subscribes while the worker is writing, replays from the
// stream and then follows live frames sees every frame exactly once, in order: whether it starts
// fresh, resumes with a Last-Event-ID, or arrives before the first frame.
func TestFramesReplayThenLive(t *testing.T) {
	const total = 300
	cases := []struct {
		name     string
		joinAt   int // subscribe once this many frames exist
		resumeAt int // the reader already had this many frames (Last-Event-ID); <= joinAt
	}{
		{"before the first frame", 0, 0},
		{"fresh reader mid-stream", 50, 0},
		{"resume mid-stream", 80, 20},
		{"resume from the newest", 120, 120},
		{"after the last frame", total, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newFrames(t, time.Hour, 0)
			ctx := context.Background()
			worker := redis.NewClient(e.rdb.Options())
			t.Cleanup(func() { _ = worker.Close() })
			wf := storage.NewFrames(worker, e.keys, time.Hour, 0)
			const job = "job-r"

			var written atomic.Int64
			proceed := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				for i := range total {
					if i == c.joinAt {
						<-proceed // hold here until the reader has subscribed
					}
					if _, err := wf.Append(ctx, job, fmt.Appendf(nil, "frame-%d", i)); err != nil {
						done <- err
						return
					}
					written.Add(1)
				}
				done <- nil
			}()
			deadline := time.Now().Add(10 * time.Second)
			for written.Load() < int64(c.joinAt) {
				if time.Now().After(deadline) {
					t.Fatalf("only %d of %d frames written in 10 s", written.Load(), c.joinAt)
				}
				time.Sleep(time.Millisecond)
			}

			r := &framesReader{t: t, f: e.frames, job: job}
			if c.resumeAt > 0 {
				before, err := e.frames.After(ctx, job, "", int64(c.resumeAt))
				if err != nil || len(before) != c.resumeAt {
					t.Fatalf("first connection read %d frames (%v), want %d", len(before), err, c.resumeAt)
				}
				r.lastSeen = before[len(before)-1].ID
			}
			msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel(job))
			if err != nil {
				t.Fatal(err)
			}
			defer leave()
			close(proceed)
			// Let frames arrive between the subscription and the replay: those are both replayed
			// and heard live. More keep arriving while the replay reads.
			overlap := min(total-c.joinAt, 20)
			for written.Load() < int64(c.joinAt+overlap) {
				if time.Now().After(deadline) {
					t.Fatalf("only %d of %d frames written in 10 s", written.Load(), c.joinAt+overlap)
				}
				time.Sleep(time.Millisecond)
			}
			r.replay(ctx)
			r.follow(ctx, msgs, fmt.Sprintf("frame-%d", total-1))
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			if len(r.got) != total-c.resumeAt {
				t.Fatalf("delivered %d frames, want %d", len(r.got), total-c.resumeAt)
			}
			for i, f := range r.got {
				if want := fmt.Sprintf("frame-%d", c.resumeAt+i); string(f.Raw) != want {
					t.Fatalf("frame %d is %q, want %q", i, f.Raw, want)
				}
			}
			if r.dups < overlap {
				t.Fatalf("%d live duplicates dropped, want at least the %d frames written before the replay", r.dups, overlap)
			}
		})
	}
}

// TestFramesReplayOverlap pins down the overlap deterministically: frames appended after the
// subscription and before the replay arrive twice and are delivered once.
func TestFramesReplayOverlap(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx := context.Background()
	const job = "job-o"
	framesAppendN(t, e.frames, job, "early-", 3) // before the subscription: replay only
	msgs, leave, err := e.hub.Subscribe(ctx, e.frames.Channel(job))
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	framesAppendN(t, e.frames, job, "both-", 4) // after it, before the replay: both
	r := &framesReader{t: t, f: e.frames, job: job}
	r.replay(ctx)
	framesAppendN(t, e.frames, job, "late-", 2) // after the replay: live only
	r.follow(ctx, msgs, "late-1")
	var got []string
	for _, f := range r.got {
		got = append(got, string(f.Raw))
	}
	want := "early-0 early-1 early-2 both-0 both-1 both-2 both-3 late-0 late-1"
	if strings.Join(got, " ") != want {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if r.dups != 4 {
		t.Fatalf("%d duplicates dropped, want 4", r.dups)
	}
	// A hub resync signal (an empty message) makes the reader re-read, losing and doubling nothing.
	if err := e.rdb.Publish(ctx, e.frames.Channel(job), "").Err(); err != nil {
		t.Fatal(err)
	}
	framesAppendN(t, e.frames, job, "after-resync-", 1)
	r.follow(ctx, msgs, "after-resync-0")
	if n := len(r.got); n != 10 {
		t.Fatalf("after a resync %d frames delivered, want 10", n)
	}
}

func TestFramesRedisErrors(t *testing.T) {
	e := newFrames(t, time.Hour, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.frames.Append(ctx, "job", []byte("x")); err == nil {
		t.Error("Append with a canceled context: no error")
	}
	if _, err := e.frames.After(ctx, "job", "", 0); err == nil || errors.Is(err, storage.ErrBadFrameID) {
		t.Errorf("After with a canceled context: %v", err)
	}
	if _, err := e.frames.Exists(ctx, "job"); err == nil {
		t.Error("Exists with a canceled context: no error")
	}
}

// TestChatStateDeployments runs the chat state through the deployments it must work on: Redis
// Cluster (every multi-key step and script within one slot; a frame published by a script on one
// node reaches a subscriber connected to another) and the in-process miniredis that `tbackend dev`
// embeds. Two clients stand for the api and the worker.
func TestChatStateDeployments(t *testing.T) {
	for _, c := range otherDeployments() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			newClient := c.start(t)
			api, worker := newClient(), newClient()
			t.Cleanup(func() { _ = api.Close(); _ = worker.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))

			// Sessions: MULTI over one key, owner-scoped.
			sa, sw := storage.NewSessions(api, keys, time.Hour, 3), storage.NewSessions(worker, keys, time.Hour, 3)
			if err := sw.Append(ctx, "key:key_a", "s1", sessMsgs("a", "b")...); err != nil {
				t.Fatalf("session append: %v", err)
			}
			if err := sa.Append(ctx, "key:key_a", "s1", sessMsgs("c", "d")...); err != nil {
				t.Fatalf("session append: %v", err)
			}
			if got, err := sw.History(ctx, "key:key_a", "s1"); err != nil || strings.Join(sessContents(got), "") != "bcd" {
				t.Fatalf("history = %q, %v; want b c d", sessContents(got), err)
			}
			if got, err := sa.History(ctx, "key:key_b", "s1"); err != nil || len(got) != 0 {
				t.Fatalf("other owner's history = %q, %v", sessContents(got), err)
			}

			// Idempotency: scripts, racing replicas.
			ia, iw := storage.NewIdempotency(api, keys, time.Hour), storage.NewIdempotency(worker, keys, time.Hour)
			if job, claimed, err := ia.Claim(ctx, "key:key_a", "req", "job-1"); err != nil || !claimed || job != "job-1" {
				t.Fatalf("claim = %q %v %v", job, claimed, err)
			}
			if job, claimed, err := iw.Claim(ctx, "key:key_a", "req", "job-2"); err != nil || claimed || job != "job-1" {
				t.Fatalf("second claim = %q %v %v", job, claimed, err)
			}
			if err := iw.Release(ctx, "key:key_a", "req", "job-1"); err != nil {
				t.Fatalf("release: %v", err)
			}
			if job, claimed, err := iw.Claim(ctx, "key:key_a", "req", "job-2"); err != nil || !claimed || job != "job-2" {
				t.Fatalf("claim after release = %q %v %v", job, claimed, err)
			}

			// Frames: the api's hub hears what the worker's script publishes, for jobs spread
			// over the slots (and so, on Cluster, over the nodes).
			hub := storage.NewHub(api, 64)
			t.Cleanup(func() { _ = hub.Close() })
			fa, fw := storage.NewFrames(api, keys, time.Hour, 100), storage.NewFrames(worker, keys, time.Hour, 100)
			for j := range 6 {
				job := fmt.Sprintf("job-%d", j)
				msgs, leave, err := hub.Subscribe(ctx, fa.Channel(job))
				if err != nil {
					t.Fatalf("subscribe: %v", err)
				}
				var ids []string
				for i := range 3 {
					id, err := fw.Append(ctx, job, fmt.Appendf(nil, "%s\nframe %d", job, i))
					if err != nil {
						t.Fatalf("append: %v", err)
					}
					ids = append(ids, id)
				}
				for i := range 3 {
					f, ok := storage.ParseLive(framesRecv(t, msgs))
					if !ok || f.ID != ids[i] || string(f.Raw) != fmt.Sprintf("%s\nframe %d", job, i) {
						t.Fatalf("%s live frame %d = %q %q %v, want id %s", job, i, f.ID, f.Raw, ok, ids[i])
					}
				}
				leave()
				got, err := fa.After(ctx, job, ids[0], 0)
				if err != nil || strings.Join(framesIDs(got), ",") != strings.Join(ids[1:], ",") {
					t.Fatalf("%s After(first) = %v, %v; want %v", job, framesIDs(got), err, ids[1:])
				}
				if ok, err := fa.Exists(ctx, job); err != nil || !ok {
					t.Fatalf("%s Exists = %v, %v", job, ok, err)
				}
			}
		})
	}
}
