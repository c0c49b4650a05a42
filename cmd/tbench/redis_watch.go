package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watching the service's Redis traffic from outside its processes: which connections are whose
// (/proc), what the server says of them (CLIENT LIST), and what they send (MONITOR).

// ownedPorts are the local ports of the TCP connections process pid holds to port remote: which
// Redis connections are that process's (the service sets no client names).
func ownedPorts(pid, remote int) (map[int]bool, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			if hexPort(fields[2]) == remote {
				ports[hexPort(fields[1])] = true
			}
		}
		f.Close()
	}
	return ports, nil
}

// socketInodes are the inodes of pid's open sockets.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			out[strings.TrimSuffix(in, "]")] = true
		}
	}
	return out, nil
}

// hexPort reads the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(p, 16, 32)
	if err != nil {
		return -1
	}
	return int(n)
}

// redisConns counts one process's connections to Redis as the server sees them (CLIENT LIST):
// all of them, those in pub/sub mode, and the most channels one of those is subscribed to.
type redisConns struct {
	Total       int `json:"total"`
	PubSub      int `json:"pubsub"`
	MaxChannels int `json:"max_channels"`
}

func countConns(ctx context.Context, rdb *redis.Client, pid int) (redisConns, error) {
	var rc redisConns
	ports, err := ownedPorts(pid, redisPort(rdb))
	if err != nil {
		return rc, err
	}
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return rc, err
	}
	for line := range strings.Lines(list) {
		f := clientFields(line)
		if !ports[addrPort(f["addr"])] {
			continue
		}
		rc.Total++
		sub, _ := strconv.Atoi(f["sub"])
		psub, _ := strconv.Atoi(f["psub"])
		if strings.Contains(f["flags"], "P") || sub+psub > 0 {
			rc.PubSub++
			rc.MaxChannels = max(rc.MaxChannels, sub+psub)
		}
	}
	return rc, nil
}

func clientFields(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func addrPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(p)
	return n
}

func redisPort(rdb *redis.Client) int { return addrPort(rdb.Options().Addr) }

// monitor counts the commands each of pids sends Redis while during runs, watching with MONITOR
// on a connection of its own (commands run by Lua scripts are not counted: only what the
// processes send). It is how the service's Redis traffic is measured from outside its processes.
func monitor(ctx context.Context, opts *redis.Options, pids []int, during func(context.Context) error) (map[int]int, error) {
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 1<<20)
	if opts.Password != "" {
		if err := respCommand(conn, rd, "AUTH", opts.Username, opts.Password); err != nil {
			return nil, err
		}
	}
	if err := respCommand(conn, rd, "MONITOR"); err != nil {
		return nil, err
	}
	remote := addrPort(opts.Addr)
	owner := map[int]int{} // local port → pid
	own := func() {
		for _, pid := range pids {
			ports, _ := ownedPorts(pid, remote)
			for p := range ports {
				owner[p] = pid
			}
		}
	}
	own()
	bySource := map[int]int{} // local port → commands
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return // closed below
			}
			// +1700000000.123456 [3 127.0.0.1:54321] "EVALSHA" …
			if _, rest, ok := strings.Cut(line, "["); ok {
				src, _, _ := strings.Cut(rest, "]")
				if _, addr, ok := strings.Cut(src, " "); ok {
					bySource[addrPort(addr)]++
				}
			}
		}
	}()
	// Connections opened meanwhile count too, even those closed before the end.
	stopOwn := make(chan struct{})
	owning := make(chan struct{})
	go func() {
		defer close(owning)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopOwn:
				return
			case <-t.C:
				own()
			}
		}
	}()
	err = during(ctx)
	close(stopOwn)
	<-owning
	time.Sleep(50 * time.Millisecond) // the last commands' lines are on their way
	own()
	conn.Close()
	<-read
	out := map[int]int{}
	for port, n := range bySource {
		if pid, ok := owner[port]; ok {
			out[pid] += n
		}
	}
	return out, err
}

// respCommand sends one command and expects a +OK-like simple reply.
func respCommand(conn net.Conn, rd *bufio.Reader, args ...string) error {
	var b strings.Builder
	var parts []string
	for _, a := range args {
		if a != "" {
			parts = append(parts, a)
		}
	}
	fmt.Fprintf(&b, "*%d\r\n", len(parts))
	for _, a := range parts {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("redis %s: %s", args[0], strings.TrimSpace(line))
	}
	_ = conn.SetDeadline(time.Time{})
	return nil
}
