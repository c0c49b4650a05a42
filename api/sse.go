package api

import (
	"bufio"
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/stream"
)

const (
	// streamLimit ends a relay whose job never finishes (the chat job's own timeout, plus margin).
	streamLimit = 6 * time.Minute
	// relayQueue is a stream's in-process queue of live messages: a relay that falls further
	// behind refills from the stored stream (frames carry sequence numbers), so depth would only
	// cost memory on every open stream. A message holds every frame the worker appended at once
	// (storage.FrameWriter), so a burst takes one place.
	relayQueue = 16
	// idleProbe is how often an idle stream checks that its client is still there.
	idleProbe = time.Second
	// reattachGrace is how long a stream whose client left waits for a reconnect before the job
	// is canceled (a reconnecting client resumes with Last-Event-ID instead).
	reattachGrace = time.Second
	// subscribeWait bounds the wait for Redis to confirm a stream's subscription.
	subscribeWait = 5 * time.Second
)

// startStream subscribes to the job's live frames before enqueueing it, so not one frame can be
// published unheard, then streams them as Server-Sent Events.
func (s *Server) startStream(c *fiber.Ctx, spec jobs.Spec) error {
	settle, err := s.admitJob(c, &spec)
	if err != nil {
		return err
	}
	endStream, err := s.holdStream(c)
	if err != nil {
		settle(false, err)
		return err
	}
	live, leave, err := s.subscribe(c, spec.ID)
	if err != nil {
		settle(false, err)
		endStream()
		return err
	}
	if _, err := s.deps.Jobs.Enqueue(c.UserContext(), spec); err != nil {
		leave()
		settle(false, err)
		endStream()
		return err
	}
	// The relay ends with the job (or cancels it when its client leaves): both slots go then.
	ended := sync.OnceFunc(func() { settle(false, nil); endStream() })
	return s.sse(c, spec.ID, "", live, func() { leave(); ended() })
}

// attachStream streams an existing job's frames after lastID, then live ones.
func (s *Server) attachStream(c *fiber.Ctx, jobID, lastID string) error {
	if !validLastEventID(lastID) {
		return httpError(422, []FieldError{{Loc: []any{"header", "Last-Event-ID"}, Msg: "Not an event id of this stream", Type: "value_error"}})
	}
	endStream, err := s.holdStream(c)
	if err != nil {
		return err
	}
	live, leave, err := s.subscribe(c, jobID)
	if err != nil {
		endStream()
		return err
	}
	ended := sync.OnceFunc(endStream)
	return s.sse(c, jobID, lastID, live, func() { leave(); ended() })
}

// validLastEventID tells whether lastID is a resume point: none, or the id of an event this api
// sent (the full form of a frame id).
func validLastEventID(lastID string) bool {
	_, full, ok := stream.ParseID(lastID)
	return lastID == "" || ok && full
}

// subscribe joins a job's live frames. The confirmation is awaited only briefly: while Redis is
// down it never comes, and the caller should hear 503 rather than wait.
func (s *Server) subscribe(c *fiber.Ctx, jobID string) (<-chan []byte, func(), error) {
	ctx, cancel := context.WithTimeout(c.UserContext(), subscribeWait)
	defer cancel()
	return s.deps.Hub.SubscribeSize(ctx, s.deps.Frames.Channel(jobID), relayQueue)
}

func (s *Server) sse(c *fiber.Ctx, jobID, lastID string, live <-chan []byte, leave func()) error {
	info, err := jobs.InfoOf(jobs.TypeChat, jobID)
	if err != nil {
		leave()
		return err
	}
	nd := wantsNDJSON(c)
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	if nd {
		c.Set(fiber.HeaderContentType, ndjsonType)
	}
	c.Set(fiber.HeaderCacheControl, "no-cache, no-transform")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	c.Set("X-Job-Id", jobID)
	c.Status(fiber.StatusOK)
	r := &relay{s: s, job: info, last: lastID, live: live, leave: leave, closed: s.deps.Metrics.StreamOpened(), ndjson: nd}
	if st := paidSettlement(c); st != nil {
		r.settle = st.finish
	}
	// Headers (with X-Job-Id) go out at once, not with the first frame: a job may wait in the
	// queue, and a client that drops meanwhile must still know which job to resume.
	c.Context().Response.ImmediateHeaderFlush = true
	c.Context().SetBodyStreamWriter(r.run)
	return nil
}

