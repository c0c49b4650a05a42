package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds every wait for a server, the cluster or the sentinel to come up.
const startTimeout = 20 * time.Second

// StartCluster starts a throwaway three-master Redis Cluster (no replicas) on free loopback ports,
// each node in its own temporary directory, waits until every node reports cluster_state:ok, and
// stops the nodes at cleanup. It returns the nodes' addresses (REDIS_CLUSTER_ADDRS).
//
// Without redis-server on PATH the test is skipped, or fails when CI=true: CI must install it
// (Debian: redis-server, which brings redis-tools with redis-cli).
func StartCluster(t testing.TB) []string {
	t.Helper()
	server := lookTool(t, "redis-server")
	cli := lookTool(t, "redis-cli")
	ports := freePorts(t, 3, true)
	addrs := make([]string, len(ports))
	for i, p := range ports {
		dir := t.TempDir()
		addrs[i] = startProcess(t, server, dir, p,
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create %v: %v\n%s", addrs, err, out)
	}

	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
		var info string
		ok := poll(ctx, func() bool {
			var err error
			info, err = c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(addrs))+"\r\n")
		})
		_ = c.Close()
		if !ok {
			t.Fatalf("redistest: cluster node %s not ready within %s; CLUSTER INFO:\n%s", addr, startTimeout, info)
		}
	}
	return addrs
}

// StartSentinel starts a throwaway Redis master and one Sentinel monitoring it with quorum 1, waits
// until the sentinel names the master, and stops both at cleanup. It returns the sentinel's address
// (REDIS_SENTINEL_ADDRS) and the master's name (REDIS_MASTER_NAME).
//
// The sentinel runs as `redis-server <conf> --sentinel`, so no redis-sentinel binary is needed
// (Debian ships that name in the separate redis-sentinel package).
func StartSentinel(t testing.TB) (sentinelAddrs []string, master string) {
	t.Helper()
	server := lookTool(t, "redis-server")
	ports := freePorts(t, 2, false)
	mport, sport := ports[0], ports[1]
	master = "tbtest"

	mdir := t.TempDir()
	maddr := startProcess(t, server, mdir, mport,
		"--port", strconv.Itoa(mport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", mdir, "--logfile", filepath.Join(mdir, "redis.log"))

	// Sentinel rewrites its configuration file, so it lives in a directory of its own.
	sdir := t.TempDir()
	conf := filepath.Join(sdir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		sport, sdir, filepath.Join(sdir, "sentinel.log"), master, mport, master)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	saddr := startProcess(t, server, sdir, sport, conf, "--sentinel")

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: saddr, DialTimeout: time.Second})
	defer sc.Close()
	var got []string
	var err error
	if !poll(ctx, func() bool {
		got, err = sc.GetMasterAddrByName(ctx, master).Result()
		return err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == maddr
	}) {
		t.Fatalf("redistest: sentinel %s does not report master %s at %s within %s: %v %v\n%s",
			saddr, master, maddr, startTimeout, got, err, tail(filepath.Join(sdir, "sentinel.log")))
	}
	return []string{saddr}, master
}

// lookTool finds a Redis program on PATH. Its absence skips the test, except in CI.
func lookTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("redistest: %s is not on PATH; CI must install it (Debian: apt-get install redis-server)", name)
	}
	t.Skipf("redistest: %s is not on PATH; install redis-server to run this test", name)
	return ""
}

// freePorts finds n distinct free loopback ports. With bus set, port+10000 (a cluster node's bus
// port) must be free too.
func freePorts(t testing.TB, n int, bus bool) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	var ports []int
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt > 200 {
			t.Fatalf("redistest: found only %d of %d free ports", len(ports), n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		if bus {
			if p+10000 > 65535 {
				_ = l.Close()
				continue
			}
			lb, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000)))
			if err != nil {
				_ = l.Close()
				continue
			}
			held = append(held, lb)
		}
		held = append(held, l)
		ports = append(ports, p)
	}
	return ports
}

// startProcess runs a redis-server, kills it at cleanup, and waits until it answers PING on port.
func startProcess(t testing.TB, server, dir string, port int, args ...string) string {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var out bytes.Buffer
	cmd := exec.Command(server, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: start %s: %v", server, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("redistest: %s (pid %d) did not exit after kill", addr, cmd.Process.Pid)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	var dead error
	gone := false
	if !poll(ctx, func() bool {
		select {
		case dead = <-exited:
			exited <- dead // for Cleanup
			gone = true
			cancel()
			return false
		default:
		}
		return c.Ping(ctx).Err() == nil
	}) {
		if gone { // Wait has returned, so out is complete and no longer written
			t.Fatalf("redistest: %s %v exited before answering on %s: %v\n%s%s",
				server, args, addr, dead, out.String(), tail(filepath.Join(dir, "redis.log")))
		}
		t.Fatalf("redistest: %s did not answer PING within %s\n%s", addr, startTimeout, tail(filepath.Join(dir, "redis.log")))
	}
	return addr
}

// poll calls ok every 50 ms until it returns true (true) or ctx ends (false).
func poll(ctx context.Context, ok func() bool) bool {
	for {
		if ok() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail is the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
