package main

import "time"

// sizes bound every load loop of a run: counts and durations per figure. Every loop stops by
// itself at whichever bound it reaches first.
type sizes struct {
	front       bounds // figures 1 and 2: one round of one side
	frontRounds int    // rounds, alternating the sides, so drift hits both alike

	inproc    int           // figure 3: in-process handler calls
	idleJobs  int           // figure 3: round trips on an idle worker
	idlePause time.Duration // between them, so the worker is idle again
	idleMax   time.Duration // and at most this long in all
	sweep     []int         // figure 3: concurrency levels looked at for saturation
	sweepLoad bounds        // per level (conc is the level)
	quiet     time.Duration // figure 3: window of the idle worker's Redis commands

	jobs bounds // figure 4: each side

	ttfb        int   // figure 5: streamed requests per side
	frames      int   // figure 5: long streams per side
	frameWords  int   // words of the long message (one frame each)
	idleStreams []int // figure 5: concurrent idle streams

	traced int // figures 1 and 4: operations whose Redis commands are counted

	tokenBody string // figure 2's request body, when given

	payments int // figure 6: paid retries (and as many keyed calls); each opens an invoice, 60 a minute at most
}

func fullSizes() sizes {
	return sizes{
		// Rounds of a few seconds, alternating the sides: at 40,000 requests a round was over
		// in a second, and one burst of another process's work could move a ratio by 0.1.
		front: bounds{n: 120000, d: 3 * time.Second, conc: 16}, frontRounds: 5,
		inproc: 20000, idleJobs: 200, idlePause: 25 * time.Millisecond, idleMax: 20 * time.Second,
		sweep: []int{1, 2, 4, 8, 16, 32, 64}, sweepLoad: bounds{n: 4000, d: 3 * time.Second},
		quiet: 5 * time.Second,
		jobs:  bounds{n: 40000, d: 8 * time.Second, conc: 64},
		ttfb:  200, frames: 8, frameWords: 400,
		idleStreams: []int{1000, 5000, 10000}, traced: 400,
		payments: 40,
	}
}

func quickSizes() sizes {
	return sizes{
		front: bounds{n: 300, d: time.Second, conc: 8}, frontRounds: 1,
		inproc: 1000, idleJobs: 10, idlePause: 20 * time.Millisecond, idleMax: 5 * time.Second,
		sweep: []int{1, 8}, sweepLoad: bounds{n: 100, d: time.Second},
		quiet: time.Second,
		jobs:  bounds{n: 300, d: 2 * time.Second, conc: 16},
		ttfb:  5, frames: 1, frameWords: 50,
		idleStreams: []int{20, 50}, traced: 40,
		payments: 5,
	}
}

// settings is what the report records of the sizes.
func (s sizes) settings() map[string]any {
	return map[string]any{
		"front_requests_max": s.front.n, "front_seconds_max": s.front.d.Seconds(), "front_concurrency": s.front.conc,
		"front_rounds": s.frontRounds, "idle_round_trips": s.idleJobs, "idle_pause_ms": ms(s.idlePause),
		"saturation_sweep": s.sweep, "sweep_requests_max": s.sweepLoad.n, "sweep_seconds_max": s.sweepLoad.d.Seconds(),
		"jobs_max": s.jobs.n, "jobs_seconds_max": s.jobs.d.Seconds(), "jobs_concurrency": s.jobs.conc,
		"ttfb_requests": s.ttfb, "frame_streams": s.frames, "frame_words": s.frameWords, "idle_streams": s.idleStreams, "traced_operations": s.traced,
		"worker":    "tbackend worker defaults (WORKER_CONCURRENCY 32, WORKER_POLL_INTERVAL 10ms)",
		"upstreams": "openaiemu and blockfrostemu in the bench process, zero added latency",
	}
}
