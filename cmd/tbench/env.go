package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/storage/redistest"
)

// env is everything a run started: the tbackend binary built for it, Redis (a database of its
// own), the upstream emulators hosted in this process with zero added latency, and the api and
// worker as child processes pointed at them.
type env struct {
	dir       string
	bin       string
	redisOpts *redis.Options // our database
	rdb       *redis.Client
	openai    *openaiemu.Emulator
	openaiURL string
	bfURL     string
	bf        *blockfrostemu.Emulator // its chain: figure 6 pays invoices on it
	apiURL    string                  // http://127.0.0.1:port
	apiDebug  string                  // the api's METRICS_ADDR: /metrics and (tbench builds) /debug/pprof
	workDebug string                  // the worker's
	api       *child
	worker    *child
	key       string       // an API key with every scope and a very high rate limit
	client    *http.Client // the load generator's: keep-alive, no compression
	progress  io.Writer
	closers   []func()
}

const (
	openaiKey    = "sk-tbench"
	blockfrostID = "tbench-project"
	// benchRPM is the key's rate limit: high enough never to refuse the benchmark, yet a real
	// limit, so every authenticated request runs the limiter.
	benchRPM = 100_000_000
)

// startEnv starts what a run needs. On error, what was started is already stopped.
func startEnv(ctx context.Context, o options, progress io.Writer) (_ *env, err error) {
	e := &env{progress: progress, client: newClient(256)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "tbench-"); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = os.RemoveAll(e.dir) })
	if err := e.build(ctx); err != nil {
		return nil, fmt.Errorf("%w (run tbench inside the module, e.g. make bench)", err)
	}
	base, stopRedis, err := openRedis(ctx, o.redisURL, e.dir)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, stopRedis)
	rdb, release, err := redistest.ClaimDB(ctx, base, "tbench")
	if err != nil {
		return nil, err
	}
	e.rdb, e.redisOpts = rdb, rdb.Options()
	e.closers = append(e.closers, release)
	if err := e.startEmulators(); err != nil {
		return nil, err
	}
	if e.key, err = e.createKey(ctx); err != nil {
		return nil, err
	}
	if err := e.startServices(ctx, o.logLevel); err != nil {
		return nil, err
	}
	return e, nil
}

// close stops everything, in the reverse order of starting.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// build compiles the service as `make build` does, plus the tbench tag (profiles on METRICS_ADDR).
func (e *env) build(ctx context.Context) error {
	e.bin = filepath.Join(e.dir, "tbackend")
	fmt.Fprintln(e.progress, "tbench: building tbackend (go build -tags tbench)…")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "tbench", "-trimpath", "-ldflags", "-s -w -X main.version=tbench",
		"-o", e.bin, "github.com/tbackend/tbackend/cmd/tbackend")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/tbackend: %v\n%s", err, out)
	}
	return nil
}

func (e *env) startEmulators() error {
	e.openai = openaiemu.New(openaiKey)
	u, stop, err := e.openai.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("openai emulator: %w", err)
	}
	e.openaiURL = u
	e.closers = append(e.closers, stop)
	// The tip follows the wall clock (blocks only when figure 6 asks), so paid blocks come after
	// the invoices they pay.
	e.bf = blockfrostemu.New(blockfrostID, blockfrostemu.WithLiveChain(time.Hour))
	bfURL, stopBF, err := e.bf.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("blockfrost emulator: %w", err)
	}
	e.closers = append(e.closers, stopBF)
	e.bfURL = bfURL
	return nil
}

// redisURL is the REDIS_URL of our database.
func (e *env) redisURL() string {
	u := url.URL{Scheme: "redis", Host: e.redisOpts.Addr, Path: "/" + strconv.Itoa(e.redisOpts.DB)}
	if e.redisOpts.Password != "" {
		u.User = url.UserPassword(e.redisOpts.Username, e.redisOpts.Password)
	}
	return u.String()
}

