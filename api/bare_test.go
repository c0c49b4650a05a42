package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeBare: the benchmark's baseline answers exactly the bytes it is given, on its one
// route only, and stops when its context ends.
func TestServeBare(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	body := []byte(`{"status":"ok","checks":{}}`)
	go func() { done <- ServeBare(ctx, ln, "/health", 200, "application/json", body) }()
	base := "http://" + ln.Addr().String()

	res, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(got) != string(body) || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /health = %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), got)
	}
	res, err = http.Get(base + "/other")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other = %d, want 404", res.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeBare returned %v after its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeBare did not return after its context ended")
	}
}