// relay copies one job's frames to one client: first what is stored after the client's last id,
// then live frames from the shared pub/sub connection. Frames carry a sequence number; a gap (a
// live frame lost to a slow client, or a reconnect of the shared connection) is filled from the
// stored stream, and frames seen twice are skipped by id.
type relay struct {
	s      *Server
	job    jobs.Info // the chat job whose stream this is
	last   string    // id of the last frame written
	seq    int       // its sequence number (0: not known)
	live   <-chan []byte
	leave  func()
	closed func()
	w      *bufio.Writer
	ndjson bool // one JSON object a line (see ndjson.go) instead of Server-Sent Events
	// settle, on a paid stream, consumes the payment when the done frame was written and gives it
	// back otherwise (error frame, timeout, departed client, shutdown), with why.
	settle    func(delivered bool, reason string)
	delivered bool
	endCode   string
	departed  bool // the client went away (gone)
	watch     jobs.Watch
}

func (r *relay) run(w *bufio.Writer) {
	defer r.cancelIfDeparted() // last: the stream is closed and settled by then
	r.w = w
	defer r.closed()
	defer r.settled()
	if !r.catchUp() || !r.checkLost() {
		return
	}
	// A job whose worker died writes no final frame: the relay looks for that itself.
	var checks <-chan time.Time
	if every := r.s.deps.Jobs.CheckEvery(); every > 0 {
		tick := time.NewTicker(every)
		defer tick.Stop()
		checks = tick.C
	}
	// fasthttp writes the stream through a pipe, so a departed client shows as a failed write
	// only a couple of writes later: idle streams get a one-byte comment every probe interval
	// (and `: ping` every heartbeat) so that a queued job whose client left is canceled within
	// seconds, not minutes.
	probe := time.NewTicker(min(r.s.cfg.Heartbeat, idleProbe))
	defer probe.Stop()
	lastWrite, lastPing := time.Now(), time.Now()
	limit := time.NewTimer(streamLimit)
	defer limit.Stop()
	for {
		select {
		case msg, ok := <-r.live:
			if !ok { // the api is shutting down: the client resumes elsewhere
				r.endCode = "shutdown"
				r.leave()
				return
			}
			if !r.onLive(msg) {
				return
			}
			lastWrite = time.Now()
		case now := <-probe.C:
			comment := ""
			switch {
			case now.Sub(lastPing) >= r.s.cfg.Heartbeat:
				comment, lastPing = ": ping\n\n", now
			case now.Sub(lastWrite) >= idleProbe:
				comment = ":\n"
			default:
				continue
			}
			if r.ndjson {
				comment = "\n" // NDJSON has no comments: a blank line keeps the probe
			}
			if _, err := w.WriteString(comment); err != nil || w.Flush() != nil {
				r.gone()
				return
			}
			lastWrite = now
		case <-checks:
			if r.due() && !r.checkLost() {
				return
			}
		case <-r.s.stopping():
			r.stopped()
			return
		case <-limit.C:
			r.endCode = jobs.CodeTimeout
			r.leave()
			r.writeEnd(stream.Frame{Type: stream.TypeError, JobID: r.job.ID, Code: jobs.CodeTimeout, Message: "the stream took too long"})
			return
		}
	}
}

// stopped ends the stream when the api stops (its graceful stop waits for every open stream):
// what is stored goes out, then an error frame; the job runs on, and the client resumes after the
// last frame it got, at any api.
func (r *relay) stopped() {
	if !r.catchUp() {
		return // it ended meanwhile, or its client left
	}
	r.endCode = "shutdown"
	r.leave()
	r.writeEnd(stream.Frame{Type: stream.TypeError, JobID: r.job.ID, Code: jobs.CodeServiceUnavailable,
		Message: "the api is restarting; resume with Last-Event-ID"})
}

// onLive handles one live message (a frame, or a batch of them written with one flush); false
// ends the relay.
func (r *relay) onLive(msg []byte) bool {
	frames, ok := storage.ParseLiveBatch(msg)
	if len(msg) == 0 || !ok {
		return r.catchUp() // a reconnect of the shared connection: re-read what is stored
	}
	for i, f := range frames {
		if r.last != "" && stream.CompareIDs(f.ID, r.last) <= 0 {
			continue // already written
		}
		_ = f.DecodeHead() // a frame that is not one has no seq: a gap, filled from the stream
		if r.seq == 0 || f.Seq != r.seq+1 {
			return r.flush() && r.catchUp()
		}
		if !r.put(f, i < len(frames)-1) {
			return false
		}
	}
	return r.flush()
}

// flush sends what is buffered; false (the client left) ends the relay.
func (r *relay) flush() bool {
	if err := r.w.Flush(); err != nil {
		r.gone()
		return false
	}
	return true
}

