package redistest

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a throwaway redis-server of one test that the test can stop and start again (an
// outage): same port, same directory, so with AOF on (it is) the data survives a restart.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartServer starts a redis-server with AOF on a free loopback port and stops it at cleanup.
// Without redis-server on PATH the test is skipped (outside CI).
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: lookTool(t, "redis-server"), dir: t.TempDir(), port: freePorts(t, 1, false)[0]}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server and waits until it serves commands (its AOF loaded).
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start %s: %v", s.bin, err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	if !poll(ctx, func() bool { return c.Set(ctx, "redistest:up", "1", 0).Err() == nil }) {
		s.t.Fatalf("redistest: %s did not serve within %s\n%s", s.Addr, startTimeout, tail(filepath.Join(s.dir, "redis.log")))
	}
}

// Stop kills the server (SIGKILL: an outage, not a clean shutdown) and waits until it is gone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redistest: %s (pid %d) did not exit after kill", s.Addr, s.cmd.Process.Pid)
	}
	s.cmd = nil
}

// Client is a client of the server whose retries and timeouts are short, as a test needs.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}
