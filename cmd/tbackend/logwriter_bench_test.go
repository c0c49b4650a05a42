package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAccessLogLine is one JSON access line, 16 writers at once, to a file written line by
// line (as before issue 17) and through logWriter.
//
//	go test -run '^$' -bench AccessLogLine -cpu 16 ./cmd/tbackend/
func BenchmarkAccessLogLine(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(io.Writer) (io.Writer, func())
	}{
		{"direct", func(w io.Writer) (io.Writer, func()) { return w, func() {} }},
		{"logWriter", func(w io.Writer) (io.Writer, func()) { lw := newLogWriter(w); return lw, lw.Close }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w, done := tc.wrap(f)
			log := slog.New(slog.NewJSONHandler(w, nil))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.Info("request", "request_id", "5319343d-82df-4c11-8e4c-f3357f96df52", "method", "GET",
						"route", "/health", "status", 200, "latency_ms", 0.12, "key_id", "", "client_ip", "127.0.0.1")
				}
			})
			done()
		})
	}
}
