// Package storage holds every piece of the service's state behind small concrete types: API keys,
// rate limits, usage counters and the pub/sub relay in Redis (objstore/ holds the object store,
// ledger/ the payment ledger). It imports no other project package: only storage/ledger imports
// the domain it persists (payments), and nothing in storage imports the ledger.
package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig names one of the three deployments: a single server (URL), Sentinel, or Cluster.
type RedisConfig struct {
	URL           string
	SentinelAddrs []string
	MasterName    string
	ClusterAddrs  []string
}

// Configured tells whether any deployment is named.
func (c RedisConfig) Configured() bool {
	return c.URL != "" || len(c.SentinelAddrs) > 0 || len(c.ClusterAddrs) > 0
}

// RedisOptions turns the configuration into go-redis universal options, so that one code path
// serves all three deployments (asynq takes the same client).
func RedisOptions(cfg RedisConfig) (*redis.UniversalOptions, error) {
	base := &redis.UniversalOptions{
		DialTimeout:  5 * time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
	}
	if cfg.URL != "" {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		base.Addrs = []string{o.Addr}
		base.Username, base.Password, base.DB, base.TLSConfig = o.Username, o.Password, o.DB, o.TLSConfig
	}
	switch {
	case len(cfg.ClusterAddrs) > 0:
		base.Addrs = cfg.ClusterAddrs
		base.IsClusterMode = true
		base.DB = 0
	case len(cfg.SentinelAddrs) > 0:
		if cfg.MasterName == "" {
			return nil, errors.New("REDIS_MASTER_NAME: required with REDIS_SENTINEL_ADDRS")
		}
		base.Addrs = cfg.SentinelAddrs
		base.MasterName = cfg.MasterName
	case cfg.URL == "":
		return nil, errors.New("REDIS_URL: required (or REDIS_SENTINEL_ADDRS / REDIS_CLUSTER_ADDRS)")
	}
	return base, nil
}

// OpenRedis connects and checks the connection once.
func OpenRedis(ctx context.Context, cfg RedisConfig) (redis.UniversalClient, error) {
	opts, err := RedisOptions(cfg)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewUniversalClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return rdb, nil
}
