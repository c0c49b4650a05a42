package api

import (
	"bufio"
	"io"
	"strconv"
	"testing"

	"github.com/tbackend/tbackend/jobs"
)

// BenchmarkRelayLiveFrame is the api's per-frame path of a chat stream: a live pub/sub message
// parsed, ordered, its head read, and written to the client as an SSE event or an NDJSON line.
func BenchmarkRelayLiveFrame(b *testing.B) {
	for _, nd := range []bool{false, true} {
		name := "sse"
		if nd {
			name = "ndjson"
		}
		b.Run(name, func(b *testing.B) {
			r := &relay{job: jobs.Info{ID: "job", Type: jobs.TypeChat}, ndjson: nd, w: bufio.NewWriter(io.Discard), last: "1700000000000-0", seq: 1}
			msg := make([]byte, 0, 256)
			for i := 1; b.Loop(); i++ {
				msg = strconv.AppendInt(append(msg[:0], "1700000000000-"...), int64(i), 10)
				msg = append(msg, "\n"+`{"type":"content","job_id":"job","seq":`...)
				msg = strconv.AppendInt(msg, int64(i+1), 10)
				msg = append(msg, `,"text":"a token or two"}`...)
				if !r.onLive(msg) {
					b.Fatal("the relay ended")
				}
			}
		})
	}
}
