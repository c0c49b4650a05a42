package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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