// due tells whether a full look at the job is due (jobs.Watch: cheap while it beats or waits).
func (r *relay) due() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.watch.Due(ctx, r.s.deps.Jobs, r.job.ID)
}

// checkLost ends the stream of a job that cannot end it itself (its worker died, or it finished
// without streaming): the final frame goes into the job's stream, once, so that every relay and
// every later resume ends the same way. false ends the relay.
func (r *relay) checkLost() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, lost := r.s.deps.Jobs.Lost(ctx, r.job)
	if !lost {
		return true
	}
	if _, err := r.s.deps.Frames.AppendFinal(ctx, r.job.ID, jobs.FinalFrame(o)); err != nil {
		r.s.log.Warn("end the stream of a lost job", "job_id", r.job.ID, "error", err)
		return true // the next check retries
	}
	return r.catchUp()
}

// catchUp writes every stored frame after the last one written; false ends the relay.
func (r *relay) catchUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	frames, err := r.s.deps.Frames.After(ctx, r.job.ID, r.last, 0)
	if err != nil && outage(err) {
		// Redis is gone: live frames cannot come either. Say so now; the client resumes later.
		r.endCode = jobs.CodeServiceUnavailable
		r.leave()
		r.writeEnd(stream.Frame{Type: stream.TypeError, JobID: r.job.ID, Code: jobs.CodeServiceUnavailable,
			Message: "the stream's relay lost its store; resume with Last-Event-ID shortly"})
		return false
	}
	if err != nil {
		r.s.log.Warn("replay stream", "job_id", r.job.ID, "error", err)
		return true // live frames may still come; the next gap retries
	}
	for _, f := range frames {
		_ = f.DecodeHead() // not a frame: written as stored, it neither numbers nor ends the stream
		if !r.write(f) {
			return false
		}
	}
	return true
}

// write sends one frame; after a final frame it ends the stream. false ends the relay.
func (r *relay) write(f stream.Frame) bool { return r.put(f, false) }

// put is write; more leaves a frame that does not end the stream buffered (more follow at once).
func (r *relay) put(f stream.Frame, more bool) bool {
	if err := r.frame(stream.Frame{ID: f.ID, Raw: literalHTML(f.Raw)}); err != nil {
		r.gone()
		return false
	}
	r.last, r.seq = f.ID, f.Seq
	if f.Final() {
		r.leave()
		// A paid stream is settled once its last frame is out and before the end marker, so a
		// client that read to [DONE] sees its payment as the ledger has it.
		r.delivered, r.endCode = f.Type == stream.TypeDone && r.w.Flush() == nil, f.Code
		r.settled()
		if !r.ndjson { // an NDJSON stream ends with its final object
			_, _ = r.w.WriteString("data: [DONE]\n\n")
		}
		_ = r.w.Flush()
		return false
	}
	return more || r.flush()
}

// writeEnd sends a final frame of our own (not from the job) and the end marker.
func (r *relay) writeEnd(f stream.Frame) {
	data, _ := marshalJSON(f)
	_ = r.frame(stream.Frame{Raw: data})
	if !r.ndjson {
		_, _ = r.w.WriteString("data: [DONE]\n\n")
	}
	_ = r.w.Flush()
}

// settled ends a paid stream's hold on its payment: consumed only when its done frame went out.
func (r *relay) settled() {
	if r.settle == nil {
		return
	}
	reason := ""
	if !r.delivered {
		reason = "stream_" + cmp.Or(r.endCode, "ended")
	}
	r.settle(r.delivered, reason)
	r.settle = nil
}

// gone handles a client that went away: the relay ends, and its job is canceled after the grace
// period (cancelIfDeparted).
func (r *relay) gone() {
	r.endCode = "client_gone"
	r.departed = true
	r.leave()
}

// cancelIfDeparted cancels the job of a client that went away, unless it (or another) has
// re-attached within the grace period, so the upstream stops generating for nobody. It runs last
// in the relay's own goroutine (after its slot, metrics and payment are settled): the relay owns
// the wait and ends with it.
func (r *relay) cancelIfDeparted() {
	if !r.departed {
		return
	}
	time.Sleep(reattachGrace)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := r.s.deps.Hub.Subscribers(ctx, r.s.deps.Frames.Channel(r.job.ID))
	if err == nil && n > 0 {
		return
	}
	if err := r.s.deps.Jobs.Cancel(ctx, r.job.ID); err != nil {
		r.s.log.Debug("cancel job of a departed stream", "job_id", r.job.ID, "error", err)
	}
}
