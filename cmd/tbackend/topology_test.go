package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/syncbuf"
	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/workers"
)

// topoDeployment is one Redis deployment, both as the typed config the test's own client uses and
// as the environment the binary reads.
type topoDeployment struct {
	name  string
	start func(t *testing.T) (storage.RedisConfig, []string)
}

func topoDeployments() []topoDeployment {
	return []topoDeployment{
		{"single", func(t *testing.T) (storage.RedisConfig, []string) {
			u := testRedisURL(t)
			return storage.RedisConfig{URL: u}, []string{"REDIS_URL", u}
		}},
		{"sentinel", func(t *testing.T) (storage.RedisConfig, []string) {
			addrs, master := redistest.StartSentinel(t)
			return storage.RedisConfig{SentinelAddrs: addrs, MasterName: master},
				[]string{"REDIS_SENTINEL_ADDRS", strings.Join(addrs, ","), "REDIS_MASTER_NAME", master}
		}},
		{"cluster", func(t *testing.T) (storage.RedisConfig, []string) {
			addrs := redistest.StartCluster(t)
			return storage.RedisConfig{ClusterAddrs: addrs}, []string{"REDIS_CLUSTER_ADDRS", strings.Join(addrs, ",")}
		}},
	}
}

// TestTopologies runs the job queue, the keys CLI and the api and worker roles on a single server,
// on Sentinel and on Cluster: the same code, only the environment differs.
func TestTopologies(t *testing.T) {
	for _, d := range topoDeployments() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			cfg, env := d.start(t)
			opts, err := storage.RedisOptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewUniversalClient(opts)
			t.Cleanup(func() { _ = rdb.Close() })
			if _, isCluster := rdb.(*redis.ClusterClient); isCluster != (d.name == "cluster") {
				t.Fatalf("%s config built a %T", d.name, rdb)
			}
			t.Run("jobs", func(t *testing.T) { topoJobsRoundTrip(t, rdb) })
			t.Run("keys-cli", func(t *testing.T) { topoKeysCLI(t, rdb, env) })
			t.Run("api+worker", func(t *testing.T) { topoServices(t, env) })
		})
	}
}

// topoJobsRoundTrip wires the api's job client and a worker by hand, as service.go does, and runs
// pings through the queue. Each must come back through the completion notice (pub/sub), not from
// the stored result read at the deadline, so the test also times them.
func topoJobsRoundTrip(t *testing.T, rdb redis.UniversalClient) {
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	keys := storage.NewKeys("")

	hub := storage.NewHub(rdb, 0)
	jc := jobs.NewClient(asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb), keys.Notices("topo"))
	if err := jc.Start(ctx, hub); err != nil {
		t.Fatal(err)
	}
	w := workers.NewServer(rdb, workers.Config{Concurrency: 2, ShutdownTimeout: 5 * time.Second, NoticePrefix: keys.Notices("")},
		storage.NewPublisher(rdb), log)
	w.Handle(jobs.TypePing, workers.Ping{Worker: "t"}.Handle)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop within 20 s")
		}
		_ = hub.Close()
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	}()

	const wait = 10 * time.Second
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			start := time.Now()
			info, out, err := jc.Run(ctx, jobs.Spec{Type: jobs.TypePing, Payload: jobs.PingPayload{DelayMS: 10 * i}, Owner: "key:x"}, wait)
			if err != nil {
				t.Errorf("ping %d: %v", i, err)
				return
			}
			var res jobs.PingResult
			if err := out.Decode(&res); err != nil || res.Worker != "t" || res.DelayMS != 10*i || out.JobID != info.ID {
				t.Errorf("ping %d: outcome %+v (%s), decoded %+v, err %v", i, out, out.Result, res, err)
			}
			if el := time.Since(start); el > wait/2 {
				t.Errorf("ping %d took %s: the completion notice never arrived", i, el)
			}
		})
	}
	wg.Wait()
}

