package redistest

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Deployment is a Redis deployment that shared state must work on besides a single server: Start
// brings it up and returns a constructor of clients (one per process the test stands for).
type Deployment struct {
	Name  string
	Start func(t *testing.T) func() redis.UniversalClient
}

// OtherDeployments are Redis Cluster (multi-key steps and scripts within one slot, else
// CROSSSLOT) and the in-process miniredis that `tbackend dev` embeds. connect opens a client on
// the cluster's nodes the way the service does (storage.OpenRedis; this package cannot import
// storage, whose own tests import it).
func OtherDeployments(connect func(clusterAddrs []string) (redis.UniversalClient, error)) []Deployment {
	return []Deployment{
		{"cluster", func(t *testing.T) func() redis.UniversalClient {
			addrs := StartCluster(t)
			return func() redis.UniversalClient {
				rdb, err := connect(addrs)
				if err != nil {
					t.Fatal(err)
				}
				return rdb
			}
		}},
		{"miniredis", func(t *testing.T) func() redis.UniversalClient {
			mr := miniredis.RunT(t)
			return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
		}},
	}
}
