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

// claimDB reserves a free database (1–15) of the server the way the tests do (storage/redistest:
// a lock key tbtest:db:N in database 0), so that a benchmark and tests running at the same time
// never share keys, empties it, and returns a client on it. release empties and frees it.
func claimDB(ctx context.Context, base *redis.Options) (*redis.Client, func(), error) {
	ctlOpts := *base
	ctlOpts.DB = 0
	ctl := redis.NewClient(&ctlOpts)
	token := fmt.Sprintf("tbench-%d-%d", os.Getpid(), time.Now().UnixNano())
	for deadline := time.Now().Add(2 * time.Minute); ; {
		for db := 1; db <= 15; db++ {
			lock := fmt.Sprintf("tbtest:db:%d", db)
			ok, err := ctl.SetNX(ctx, lock, token, 10*time.Minute).Result()
			if err != nil {
				ctl.Close()
				return nil, nil, err
			}
			if !ok {
				continue
			}
			opts := *base
			opts.DB = db
			rdb := redis.NewClient(&opts)
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				ctl.Close()
				rdb.Close()
				return nil, nil, err
			}
			// The lock expires after 10 minutes unless renewed: renew it while the run lasts.
			stopRenew := make(chan struct{})
			go func() {
				t := time.NewTicker(time.Minute)
				defer t.Stop()
				for {
					select {
					case <-stopRenew:
						return
					case <-t.C:
						ctl.Expire(context.Background(), lock, 10*time.Minute)
					}
				}
			}()
			return rdb, func() {
				close(stopRenew)
				rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = rdb.FlushDB(rctx).Err()
				_ = rdb.Close()
				if v, _ := ctl.Get(rctx, lock).Result(); v == token {
					ctl.Del(rctx, lock)
				}
				_ = ctl.Close()
			}, nil
		}
		if time.Now().After(deadline) {
			ctl.Close()
			return nil, nil, fmt.Errorf("no free Redis database (1–15) within 2 minutes")
		}
		select {
		case <-ctx.Done():
			ctl.Close()
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
