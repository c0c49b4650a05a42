package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// bounds caps one load loop: it stops by itself after n operations or d, whichever comes first,
// with at most conc operations in flight.
type bounds struct {
	n    int
	d    time.Duration
	conc int
}

// result is what a load loop measured: every operation's latency (sorted), its errors, and the
// wall time it took.
type result struct {
	lat      []time.Duration
	errs     int
	firstErr error
	elapsed  time.Duration
}

// drive runs op from b.conc goroutines until b.n operations were started or b.d has passed (or
// ctx ends). Each goroutine runs its operations back to back (a closed loop).
func drive(ctx context.Context, b bounds, op func(ctx context.Context) error) result {
	ctx, cancel := context.WithTimeout(ctx, b.d+time.Minute) // a hung operation cannot hang the run
	defer cancel()
	var (
		started atomic.Int64
		mu      sync.Mutex
		res     result
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(b.d)
	t0 := time.Now()
	for range max(b.conc, 1) {
		wg.Go(func() {
			var lat []time.Duration
			var errs int
			var first error
			for ctx.Err() == nil && time.Now().Before(deadline) && started.Add(1) <= int64(b.n) {
				s := time.Now()
				if err := op(ctx); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(s))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	slices.Sort(res.lat)
	return res
}

// merge joins the samples of several rounds of the same loop.
func merge(rs ...result) result {
	var m result
	for _, r := range rs {
		m.lat = append(m.lat, r.lat...)
		m.errs += r.errs
		m.elapsed += r.elapsed
		if m.firstErr == nil {
			m.firstErr = r.firstErr
		}
	}
	slices.Sort(m.lat)
	return m
}

// p is the nearest-rank percentile q (0–1) of the latencies.
func (r result) p(q float64) time.Duration { return percentile(r.lat, q) }

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// rate is successful operations per second of wall time.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

// check fails a measurement that had errors: numbers from a half-failing loop would mislead.
func (r result) check(what string) error {
	if r.errs > 0 {
		return &loadError{what: what, errs: r.errs, ok: len(r.lat), first: r.firstErr}
	}
	if len(r.lat) == 0 {
		return &loadError{what: what}
	}
	return nil
}

type loadError struct {
	what     string
	errs, ok int
	first    error
}

func (e *loadError) Error() string {
	if e.first == nil {
		return e.what + ": no operation completed"
	}
	return fmt.Sprintf("%s: %d of %d operations failed; first: %v", e.what, e.errs, e.errs+e.ok, e.first)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
