//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/storage/redistest"
)

// bin is the tbackend binary built once for the whole suite.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tbackend-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "tbackend")
	// Built as the test binary is (same settings), so the build cache serves almost all of it.
	build := exec.Command("go", "build", "-o", bin, "github.com/tbackend/tbackend/cmd/tbackend")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/tbackend: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one tbackend process of a test; its JSON log is kept in the test's directory.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs `tbackend <role>` in a process group of its own that dies with the test binary.
func start(t *testing.T, name string, env []string, role string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, role)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM, 20*time.Second)
		noPanics(t, p)
	})
	return p
}

// signal sends sig and waits (at most grace, then SIGKILL) until the process is gone.
func (p *proc) signal(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// noPanics fails the test when a process logged a panic (recovered or not) or a line that is
// not JSON (a plain-text log line, or a crash's goroutine dump).
func noPanics(t *testing.T, p *proc) {
	t.Helper()
	data, err := os.ReadFile(p.log)
	if err != nil {
		t.Error(err)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !json.Valid(line) || bytes.Contains(line, []byte(`"panic"`)) || bytes.Contains(line, []byte(`"msg":"panic`)) {
			t.Errorf("%s logged: %.500s", p.name, line)
		}
	}
}

// env is one test's deployment: Redis, the emulators, the api and two workers (the second
// started on demand).
type env struct {
	t      *testing.T
	redis  *redistest.Server
	openai *openaiemu.Emulator
	vars   []string
	api    *proc
	base   string
	key    string
}

const openaiKey, bfProject = "sk-faults", "faults-project"

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, redis: redistest.StartServer(t), openai: openaiemu.New(openaiKey)}
	oURL, stop, err := e.openai.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	bf := blockfrostemu.New(bfProject)
	bURL, stopBF, err := bf.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopBF)
	e.vars = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"REDIS_URL=redis://" + e.redis.Addr + "/0",
		"OPENAI_API_KEY=" + openaiKey, "OPENAI_BASE_URL=" + oURL,
		"BLOCKFROST_PROJECT_ID=" + bfProject, "BLOCKFROST_URL=" + bURL,
		"FILES_SIGNING_KEY=" + strings.Repeat("f", 40), "STORAGE_DIR=" + filepath.Join(t.TempDir(), "objects"),
		"LOG_FORMAT=json", "LOG_LEVEL=info",
		// Seconds, not minutes: deaths are noticed in ~3 s, stalls in 2 s.
		"JOB_HEARTBEAT_INTERVAL=500ms", "OPENAI_FIRST_TOKEN_TIMEOUT=2s", "OPENAI_IDLE_TIMEOUT=2s",
		"OPENAI_RETRIES=1", "WORKER_CONCURRENCY=64",
	}
	cmd := exec.Command(bin, "keys", "create", "--name", "faults", "--scopes", "all", "--rpm", "100000",
		"--max-jobs", "-1", "--max-streams", "-1", "--json")
	cmd.Env = e.vars
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("keys create: %v %s", err, out)
	}
	var k struct{ Key string }
	if json.Unmarshal(out, &k) != nil || k.Key == "" {
		t.Fatalf("keys create printed %q", out)
	}
	e.key = k.Key
	e.startAPI("api")
	return e
}

// startAPI starts an api (again, after a stop) and waits until it answers.
func (e *env) startAPI(name string) {
	e.t.Helper()
	addr := freeAddr(e.t)
	e.api = start(e.t, name, append(e.vars, "HTTP_ADDR="+addr), "api")
	e.base = "http://" + addr
	e.waitFor(name+" answering", 30*time.Second, func() bool { return e.call("GET", "/health", "").status != 0 })
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// worker starts a worker and waits until the api counts live workers.
func (e *env) worker(name string, live int, vars ...string) *proc {
	e.t.Helper()
	p := start(e.t, name, append(append([]string{}, e.vars...), vars...), "worker")
	e.waitFor(fmt.Sprintf("%d live workers", live), 30*time.Second, func() bool {
		r := e.call("GET", "/health", "")
		var h struct {
			Checks map[string]struct {
				Live *int `json:"live"`
			} `json:"checks"`
		}
		_ = json.Unmarshal(r.body, &h)
		w := h.Checks["workers"].Live
		return r.status == 200 && w != nil && *w >= live
	})
	return p
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) field(k string) any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m[k]
}

var client = &http.Client{Timeout: 60 * time.Second}

// call makes one request with the test's key; headers come in pairs.
func (e *env) call(method, path, body string, headers ...string) reply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("api-key", e.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return reply{status: 0, body: []byte(err.Error())}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// waitFor polls cond every 200 ms for at most limit.
func (e *env) waitFor(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stream is an open chat stream: its frames arrive on a channel (closed at the end).
type stream struct {
	job    string
	frames chan frame
	body   io.Closer
}

type frame struct {
	Type string `json:"type"`
	Code string `json:"code"`
	at   time.Time
}

func (e *env) openStream(message string) *stream {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"message": message, "stream": true})
	req, _ := http.NewRequest("POST", e.base+"/chat", bytes.NewReader(body))
	req.Header.Set("api-key", e.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{}).Do(req)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("open stream: %v %v", res, err)
	}
	s := &stream{job: res.Header.Get("X-Job-Id"), frames: make(chan frame, 1024), body: res.Body}
	e.t.Cleanup(func() { res.Body.Close() })
	go func() {
		defer close(s.frames)
		rd := bufio.NewReader(res.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var f frame
			_ = json.Unmarshal([]byte(data), &f)
			f.at = time.Now()
			s.frames <- f
		}
	}()
	return s
}

// last waits (at most limit) for the stream to end and returns its last frame.
func (s *stream) last(t *testing.T, limit time.Duration) frame {
	t.Helper()
	var last frame
	timeout := time.After(limit)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return last
			}
			last = f
		case <-timeout:
			t.Fatalf("stream %s did not end within %s", s.job, limit)
		}
	}
}

// goroutines is the api's go_goroutines from /metrics (-1 when unreadable).
func (e *env) goroutines() int {
	r := e.call("GET", "/metrics", "")
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// settles fails the test unless the api's goroutines come back to about before (a scenario
// must not leave relays, waiters or subscriptions behind).
func (e *env) settles(before int) {
	e.t.Helper()
	if before < 0 {
		e.t.Fatal("go_goroutines not in /metrics")
	}
	e.waitFor(fmt.Sprintf("the api's goroutines back to about %d", before), 20*time.Second, func() bool {
		return e.goroutines() <= before+5
	})
}
