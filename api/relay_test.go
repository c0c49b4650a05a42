package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/jobs"
)

// A relay that misses live frames (its queue overflowed, or the shared connection reconnected)
// notices the gap in the sequence numbers and fills it from the stored stream, writing every
// frame exactly once and in order.
func TestRelayFillsGapsFromTheStoredStream(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const job = "GAPJOB"
	live := map[int][]byte{}
	appendFrame := func(i int) {
		typ := "content"
		if i == 6 {
			typ = "done"
		}
		data := fmt.Sprintf(`{"type":%q,"job_id":%q,"seq":%d,"text":"t%d"}`, typ, job, i, i)
		id, err := h.srv.deps.Frames.Append(ctx, job, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		live[i] = []byte(id + "\n" + data)
	}
	var out bytes.Buffer
	left := 0
	info, err := jobs.InfoOf(jobs.TypeChat, job)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{s: h.srv, job: info, leave: func() { left++ }, closed: func() {}, w: bufio.NewWriter(&out)}
	appendFrame(1)
	if !r.onLive(live[1]) || r.seq != 1 {
		t.Fatalf("after frame 1: seq %d", r.seq)
	}
	for i := 2; i <= 5; i++ {
		appendFrame(i)
	}
	// 2–4 never arrive live; 5 does: the gap is filled from the stream.
	if !r.onLive(live[5]) || r.seq != 5 {
		t.Fatalf("after the gap: seq %d\n%s", r.seq, out.String())
	}
	appendFrame(6)
	if !r.onLive(live[2]) { // a late duplicate changes nothing
		t.Fatal("a duplicate ended the relay")
	}
	if r.onLive(live[6]) { // the final frame, in order: written directly, and the relay ends
		t.Fatal("the final frame did not end the relay")
	}
	got := out.String()
	for i := 1; i <= 6; i++ {
		if n := strings.Count(got, fmt.Sprintf(`"seq":%d,`, i)); n != 1 {
			t.Fatalf("frame %d written %d times:\n%s", i, n, got)
		}
	}
	if !strings.HasSuffix(got, "data: [DONE]\n\n") || left != 1 {
		t.Fatalf("stream end: left %d times, output:\n%s", left, got)
	}
	for i := 1; i < 6; i++ {
		if strings.Index(got, fmt.Sprintf(`"seq":%d,`, i)) > strings.Index(got, fmt.Sprintf(`"seq":%d,`, i+1)) {
			t.Fatalf("frames out of order:\n%s", got)
		}
	}
}

// A batch of frames announced in one live message is written whole and in order, once: frames
// already written are skipped, and one after a gap makes the relay fill it from the stream.
func TestRelayWritesLiveBatches(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const job = "BATCHJOB"
	frame := func(i int, typ string) []byte {
		return fmt.Appendf(nil, `{"type":%q,"job_id":%q,"seq":%d,"text":"t%d"}`, typ, job, i, i)
	}
	batch := func(from, to int, last string) []byte {
		var data [][]byte
		for i := from; i <= to; i++ {
			typ := "content"
			if i == to && last != "" {
				typ = last
			}
			data = append(data, frame(i, typ))
		}
		ids, err := h.srv.deps.Frames.AppendBatch(ctx, job, data)
		if err != nil {
			t.Fatal(err)
		}
		var head []string
		for i, id := range ids {
			head = append(head, fmt.Sprintf("%s:%d", id, len(data[i])))
		}
		return append([]byte(strings.Join(head, ",")+"\n"), bytes.Join(data, nil)...)
	}
	info, err := jobs.InfoOf(jobs.TypeChat, job)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &relay{s: h.srv, job: info, leave: func() {}, closed: func() {}, w: bufio.NewWriter(&out)}
	first := batch(1, 4, "")
	if !r.onLive(first) || r.seq != 4 {
		t.Fatalf("after frames 1–4: seq %d", r.seq)
	}
	batch(5, 6, "")         // never arrives live
	late := batch(7, 9, "") // arrives: 5–6 come from the stream
	if !r.onLive(late) || r.seq != 9 {
		t.Fatalf("after the gap: seq %d\n%s", r.seq, out.String())
	}
	if !r.onLive(first) { // a late duplicate batch changes nothing
		t.Fatal("a duplicate batch ended the relay")
	}
	if r.onLive(batch(10, 11, "done")) {
		t.Fatal("the batch with the final frame did not end the relay")
	}
	got := out.String()
	for i := 1; i <= 11; i++ {
		if n := strings.Count(got, fmt.Sprintf(`"seq":%d,`, i)); n != 1 {
			t.Fatalf("frame %d written %d times:\n%s", i, n, got)
		}
		if i > 1 && strings.Index(got, fmt.Sprintf(`"seq":%d,`, i-1)) > strings.Index(got, fmt.Sprintf(`"seq":%d,`, i)) {
			t.Fatalf("frames out of order:\n%s", got)
		}
	}
	if !strings.HasSuffix(got, "data: [DONE]\n\n") {
		t.Fatalf("stream end:\n%s", got)
	}
}
