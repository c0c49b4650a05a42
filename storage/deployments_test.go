package storage_test

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// deployment is a Redis deployment the state must work on besides a single server; start brings
// it up and returns a constructor of clients (one per process the test stands for).
type deployment struct {
	name  string
	start func(t *testing.T) func() redis.UniversalClient
}

// otherDeployments are Redis Cluster (multi-key steps and scripts within one slot, else
// CROSSSLOT) and the in-process miniredis that `tbackend dev` embeds.
func otherDeployments() []deployment {
	return []deployment{
		{"cluster", func(t *testing.T) func() redis.UniversalClient {
			addrs := redistest.StartCluster(t)
			return func() redis.UniversalClient {
				opts, err := storage.RedisOptions(storage.RedisConfig{ClusterAddrs: addrs})
				if err != nil {
					t.Fatal(err)
				}
				return redis.NewUniversalClient(opts)
			}
		}},
		{"miniredis", func(t *testing.T) func() redis.UniversalClient {
			mr := miniredis.RunT(t)
			return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
		}},
	}
}
