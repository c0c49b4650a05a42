// Package control is the test-control surface both emulators share: the fault header, the
// spec syntax of fault overrides, ordered fault rules with after/times windows, and counters
// a test can wait on. Each emulator keeps what is its own (fault kinds, their wire answers,
// what it counts); the bookkeeping lives here once.
package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Header overrides the fault of one request; its value is the emulator's fault spec.
const Header = "X-Emulator-Fault"

// Serve serves h on addr (a free loopback port when empty) until stop, and returns its base
// URL, "http://host:port".
func Serve(addr string, h http.Handler) (baseURL string, stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// ParseSpec walks a fault spec: items separated by ";", blanks ignored, a bare item naming a
// kind and key=value items naming parameters (both trimmed). The first callback error ends the
// walk and is returned.
func ParseSpec(spec string, kind func(name string) error, param func(key, value string) error) error {
	for item := range strings.SplitSeq(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, hasValue := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		if hasValue {
			err = param(k, v)
		} else {
			err = kind(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Parse reads a fault spec (see ParseSpec) into a fresh F whose kind and param methods set
// its fields; a spec in error gives the zero F.
func Parse[F any](spec string, kind func(f *F, name string) error, param func(f *F, key, value string) error) (F, error) {
	var f F
	err := ParseSpec(spec, func(k string) error { return kind(&f, k) }, func(k, v string) error { return param(&f, k, v) })
	if err != nil {
		var zero F
		return zero, err
	}
	return f, nil
}

// Windowed is a fault that applies in a window of the requests it matches: the first After are
// let through, then Times get it (0: every one from then on).
type Windowed interface {
	Window() (after, times int)
}

// slot counts the matching requests one rule has seen.
type slot[F Windowed] struct {
	f    F
	seen int
}

// take counts one matching request: apply says whether it gets the fault, spent whether the
// rule's window is over (the rule can be dropped).
func (s *slot[F]) take() (apply, spent bool) {
	after, times := s.f.Window()
	s.seen++
	if s.seen <= after {
		return false, false
	}
	n := s.seen - after
	if times > 0 && n > times {
		return false, true
	}
	return true, times > 0 && n == times
}

// Rules are an emulator's faults: an ordered list of emulator-wide rules, and per-header-value
// windows for overrides that carry after/times. Safe for concurrent use.
type Rules[F Windowed] struct {
	mu       sync.Mutex
	list     []*slot[F]
	byHeader map[string]*slot[F]
}

// Set replaces the emulator-wide rules (none clears them).
func (r *Rules[F]) Set(faults ...F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = r.list[:0]
	for _, f := range faults {
		r.list = append(r.list, &slot[F]{f: f})
	}
}

// Add appends an emulator-wide rule after the existing ones.
func (r *Rules[F]) Add(f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, &slot[F]{f: f})
}

// Clear removes every rule and forgets the header windows.
func (r *Rules[F]) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list, r.byHeader = nil, nil
}

// Pick returns the first rule that matches the request and whose window applies, counting the
// request against every matching rule it passes; spent rules are dropped.
func (r *Rules[F]) Pick(matches func(F) bool) (F, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < len(r.list); i++ {
		s := r.list[i]
		if !matches(s.f) {
			continue
		}
		apply, spent := s.take()
		if spent {
			r.list = append(r.list[:i:i], r.list[i+1:]...)
			i--
		}
		if apply {
			return s.f, true
		}
	}
	var zero F
	return zero, false
}

// TakeHeader counts one request carrying header value spec (parsed as f) and reports whether
// it gets the fault: a client that repeats the same header on every retry walks through its
// window (after successes, then times failures, then successes).
func (r *Rules[F]) TakeHeader(spec string, f F) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byHeader[spec]
	if !ok {
		if r.byHeader == nil {
			r.byHeader = map[string]*slot[F]{}
		}
		s = &slot[F]{f: f}
		r.byHeader[spec] = s
	}
	apply, _ := s.take()
	return apply
}

// Counters hold an emulator's statistics S and wake waiters on every change. Safe for
// concurrent use.
type Counters[S any] struct {
	mu      sync.Mutex
	s       S
	changed chan struct{}
	clone   func(S) S
}

// NewCounters starts from initial; clone copies a snapshot (deep-copying maps), so a caller
// never shares state with the counters.
func NewCounters[S any](initial S, clone func(S) S) *Counters[S] {
	return &Counters[S]{s: initial, changed: make(chan struct{}), clone: clone}
}

// Update changes the statistics under the lock and wakes waiters.
func (c *Counters[S]) Update(fn func(*S)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.s)
	close(c.changed)
	c.changed = make(chan struct{})
}

// Snapshot returns a copy of the statistics.
func (c *Counters[S]) Snapshot() S {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clone(c.s)
}

// Read returns what fn computes from the statistics under the lock (one value, no copy).
func Read[S, T any](c *Counters[S], fn func(*S) T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn(&c.s)
}

// Notify wakes waiters without changing the statistics (state a condition reads elsewhere
// changed).
func (c *Counters[S]) Notify() { c.Update(func(*S) {}) }

// WaitFor blocks until cond holds for a snapshot or ctx ends (an emulator notices a client
// leaving asynchronously, so tests wait rather than poll). name prefixes the error, which
// carries the last snapshot.
func (c *Counters[S]) WaitFor(ctx context.Context, name string, cond func(S) bool) error {
	for {
		c.mu.Lock()
		ch, s := c.changed, c.clone(c.s)
		c.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("%s: condition not met; stats %+v", name, c.Snapshot()))
		}
	}
}
