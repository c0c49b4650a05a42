package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for the tbench binary: the command re-executes itself
// (os.Executable) as the bare fiber baseline of figure 1.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bareFiberCommand {
		os.Exit(bareFiberMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuickRun runs the whole command as `make bench` does, with tiny counts, so that it cannot
// rot: it must start everything, measure every figure, print the table, write complete and
// well-formed JSON, and leave no process behind. It asserts no timing.
func TestQuickRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"-quick", "-out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	noChildren(t)
	for _, want := range []string{"FIG", "RATIO", "TARGET", "results: " + out} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	rep := readReport(t, out)
	checkMachine(t, rep)
	if ids := figureIDs(rep); !slices.Equal(ids, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("figures %v, want 1–6", ids)
	}
	for _, f := range rep.Figures {
		if f.Title == "" || f.Baseline == "" || len(f.Rows) == 0 {
			t.Errorf("figure %d is incomplete: %+v", f.ID, f)
		}
		for _, r := range f.Rows {
			checkRow(t, f.ID, r)
		}
	}
	// Figures 2 and 6 measure the real features: a confirmed cache hit, paid retries.
	for _, f := range []int{1, 5} {
		if r := rep.Figures[f].Rows[0]; r.Value == nil {
			t.Errorf("figure %d measured nothing: %+v", f+1, r)
		}
	}
	if !strings.Contains(rep.Figures[1].Rows[0].Note, "X-Cache HIT") {
		t.Errorf("figure 2 did not confirm its cache hits: %+v", rep.Figures[1].Rows[0])
	}
	// The api's memory comes from its heap profile after a collection (tbench builds serve it).
	if !slices.ContainsFunc(rep.Figures[4].Rows, func(r row) bool { return strings.Contains(r.Note, "after a GC (pprof)") }) {
		t.Errorf("figure 5 did not read the api's memory from its heap profile: %+v", rep.Figures[4].Rows)
	}
}

// TestInterrupt: a run stopped half-way (Ctrl-C) still writes what it measured and stops every
// process it started.
func TestInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOn{marker: "figure 3:", cancel: cancel}
	var stdout bytes.Buffer
	err := run(ctx, []string{"-quick", "-out", out}, &stdout, stderr)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("run = %v (interrupted: %v), want the interruption\n%s", err, ctx.Err(), stderr.String())
	}
	noChildren(t)
	rep := readReport(t, out)
	if ids := figureIDs(rep); len(ids) == 0 || ids[0] != 1 || slices.Contains(ids, 4) {
		t.Errorf("figures %v in the report of a run interrupted during figure 3", ids)
	}
}

// cancelOn is the run's stderr: it cancels the run when the marker is written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rep report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%s is not a report: %v\n%s", path, err, b)
	}
	if rep.Tool != "tbench" || !rep.Quick || rep.Seconds <= 0 || rep.Started.IsZero() || len(rep.Settings) == 0 {
		t.Errorf("report header %+v", rep)
	}
	return rep
}

func figureIDs(rep report) []int {
	var ids []int
	for _, f := range rep.Figures {
		ids = append(ids, f.ID)
	}
	return ids
}

