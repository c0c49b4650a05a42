package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/internal/syncbuf"
)

// Concurrent lines all arrive whole, each writer's in its order, and Close leaves nothing behind.
func TestLogWriterKeepsEveryLine(t *testing.T) {
	var out syncbuf.Buffer
	w := newLogWriter(&out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "g%d line %d %s\n", g, i, strings.Repeat("x", i%97))
			}
		})
	}
	wg.Wait()
	w.Close()
	next := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		g, _, _ := strings.Cut(l, " ")
		i := next[g]
		if want := fmt.Sprintf("%s line %d %s", g, i, strings.Repeat("x", i%97)); l != want {
			t.Fatalf("line %q: out of order or torn, want %q", l, want)
		}
		next[g]++
	}
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	fmt.Fprintln(w, "after close")
	if !strings.HasSuffix(out.String(), "after close\n") {
		t.Fatal("a line written after Close was lost")
	}
}

// An idle writer's line goes out without waiting for more (or for Close).
func TestLogWriterWritesAtOnceWhenIdle(t *testing.T) {
	var out syncbuf.Buffer
	w := newLogWriter(&out)
	defer w.Close()
	fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "hello") {
		if time.Now().After(deadline) {
			t.Fatal("an idle writer held its line")
		}
		time.Sleep(time.Millisecond)
	}
}

// blockedOut accepts writes only once released.
type blockedOut struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (b *blockedOut) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// A stalled output makes writers wait once maxPendingLog is pending: memory stays bounded and
// nothing is dropped.
func TestLogWriterBoundsWhatIsPending(t *testing.T) {
	out := &blockedOut{release: make(chan struct{})}
	w := newLogWriter(out)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	wrote := make(chan int)
	go func() {
		n := 0
		for range 3 * maxPendingLog / len(line) {
			_, _ = w.Write(line)
			n++
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("%d lines written into a stalled output without waiting", n)
	case <-time.After(200 * time.Millisecond):
	}
	close(out.release)
	n := <-wrote
	w.Close()
	if out.buf.Len() != n*len(line) {
		t.Fatalf("%d bytes out, want %d", out.buf.Len(), n*len(line))
	}
}
