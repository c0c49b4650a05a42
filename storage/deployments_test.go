package storage_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// deployment is a Redis deployment the state must work on besides a single server (see
// redistest.Deployment).
type deployment struct {
	name  string
	start func(t *testing.T) func() redis.UniversalClient
}

// otherDeployments are redistest.OtherDeployments, each client connected as the service connects.
func otherDeployments() []deployment {
	var out []deployment
	for _, d := range redistest.OtherDeployments(connectCluster) {
		out = append(out, deployment{d.Name, d.Start})
	}
	return out
}

func connectCluster(addrs []string) (redis.UniversalClient, error) {
	return storage.OpenRedis(context.Background(), storage.RedisConfig{ClusterAddrs: addrs})
}
