// Command tbench measures the service's speed as ratios against baselines measured in the same
// run, because absolute times drift on shared machines. It builds the real tbackend binary,
// starts its api and worker as child processes on Redis (a database of its own) with the OpenAI
// and Blockfrost emulators hosted here on loopback with zero added latency, drives bounded load
// from this process, prints a table, and writes the results with a description of the machine
// as JSON. Everything it starts is stopped at the end, on failure and on Ctrl-C.
//
//	go run ./cmd/tbench [-quick] [-out bench-results.json] [-figures 1,3]
//
// Each figure is one function (figures below); a new figure is one more function and one line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == bareFiberCommand {
		os.Exit(bareFiberMain(os.Args[2:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tbench:", err)
		os.Exit(1)
	}
}

// figure measures one thing against its baseline.
type figure struct {
	id       int
	title    string
	baseline string
	measure  func(ctx context.Context, e *env, sz sizes) ([]row, error)
}

// figures are the six, in order.
func figures() []figure {
	return []figure{
		{1, "HTTP front: GET /health", "a bare fiber handler answering the same bytes", measureFront},
		{2, "Authenticated cache hit: POST /token-analysis", "figure 1's GET /health through the api", measureCacheHit},
		{3, "Queue round trip: synchronous POST /admin/ping", "the worker's ping handler called in-process", measureQueue},
		{4, "Job throughput through the api", "raw asynq enqueue+process of a no-op task, same Redis", measureThroughput},
		{5, "Chat streaming", "the emulator's stream read directly", measureStreaming},
		{6, "Payments: paid retry", "the same call with an api-key", measurePayments},
	}
}

const defaultRedisURL = "redis://127.0.0.1:6379/0"

type options struct {
	quick     bool
	out       string
	redisURL  string
	logLevel  string
	only      []int
	streams   []int  // idle stream counts of figure 5 (overrides the size's)
	tokenBody string // figure 2's request body (default: the OpenAPI document's example)
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("tbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "a short run with tiny counts (what the test runs)")
	fs.StringVar(&o.out, "out", "bench-results.json", "where the JSON results go")
	fs.StringVar(&o.redisURL, "redis", defaultRedisURL, "Redis server (a free database 1–15 is claimed; started here when the default answers not)")
	fs.StringVar(&o.logLevel, "log-level", "info", "LOG_LEVEL of the api and worker (info is the deployed default: one access log line a request)")
	figs := fs.String("figures", "1,2,3,4,5,6", "figures to run")
	streams := fs.String("streams", "", "idle stream counts of figure 5, e.g. 1000,5000 (default: 1000,5000,10000; -quick: 20,50)")
	fs.StringVar(&o.tokenBody, "token-body", "", "JSON body of POST /token-analysis for figure 2 (default: the api's OpenAPI example)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tbench [flags]\n\nMeasures the service against same-run baselines (see README, `make bench`).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.only, err = intList(*figs); err != nil {
		return o, fmt.Errorf("-figures: %w", err)
	}
	if *streams != "" {
		if o.streams, err = intList(*streams); err != nil {
			return o, fmt.Errorf("-streams: %w", err)
		}
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a list of positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// run is the command: everything it touches comes in through its arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sz := fullSizes()
	if o.quick {
		sz = quickSizes()
	}
	if o.streams != nil {
		sz.idleStreams = o.streams
	}
	sz.tokenBody = o.tokenBody
	if err := raiseFileLimit(uint64(slices.Max(sz.idleStreams)) + fileSlack); err != nil {
		fmt.Fprintln(stderr, "tbench: warning:", err)
	}
	started := time.Now()
	e, err := startEnv(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	rep := report{Tool: "tbench", Started: started.UTC(), Quick: o.quick, Machine: describeMachine(ctx, e.rdb),
		Settings: sz.settings()}
	runErr := runFigures(ctx, e, o, sz, &rep, stderr)
	rep.Seconds = time.Since(started).Seconds()
	fmt.Fprintln(stdout)
	if err := printTable(stdout, rep.Figures); err != nil {
		return err
	}
	if err := writeJSON(o.out, rep); err != nil {
		return err
	}
	path, _ := filepath.Abs(o.out)
	fmt.Fprintf(stdout, "\nresults: %s (%.0f s; machine: %s, %d cores)\n", path, rep.Seconds, rep.Machine.CPUModel, rep.Machine.Cores)
	return runErr
}

// runFigures measures the selected figures in order. A figure that fails gets an error row and
// the run goes on, unless the service died or the run was interrupted.
func runFigures(ctx context.Context, e *env, o options, sz sizes, rep *report, stderr io.Writer) error {
	for _, f := range figures() {
		if !slices.Contains(o.only, f.id) {
			continue
		}
		fmt.Fprintf(stderr, "tbench: figure %d: %s…\n", f.id, f.title)
		t0 := time.Now()
		rows, err := f.measure(ctx, e, sz)
		if err == nil {
			err = e.alive()
		}
		if err != nil {
			fmt.Fprintf(stderr, "tbench: figure %d failed: %v\n", f.id, err)
			rows = append(rows, row{Metric: "measurement", Unit: "-", Result: resultError, Note: firstLine(err.Error())})
		}
		for i := range rows {
			rows[i].Figure = f.id
		}
		rep.Figures = append(rep.Figures, figureResult{ID: f.id, Title: f.title, Baseline: f.baseline,
			Seconds: time.Since(t0).Seconds(), Rows: rows})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := e.alive(); err != nil {
			return err
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// fileSlack is the descriptors a process needs beside figure 5's streams.
const fileSlack = 1024

// raiseFileLimit lifts the limit of open files to need, the hard limit included when it is lower
// and the process may (root), else the soft limit to the hard one: figure 5 holds thousands of
// streams (the api one socket each, this process another), and the children inherit the limit.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Max < need && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: need, Max: need}) == nil {
		return nil
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
