package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// BenchmarkParseLive is the relay's cost of reading one live frame off pub/sub.
func BenchmarkParseLive(b *testing.B) {
	msg := []byte("1700000000000-42\n" + `{"type":"content","job_id":"job","seq":43,"text":"a token or two"}`)
	for b.Loop() {
		if _, ok := storage.ParseLive(msg); !ok {
			b.Fatal("not a live frame")
		}
	}
}

// BenchmarkFrameWriter is the worker's cost of relaying a frame when frames come back to back:
// appends grouped while one is in flight (compare BenchmarkFrameAppend, one round trip a frame).
func BenchmarkFrameWriter(b *testing.B) {
	rdb := redistest.Claim(b)
	f := storage.NewFrames(rdb, storage.NewKeys("bench:"), time.Minute, 0)
	w := f.Writer(context.Background(), "job")
	data := []byte(`{"type":"content","job_id":"job","seq":43,"text":"a token or two"}`)
	for b.Loop() {
		if err := w.Write(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFrameAppend is one frame appended and published per round trip.
func BenchmarkFrameAppend(b *testing.B) {
	rdb := redistest.Claim(b)
	f := storage.NewFrames(rdb, storage.NewKeys("bench:"), time.Minute, 0)
	data := []byte(`{"type":"content","job_id":"job","seq":43,"text":"a token or two"}`)
	for b.Loop() {
		if _, err := f.Append(context.Background(), "job", data); err != nil {
			b.Fatal(err)
		}
	}
}