func checkMachine(t *testing.T, rep report) {
	t.Helper()
	m := rep.Machine
	if m.CPUModel == "" || m.Cores < 1 || m.GOMAXPROCS < 1 || m.MemoryBytes == 0 || m.OS == "" || m.Kernel == "" ||
		!strings.HasPrefix(m.GoVersion, "go") || m.RedisVersion == "" || m.LoadAverage == "" {
		t.Errorf("machine description incomplete: %+v", m)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(m.GitCommit) {
		t.Errorf("git commit %q", m.GitCommit)
	}
}

// checkRow: a measured row has a finite value; a row with a baseline has the ratio and the
// difference of the two; a row with a target is judged against it, and only such a row is.
func checkRow(t *testing.T, fig int, r row) {
	t.Helper()
	if r.Figure != fig || r.Metric == "" || r.Unit == "" {
		t.Errorf("figure %d: malformed row %+v", fig, r)
	}
	switch r.Result {
	case resultError:
		t.Errorf("figure %d: %q failed: %s", fig, r.Metric, r.Note)
		return
	case resultPass, resultMiss:
		if r.Target == nil {
			t.Errorf("figure %d: %q judged without a target", fig, r.Metric)
		}
	case resultInfo:
		if r.Target != nil {
			t.Errorf("figure %d: %q has a target but no judgement", fig, r.Metric)
		}
	default:
		t.Errorf("figure %d: %q has result %q", fig, r.Metric, r.Result)
	}
	if r.Value == nil || math.IsNaN(*r.Value) || math.IsInf(*r.Value, 0) {
		t.Errorf("figure %d: %q has no finite value", fig, r.Metric)
		return
	}
	if r.Baseline != nil && (r.Added == nil || math.Abs(*r.Added-(*r.Value-*r.Baseline)) > 1e-9 ||
		*r.Baseline != 0 && (r.Ratio == nil || math.Abs(*r.Ratio - *r.Value / *r.Baseline) > 1e-9)) {
		t.Errorf("figure %d: %q: ratio/added do not follow from value and baseline: %+v", fig, r.Metric, r)
	}
}

// noChildren: no process started by this one is left.
func noChildren(t *testing.T) {
	t.Helper()
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 && fields[1] == me {
			t.Errorf("a child process is left: %s", b[:min(len(b), 80)])
		}
	}
}

// TestJudgement: how rows are judged against targets.
func TestJudgement(t *testing.T) {
	for _, tc := range []struct {
		r     row
		kind  string
		limit float64
		want  string
	}{
		{versus("m", "req/s", 80, 100, ""), targetRatioMin, 0.8, resultPass},
		{versus("m", "req/s", 79, 100, ""), targetRatioMin, 0.8, resultMiss},
		{versus("m", "ms", 20, 5, ""), targetAddedMax, 15, resultPass},
		{versus("m", "ms", 20.5, 5, ""), targetAddedMax, 15, resultMiss},
		{info("m", "KiB", 100, ""), targetMax, 100, resultPass},
		{info("m", "KiB", 101, ""), targetMax, 100, resultMiss},
		{info("m", "conns", 1, ""), targetEqual, 1, resultPass},
		{info("m", "conns", 2, ""), targetEqual, 1, resultMiss},
		{versus("m", "req/s", 5, 0, ""), targetRatioMin, 0.5, resultMiss}, // no ratio without a baseline
	} {
		if got := tc.r.want(tc.kind, tc.limit).Result; got != tc.want {
			t.Errorf("%+v want(%s %g) = %s, want %s", tc.r, tc.kind, tc.limit, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	lat := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := percentile(lat, tc.q); got != tc.want {
			t.Errorf("percentile(%g) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestLoopbackOnly(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "10.0.0.1": false, "redis.example": false} {
		if loopback(host) != want {
			t.Errorf("loopback(%q) = %v", host, !want)
		}
	}
	if _, _, err := openRedis(context.Background(), "redis://10.1.2.3:6379/0", t.TempDir()); err == nil {
		t.Error("a Redis off this machine was accepted")
	}
}

func TestProcParsers(t *testing.T) {
	if p := hexPort("0100007F:18EB"); p != 6379 {
		t.Errorf("hexPort = %d", p)
	}
	profile := []byte("heap profile: …\n# runtime.MemStats\n# HeapInuse = 123456\n# StackInuse = 7890\n")
	if memStat(profile, "HeapInuse") != 123456 || memStat(profile, "StackInuse") != 7890 || memStat(profile, "Sys") != 0 {
		t.Error("memStat misread the heap profile")
	}
	f := clientFields("id=6 addr=127.0.0.1:34684 laddr=127.0.0.1:6379 flags=P db=3 sub=12 psub=0 cmd=subscribe\n")
	if f["addr"] != "127.0.0.1:34684" || f["sub"] != "12" || addrPort(f["addr"]) != 34684 {
		t.Errorf("clientFields = %v", f)
	}
}
