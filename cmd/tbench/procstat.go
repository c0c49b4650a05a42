package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// memory is a process's memory: resident set size from /proc, and the Go runtime's heap and
// stacks in use.
type memory struct {
	rss, heap, stacks uint64
	source            string // where heap and stacks come from
}

// apiMemory reads the api's memory. Heap and stacks come from its heap profile taken right after
// a collection (/debug/pprof/heap?gc=1 on METRICS_ADDR, served by tbench builds), so garbage
// does not count; without it, from its Prometheus metrics, which may include garbage.
func (e *env) apiMemory(ctx context.Context) (memory, error) {
	var m memory
	rss, err := rssBytes(e.api.pid())
	if err != nil {
		return m, err
	}
	m.rss = rss
	body, _, err := e.call(ctx, "GET", e.apiDebug+"/debug/pprof/heap?gc=1&debug=1", nil, nil, 200)
	if err == nil {
		m.heap, m.stacks = memStat(body, "HeapInuse"), memStat(body, "StackInuse")
		m.source = "Go runtime after a GC (pprof)"
		if m.heap > 0 {
			return m, nil
		}
	}
	h, err1 := e.metric(ctx, e.apiDebug, "go_memstats_heap_inuse_bytes")
	s, err2 := e.metric(ctx, e.apiDebug, "go_memstats_stack_inuse_bytes")
	if err1 != nil || err2 != nil {
		return m, fmt.Errorf("api memory: no heap profile (%v) and no metrics (%v, %v)", err, err1, err2)
	}
	m.heap, m.stacks, m.source = uint64(h), uint64(s), "Go runtime metrics (may include garbage)"
	return m, nil
}

// memStat reads "# Name = N" from a debug=1 heap profile.
func memStat(profile []byte, name string) uint64 {
	prefix := []byte("# " + name + " = ")
	for line := range bytes.Lines(profile) {
		if v, ok := bytes.CutPrefix(line, prefix); ok {
			n, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n
		}
	}
	return 0
}

// rssBytes is VmRSS of a process.
func rssBytes(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// metric reads one unlabelled sample from a Prometheus text endpoint (base + /metrics).
func (e *env) metric(ctx context.Context, base, name string) (float64, error) {
	body, _, err := e.call(ctx, "GET", base+"/metrics", nil, nil, 200)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(body) {
		if v, ok := bytes.CutPrefix(line, []byte(name+" ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		}
	}
	return 0, fmt.Errorf("%s/metrics has no %s", base, name)
}

// cpuTime is the CPU time (user+system) process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid … utime stime: fields 14 and 15, counted after the comm.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(u+s) * time.Second / ticks, nil
}

// cpuMeter sums the CPU time named processes use over measured spans.
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
	used  map[string]time.Duration
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	return &cpuMeter{pids: pids, start: map[string]time.Duration{}, used: map[string]time.Duration{}}
}

func (m *cpuMeter) begin() {
	for name, pid := range m.pids {
		m.start[name], _ = cpuTime(pid)
	}
}

func (m *cpuMeter) end() {
	for name, pid := range m.pids {
		if t, err := cpuTime(pid); err == nil {
			m.used[name] += t - m.start[name]
		}
	}
}

// per is name's CPU time per operation, in µs.
func (m *cpuMeter) per(name string, ops int) float64 {
	return float64(m.used[name]) / float64(time.Microsecond) / float64(max(ops, 1))
}

// redisPID is the Redis server's process id (INFO server), when it runs on this machine.
func (e *env) redisPID(ctx context.Context) int {
	inf, err := e.rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.Lines(inf) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			if _, err := cpuTime(pid); err == nil {
				return pid
			}
		}
	}
	return 0
}
