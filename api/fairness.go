package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// Per-caller concurrency caps keep one tenant from filling the shared queue and the relays: a
// caller holds at most this many jobs in flight and streams open at once (Config, or the key's
// own max_jobs / max_streams).
const (
	defaultMaxJobs    = 16
	defaultMaxStreams = 8
	// jobSlotTTL bounds how long a job's slot counts when nobody gives it back (its api crashed
	// mid-wait, an async caller never looks): longer than any job's attempts, and finished jobs
	// are swept out sooner when the caller is at its cap (sweepJobs).
	jobSlotTTL = time.Hour
	// streamSlotTTL outlives the longest relay (streamLimit) a little.
	streamSlotTTL = streamLimit + time.Minute
	// slotRetryAfter is the Retry-After of a refusal: a guess at when one of the caller's jobs or
	// streams ends (the oldest's own lapse can be an hour away).
	slotRetryAfter = 5 * time.Second
)

// capFor is the caller's cap of a kind; a negative cap means none.
func (s *Server) capFor(kind storage.SlotKind, cl *caller) int {
	own, def := cl.key.MaxJobs, s.cfg.MaxJobs
	if kind == storage.SlotStreams {
		own, def = cl.key.MaxStreams, s.cfg.MaxStreams
	}
	if own != 0 {
		return own
	}
	return def
}

// holdSlot claims one of the caller's slots of a kind for member, or refuses with 429. release
// gives it back (safe to call more than once, and after the request ended).
func (s *Server) holdSlot(c *fiber.Ctx, kind storage.SlotKind, member string) (release func(), err error) {
	cl := callerOf(c)
	limit := 0
	if cl != nil {
		limit = s.capFor(kind, cl)
	}
	if limit < 0 || cl == nil {
		return func() {}, nil
	}
	ctx := c.UserContext()
	ttl := jobSlotTTL
	if kind == storage.SlotStreams {
		ttl = streamSlotTTL
	}
	d, err := s.deps.Limiter.AcquireSlot(ctx, kind, cl.owner, member, limit, ttl)
	if err == nil && !d.Allowed && kind == storage.SlotJobs && s.sweepJobs(ctx, cl.owner) {
		d, err = s.deps.Limiter.AcquireSlot(ctx, kind, cl.owner, member, limit, ttl)
	}
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		what := "jobs in flight"
		if kind == storage.SlotStreams {
			what = "open streams"
		}
		return nil, &HTTPError{Status: http.StatusTooManyRequests,
			Detail:  fmt.Sprintf("Too many %s for this caller (at most %d at once); retry when one ends", what, limit),
			Headers: map[string]string{"Retry-After": strconv.Itoa(ceilSeconds(slotRetryAfter))}}
	}
	owner := cl.owner
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := s.deps.Limiter.ReleaseSlot(ctx, kind, owner, member); err != nil {
			s.log.Warn("release slot", "owner", owner, "error", err) // it lapses on its own
		}
	}, nil
}

// sweepJobs frees the slots of the owner's jobs that have ended: async jobs nobody waits for, and
// waits whose api died. It reports whether any slot was freed.
func (s *Server) sweepJobs(ctx context.Context, owner string) bool {
	ids, err := s.deps.Limiter.SlotHolders(ctx, storage.SlotJobs, owner)
	if err != nil {
		return false
	}
	freed := false
	for _, id := range ids {
		st, err := s.deps.Jobs.Status(ctx, id)
		ended := errors.Is(err, jobs.ErrNotFound) || err == nil &&
			(st.Status == jobs.StateSucceeded || st.Status == jobs.StateFailed || st.Status == jobs.StateCanceled)
		if ended && s.deps.Limiter.ReleaseSlot(ctx, storage.SlotJobs, owner, id) == nil {
			freed = true
		}
	}
	return freed
}

// admitJob gives spec its id and claims a job slot for it. settle, called with the outcome of
// enqueueing (async) or running it, gives the slot back unless the job is still in flight.
func (s *Server) admitJob(c *fiber.Ctx, spec *jobs.Spec) (settle func(async bool, err error), err error) {
	if spec.ID == "" {
		spec.ID = jobs.NewID()
	}
	release, err := s.holdSlot(c, storage.SlotJobs, spec.ID)
	if err != nil {
		return nil, err
	}
	return func(async bool, err error) {
		if !errors.Is(err, jobs.ErrStillRunning) && (!async || err != nil) {
			release()
		}
	}, nil
}

// holdStream claims a stream slot for one relay.
func (s *Server) holdStream(c *fiber.Ctx) (release func(), err error) {
	return s.holdSlot(c, storage.SlotStreams, uuid.NewString())
}