// serviceEnv is the whole environment of a tbackend child: nothing is inherited but the path,
// the home directory and the Go runtime's own knobs.
func (e *env) serviceEnv(logLevel string, extra ...string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	out = append(out,
		"REDIS_URL="+e.redisURL(),
		"OPENAI_API_KEY="+openaiKey, "OPENAI_BASE_URL="+e.openaiURL,
		"BLOCKFROST_PROJECT_ID="+blockfrostID, "BLOCKFROST_URL="+e.bfURL,
		"FILES_SIGNING_KEY="+strings.Repeat("b", 40),
		"STORAGE_DIR="+filepath.Join(e.dir, "objects"),
		"LOG_LEVEL="+logLevel, "LOG_FORMAT=json",
	)
	return append(out, extra...)
}

// createKey makes the benchmark's API key with the service's own command.
func (e *env) createKey(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin, "keys", "create", "--name", "tbench", "--scopes", "all",
		"--rpm", strconv.Itoa(benchRPM), "--max-jobs", "-1", "--max-streams", "-1", "--json")
	cmd.Env = e.serviceEnv("warn")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tbackend keys create: %w", err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("tbackend keys create --json printed %q", out)
	}
	return k.Key, nil
}

// startServices starts `tbackend api` and `tbackend worker` and waits until the api answers
// and sees a live worker.
func (e *env) startServices(ctx context.Context, logLevel string) error {
	addrs := make([]string, 3)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	e.apiURL, e.apiDebug, e.workDebug = "http://"+addrs[0], "http://"+addrs[1], "http://"+addrs[2]
	var err error
	// Figure 5's idle streams stall before their first token for minutes: the worker must not
	// give up on them meanwhile (the default is 60s). Nothing else waits for a first token.
	e.worker, err = startChild("worker", e.bin, []string{"worker"},
		e.serviceEnv(logLevel, "METRICS_ADDR="+addrs[2], "OPENAI_FIRST_TOKEN_TIMEOUT=5m"), filepath.Join(e.dir, "worker.log"))
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.worker.stop(30 * time.Second) })
	payCfg, err := e.writePaymentsConfig()
	if err != nil {
		return err
	}
	e.api, err = startChild("api", e.bin, []string{"api"},
		e.serviceEnv(logLevel, "HTTP_ADDR="+addrs[0], "METRICS_ADDR="+addrs[1], "PAYMENTS_CONFIG="+payCfg), filepath.Join(e.dir, "api.log"))
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.api.stop(30 * time.Second) })
	// Our idle keep-alive connections would hold the api's graceful shutdown for its full timeout.
	e.closers = append(e.closers, func() { closeClient(e.client) })
	fmt.Fprintf(e.progress, "tbench: api %s (pid %d, profiles %s/debug/pprof/), worker pid %d (profiles %s/debug/pprof/)\n",
		e.apiURL, e.api.pid(), e.apiDebug, e.worker.pid(), e.workDebug)
	return e.api.waitReady(ctx, 30*time.Second, func(ctx context.Context) error {
		if e.worker.exited() {
			return fmt.Errorf("the worker exited (%v); its log tail:\n%s", e.worker.err, e.worker.tail())
		}
		return e.healthy(ctx)
	})
}

// healthy: GET /health answers 200 with at least one live worker.
func (e *env) healthy(ctx context.Context) error {
	body, _, err := e.call(ctx, "GET", e.apiURL+"/health", nil, nil, 200)
	if err != nil {
		return err
	}
	var h struct {
		Checks map[string]struct {
			Live *int `json:"live"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return err
	}
	if w := h.Checks["workers"].Live; w == nil || *w < 1 {
		return fmt.Errorf("no live worker yet: %s", bytes.TrimSpace(body))
	}
	return nil
}

// alive fails when the api or the worker has ended: a figure measured then is meaningless.
func (e *env) alive() error {
	for _, c := range []*child{e.api, e.worker} {
		if c.exited() {
			return fmt.Errorf("tbackend %s exited (%v); log tail:\n%s", c.name, c.err, c.tail())
		}
	}
	return nil
}
