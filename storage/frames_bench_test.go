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
