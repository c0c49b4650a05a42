package storage_test

import (
	"testing"

	"github.com/tbackend/tbackend/storage"
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

// BenchmarkCompareIDs is the relay's per-frame check that a live frame was not written yet.
func BenchmarkCompareIDs(b *testing.B) {
	for b.Loop() {
		if storage.CompareIDs("1700000000000-42", "1700000000000-41") <= 0 {
			b.Fatal("out of order")
		}
	}
}
