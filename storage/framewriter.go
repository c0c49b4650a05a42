package storage

import (
	"context"
	"sync"
	"time"
)

// maxPendingFrames bounds the frames a FrameWriter holds while an append is in flight: a writer
// that gets that far ahead of Redis waits.
const maxPendingFrames = 256

// frameAppendWait bounds one batch's append (the job's own context may end meanwhile: frames
// already accepted are still stored, so the stream has no hole).
const frameAppendWait = 5 * time.Second

// FrameWriter appends one job's frames in order without waiting for each (group commit): frames
// written while an append is in flight go together in the next one, one script and one round
// trip a batch. A producer faster than Redis thus pays one round trip per batch, not per frame,
// and one that is slower sees each frame go out at once, as with Append.
//
// After a failed append, the frames still pending are dropped and every later call returns the
// error: a stream never gets a frame after a hole.
type FrameWriter struct {
	frames *Frames
	jobID  string
	base   context.Context // the job's, detached: accepted frames are stored after it ends

	mu      sync.Mutex
	cond    *sync.Cond // signals a batch taken or finished
	pending [][]byte
	busy    bool // an append is in flight
	err     error
}

// Writer returns a FrameWriter for jobID's stream, whose appends run on ctx detached from its
// end. One goroutine writes through it.
func (f *Frames) Writer(ctx context.Context, jobID string) *FrameWriter {
	w := &FrameWriter{frames: f, jobID: jobID, base: context.WithoutCancel(ctx)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Write queues data as the stream's next frame and returns without waiting for it to be stored.
// It returns ctx's error when ctx has ended (nothing is queued then), or the error of an earlier
// append.
func (w *FrameWriter) Write(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && len(w.pending) >= maxPendingFrames {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	w.pending = append(w.pending, data)
	if !w.busy {
		w.busy = true
		go w.run()
	}
	return nil
}

// Flush waits until every frame written is stored (or an append failed) and returns the error.
func (w *FrameWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.busy {
		w.cond.Wait()
	}
	return w.err
}

// run appends batches until nothing is pending.
func (w *FrameWriter) run() {
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		if len(batch) == 0 || w.err != nil {
			w.busy = false
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		w.cond.Broadcast() // room for a waiting Write
		w.mu.Unlock()

		ctx, cancel := context.WithTimeout(w.base, frameAppendWait)
		_, err := w.frames.AppendBatch(ctx, w.jobID, batch)
		cancel()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.pending = nil
			w.mu.Unlock()
		}
	}
}
