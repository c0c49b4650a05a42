package main

import (
	"io"
	"sync"
)

// maxPendingLog bounds the log bytes waiting for the writer: beyond it, Write waits (a log
// line is never dropped, and a stalled output cannot grow memory without bound).
const maxPendingLog = 1 << 20

// logWriter is the services' log output. An api at info level writes one access line per
// request, and a write system call per line cost more CPU than the rest of a GET /health. Write
// copies the line and hands it to one goroutine that writes, in one call, whatever gathered
// since its last write: an idle service's line goes out at once, a busy one's lines share
// writes. Close writes what is left; a process killed outright loses the lines not yet written
// (at most those that gathered during one write).
type logWriter struct {
	out  io.Writer
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	drained *sync.Cond // signalled whenever the writer takes the pending lines
	pending []byte
	closed  bool
}

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.drained = sync.NewCond(&w.mu)
	go w.loop()
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) >= maxPendingLog && !w.closed {
		w.drained.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return w.out.Write(p) // after Close (a late goroutine's line): as it comes
	}
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // the writer is awake already and will see the line
	}
	return len(p), nil
}

func (w *logWriter) loop() {
	defer close(w.done)
	var spare []byte
	for range w.wake {
		w.mu.Lock()
		batch, closed := w.pending, w.closed
		w.pending = spare[:0]
		w.drained.Broadcast()
		w.mu.Unlock()
		if len(batch) > 0 {
			_, _ = w.out.Write(batch) // nowhere to report a failing log output
		}
		spare = batch
		if closed {
			return
		}
	}
}

// Close writes the pending lines and stops the writer; later lines are written directly.
func (w *logWriter) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.drained.Broadcast()
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a wake is pending: the loop takes it and sees closed
	}
	<-w.done
}