// topoKeysCLI creates a key through run() with nothing but the deployment's environment, then finds
// it with the test's own client: the binary's config path reaches the same data.
func topoKeysCLI(t *testing.T, rdb redis.UniversalClient, env []string) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--name", "x", "--json"}, envOf(env...), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut.String())
	}
	var created struct{ Key, ID, Name string }
	if err := json.Unmarshal(out.Bytes(), &created); err != nil {
		t.Fatalf("keys create --json: %v: %s", err, out.String())
	}
	got, err := storage.NewKeyStore(rdb, storage.NewKeys(""), 0).Lookup(ctx, created.Key)
	if err != nil || got.ID != created.ID || got.Name != "x" {
		t.Fatalf("the created key, read back: %+v %v (created %+v)", got, err, created)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list", "--json"}, envOf(env...), &out, io.Discard); err != nil || !strings.Contains(out.String(), created.ID) {
		t.Fatalf("keys list: %v %s", err, out.String())
	}
}

// topoServices runs the api and worker roles on the deployment and sends one request through the
// whole stack: key lookup, rate limit, job round trip (sync and async), usage, health.
func topoServices(t *testing.T, env []string) {
	addr := freeAddr(t)
	env = append(env, "HTTP_ADDR", addr, "OPENAI_API_KEY", "k", "BLOCKFROST_PROJECT_ID", "p",
		"STORAGE_DIR", t.TempDir(), "FILES_SIGNING_KEY", strings.Repeat("k", 32))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "create", "--name", "op", "--scopes", "admin", "--json"}, envOf(env...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out.Bytes(), &k); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	apiSvc := start(t, []string{"api"}, envOf(env...))
	worker := start(t, []string{"worker"}, envOf(env...))
	defer func() {
		if t.Failed() {
			t.Logf("api log:\n%s\nworker log:\n%s", apiSvc.stderr.String(), worker.stderr.String())
		}
	}()
	testwait.For(t, "the api to listen", 10*time.Second, func() bool {
		for _, s := range []*started{apiSvc, worker} {
			select {
			case err := <-s.done:
				s.done <- err // for Cleanup
				t.Fatalf("a service ended before the api listened: %v", err)
			default:
			}
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	base := "http://" + addr
	if res := call(t, "POST", base+"/admin/ping", k.Key, `{"delay_ms": 5}`); res.status != 200 || res.body["delay_ms"] != float64(5) {
		t.Fatalf("ping: %d %s", res.status, res.raw)
	}
	// An async job, read back through the job status endpoint (asynq's Inspector).
	acc := call(t, "POST", base+"/admin/ping", k.Key, `{"delay_ms": 20}`, "Prefer", "respond-async")
	if acc.status != 202 {
		t.Fatalf("async ping: %d %s", acc.status, acc.raw)
	}
	statusURL, _ := acc.body["status_url"].(string)
	var st reply
	testwait.For(t, "the async job to succeed", 10*time.Second, func() bool {
		st = call(t, "GET", statusURL, k.Key, "")
		return st.body["status"] == "succeeded"
	})
	// Both pings were counted (Usage's MULTI over the key's hashes).
	u := call(t, "GET", base+"/usage", k.Key, "")
	usage, _ := u.body["usage"].(map[string]any)
	byEndpoint, _ := usage["by_endpoint"].(map[string]any)
	ping, _ := byEndpoint["/admin/ping"].(map[string]any)
	if u.status != 200 || ping["calls"] != float64(2) {
		t.Fatalf("usage: %d %s", u.status, u.raw)
	}
	// The operator surface reads the queues: asynq's metrics collector and asynqmon's api.
	if m := call(t, "GET", base+"/metrics", k.Key, ""); m.status != 200 || !strings.Contains(m.raw, "asynq_queue_size") {
		t.Fatalf("metrics: %d %.2000s", m.status, m.raw)
	}
	for _, path := range []string{"/admin/queues/api/queues", "/admin/queues/api/redis_info"} {
		if q := call(t, "GET", base+path, k.Key, ""); q.status != 200 {
			t.Errorf("%s: %d %.2000s", path, q.status, q.raw)
		}
	}
	// Health sees the live worker (asynq's server list).
	var h reply
	testwait.For(t, "a live worker on /health", 10*time.Second, func() bool {
		h = call(t, "GET", base+"/health", "", "")
		return h.status == 200 && h.body["status"] == "ok"
	})
}
