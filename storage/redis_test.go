package storage_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func TestRedisOptions(t *testing.T) {
	cases := []struct {
		name    string
		cfg     storage.RedisConfig
		wantErr string // substring; empty: no error
		addrs   []string
		db      int
		user    string
		pass    string
		tls     bool
		master  string
		cluster bool
	}{
		{
			name:  "plain url",
			cfg:   storage.RedisConfig{URL: "redis://localhost:6379"},
			addrs: []string{"localhost:6379"},
		},
		{
			name:  "db and password",
			cfg:   storage.RedisConfig{URL: "redis://:s3cret@redis.internal:6380/3"},
			addrs: []string{"redis.internal:6380"}, db: 3, pass: "s3cret",
		},
		{
			name:  "user and password",
			cfg:   storage.RedisConfig{URL: "redis://alice:pw@10.0.0.1:6379/7"},
			addrs: []string{"10.0.0.1:6379"}, db: 7, user: "alice", pass: "pw",
		},
		{
			name:  "rediss enables TLS",
			cfg:   storage.RedisConfig{URL: "rediss://default:pw@cache.example.com:6380/1"},
			addrs: []string{"cache.example.com:6380"}, db: 1, user: "default", pass: "pw", tls: true,
		},
		{
			name:    "bad scheme",
			cfg:     storage.RedisConfig{URL: "http://localhost:6379"},
			wantErr: "REDIS_URL",
		},
		{
			name:    "bad db",
			cfg:     storage.RedisConfig{URL: "redis://localhost:6379/notanumber"},
			wantErr: "REDIS_URL",
		},
		{
			name:    "nothing set",
			cfg:     storage.RedisConfig{},
			wantErr: "REDIS_URL",
		},
		{
			name:    "sentinel without master name",
			cfg:     storage.RedisConfig{SentinelAddrs: []string{"s1:26379", "s2:26379"}},
			wantErr: "REDIS_MASTER_NAME",
		},
		{
			name:   "sentinel",
			cfg:    storage.RedisConfig{SentinelAddrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster"},
			addrs:  []string{"s1:26379", "s2:26379"},
			master: "mymaster",
		},
		{
			name: "sentinel takes credentials and db from the url",
			cfg: storage.RedisConfig{URL: "redis://:pw@ignored:6379/2",
				SentinelAddrs: []string{"s1:26379"}, MasterName: "mymaster"},
			addrs: []string{"s1:26379"}, master: "mymaster", db: 2, pass: "pw",
		},
		{
			name:    "cluster",
			cfg:     storage.RedisConfig{ClusterAddrs: []string{"c1:7000", "c2:7001", "c3:7002"}},
			addrs:   []string{"c1:7000", "c2:7001", "c3:7002"},
			cluster: true,
		},
		{
			name: "cluster ignores the url's db but keeps TLS and password",
			cfg: storage.RedisConfig{URL: "rediss://:pw@ignored:6379/5",
				ClusterAddrs: []string{"c1:7000"}},
			addrs: []string{"c1:7000"}, cluster: true, pass: "pw", tls: true,
		},
		{
			name:    "cluster wins over sentinel",
			cfg:     storage.RedisConfig{ClusterAddrs: []string{"c1:7000"}, SentinelAddrs: []string{"s1:26379"}},
			addrs:   []string{"c1:7000"},
			cluster: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := storage.RedisOptions(c.cfg)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("RedisOptions: no error, want one naming %s", c.wantErr)
				}
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %q does not name %s", err, c.wantErr)
				}
				if o != nil {
					t.Fatalf("options %+v returned with an error", o)
				}
				return
			}
			if err != nil {
				t.Fatalf("RedisOptions: %v", err)
			}
			if !slices.Equal(o.Addrs, c.addrs) {
				t.Errorf("Addrs = %v, want %v", o.Addrs, c.addrs)
			}
			if o.DB != c.db {
				t.Errorf("DB = %d, want %d", o.DB, c.db)
			}
			if o.Username != c.user || o.Password != c.pass {
				t.Errorf("credentials = %q/%q, want %q/%q", o.Username, o.Password, c.user, c.pass)
			}
			if (o.TLSConfig != nil) != c.tls {
				t.Errorf("TLS = %v, want %v", o.TLSConfig != nil, c.tls)
			}
			if o.MasterName != c.master {
				t.Errorf("MasterName = %q, want %q", o.MasterName, c.master)
			}
			if o.IsClusterMode != c.cluster {
				t.Errorf("IsClusterMode = %v, want %v", o.IsClusterMode, c.cluster)
			}
			if o.DialTimeout <= 0 || o.ReadTimeout <= 0 || o.WriteTimeout <= 0 {
				t.Errorf("timeouts not set: dial %v read %v write %v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
			}
		})
	}
}

func TestRedisOptionsTLSServerName(t *testing.T) {
	o, err := storage.RedisOptions(storage.RedisConfig{URL: "rediss://cache.example.com:6380"})
	if err != nil {
		t.Fatal(err)
	}
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example.com" {
		t.Fatalf("TLSConfig = %+v, want ServerName cache.example.com", o.TLSConfig)
	}
}

func TestOpenRedis(t *testing.T) {
	rdb := redistest.Claim(t)
	ctx := context.Background()

	// Point OpenRedis at the claimed database of the test server (never DB 0).
	u, err := url.Parse(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/%d", rdb.Options().DB)
	cli, err := storage.OpenRedis(ctx, storage.RedisConfig{URL: u.String()})
	if err != nil {
		t.Fatalf("OpenRedis(%s): %v", u, err)
	}
	defer cli.Close()
	if err := cli.Set(ctx, "tbtest:open", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, "tbtest:open").Result(); err != nil || got != "1" {
		t.Fatalf("the opened client does not use the url's database: %q %v", got, err)
	}

	t.Run("config error", func(t *testing.T) {
		if _, err := storage.OpenRedis(ctx, storage.RedisConfig{}); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Fatalf("err = %v, want REDIS_URL error", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		// Port 1 on loopback refuses connections at once.
		_, err := storage.OpenRedis(ctx, storage.RedisConfig{URL: "redis://127.0.0.1:1/0"})
		if err == nil || !strings.HasPrefix(err.Error(), "redis:") {
			t.Fatalf("err = %v, want a redis: connection error", err)
		}
	})
}
