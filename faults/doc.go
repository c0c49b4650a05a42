// Package faults is the fault suite (`make faults`): it builds tbackend, starts real processes
// (a Redis with AOF on a port of its own, `tbackend api`, two `tbackend worker`s) against the
// upstream emulators, and breaks them: worker SIGKILL mid-jobs, Redis stop and start, upstream
// stalls, cuts, rate limits and server errors, clients that leave. Its tests carry the `faults`
// build tag, so `make test` does not run them; each scenario is bounded in time.
package faults
