package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
)

// openRedis returns the options of a Redis that answers: the one at url, or, when none answers
// there and url is the local default, a redis-server started here on a free loopback port
// (stopped by the returned func).
func openRedis(ctx context.Context, url, dir string) (*redis.Options, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis %q: %w", url, err)
	}
	if host, _, _ := net.SplitHostPort(opts.Addr); !loopback(host) {
		return nil, nil, fmt.Errorf("-redis %q: the benchmark targets loopback only", url)
	}
	if pingRedis(ctx, opts) == nil {
		return opts, func() {}, nil
	}
	if url != defaultRedisURL {
		return nil, nil, fmt.Errorf("no Redis answers at %s", url)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, fmt.Errorf("no Redis answers at %s and redis-server is not installed (install it, or run under .ci/with-services)", url)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	c, err := startChild("redis-server", bin, []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"},
		[]string{"PATH=" + os.Getenv("PATH")}, filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, nil, err
	}
	opts = &redis.Options{Addr: addr}
	if err := c.waitReady(ctx, 10*time.Second, func(ctx context.Context) error { return pingRedis(ctx, opts) }); err != nil {
		c.stop(time.Second)
		return nil, nil, err
	}
	return opts, func() { c.stop(5 * time.Second) }, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func pingRedis(ctx context.Context, opts *redis.Options) error {
	o := *opts
	o.DialTimeout, o.MaxRetries = time.Second, -1
	rdb := redis.NewClient(&o)
	defer rdb.Close()
	return rdb.Ping(ctx).Err()
}
