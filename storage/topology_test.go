package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// topoDeployment is one of the three Redis deployments the service supports, described the way
// cmd reads it from the environment.
type topoDeployment struct {
	name  string
	start func(t *testing.T) storage.RedisConfig
}

func topoDeployments() []topoDeployment {
	return []topoDeployment{
		{"single", func(t *testing.T) storage.RedisConfig {
			return storage.RedisConfig{URL: topoURLOf(redistest.Claim(t))}
		}},
		{"sentinel", func(t *testing.T) storage.RedisConfig {
			addrs, master := redistest.StartSentinel(t)
			return storage.RedisConfig{SentinelAddrs: addrs, MasterName: master}
		}},
		{"cluster", func(t *testing.T) storage.RedisConfig {
			return storage.RedisConfig{ClusterAddrs: redistest.StartCluster(t)}
		}},
	}
}

// topoURLOf is the redis:// URL of a claimed test database.
func topoURLOf(rdb *redis.Client) string {
	o := rdb.Options()
	u := url.URL{Scheme: "redis", Host: o.Addr, Path: fmt.Sprintf("/%d", o.DB)}
	if o.Password != "" {
		u.User = url.UserPassword(o.Username, o.Password)
	}
	return u.String()
}

// topoClient builds a client exactly as the service does: RedisOptions, then NewUniversalClient.
func topoClient(t *testing.T, cfg storage.RedisConfig) redis.UniversalClient {
	t.Helper()
	opts, err := storage.RedisOptions(cfg)
	if err != nil {
		t.Fatalf("RedisOptions(%+v): %v", cfg, err)
	}
	rdb := redis.NewUniversalClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return rdb
}

// TestTopologyConformance runs the same checks of the public storage API on a single server, on
// Sentinel and on Cluster. On Cluster, go-redis refuses a MULTI whose keys span slots (CROSSSLOT),
// so Usage passing there proves its keys share a hash tag.
func TestTopologyConformance(t *testing.T) {
	for _, d := range topoDeployments() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			cfg := d.start(t)
			// Two clients stand for two replicas of the service.
			a, b := topoClient(t, cfg), topoClient(t, cfg)
			topoCheckKind(t, d.name, a)
			keys := storage.NewKeys("")
			t.Run("keys", func(t *testing.T) { topoCheckKeyStore(t, a, b, keys) })
			t.Run("ratelimit", func(t *testing.T) { topoCheckRateLimit(t, a, b, keys) })
			t.Run("slots", func(t *testing.T) { topoCheckSlots(t, a, b, keys) })
			t.Run("usage", func(t *testing.T) { topoCheckUsage(t, a, b, keys) })
			t.Run("hub", func(t *testing.T) { topoCheckHub(t, a, b, keys) })
		})
	}
}

// topoCheckKind makes sure the universal client really is the kind the deployment needs, so a
// regression in RedisOptions cannot quietly talk to one node of a cluster as if it were a server.
func topoCheckKind(t *testing.T, name string, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	switch name {
	case "cluster":
		cc, ok := rdb.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("cluster config built a %T, want *redis.ClusterClient", rdb)
		}
		var masters atomic.Int32 // ForEachMaster calls fn concurrently
		if err := cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error {
			masters.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n := masters.Load(); n != 3 {
			t.Fatalf("cluster client sees %d masters, want 3", n)
		}
	default:
		if _, ok := rdb.(*redis.Client); !ok {
			t.Fatalf("%s config built a %T, want *redis.Client", name, rdb)
		}
		role, err := rdb.Do(ctx, "ROLE").Slice()
		if err != nil || len(role) == 0 || role[0] != "master" {
			t.Fatalf("%s client is not connected to a master: %v %v", name, role, err)
		}
	}
}

func topoCheckKeyStore(t *testing.T, a, b redis.UniversalClient, keys storage.Keys) {
	ctx := context.Background()
	sa, sb := storage.NewKeyStore(a, keys, 0), storage.NewKeyStore(b, keys, 0)
	k1, plain1, err := sa.Create(ctx, storage.NewKeyParams{Name: "one", Owner: "acme",
		Scopes: []string{storage.ScopeChat, storage.ScopeAdmin}, RPM: 60, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	k2, plain2, err := sb.Create(ctx, storage.NewKeyParams{Name: "two", Scopes: []string{storage.ScopeImages}})
	if err != nil {
		t.Fatal(err)
	}
	// Each replica resolves the key the other made.
	for _, c := range []struct {
		store *storage.KeyStore
		plain string
		want  storage.APIKey
	}{{sb, plain1, k1}, {sa, plain2, k2}} {
		got, err := c.store.Lookup(ctx, c.plain)
		if err != nil {
			t.Fatalf("lookup %s: %v", c.want.ID, err)
		}
		if got.ID != c.want.ID || got.Name != c.want.Name || got.Owner != c.want.Owner || got.RPM != c.want.RPM ||
			strings.Join(got.Scopes, ",") != strings.Join(c.want.Scopes, ",") || !got.Active(time.Now()) {
			t.Fatalf("lookup = %+v, want %+v", got, c.want)
		}
	}
	if _, err := sa.Lookup(ctx, "tb_"+strings.Repeat("0", 64)); !errors.Is(err, storage.ErrKeyNotFound) {
		t.Fatalf("lookup of an unknown key: %v", err)
	}

	list, err := sb.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	if len(ids) != 2 || !strings.Contains(strings.Join(ids, ","), k1.ID) || !strings.Contains(strings.Join(ids, ","), k2.ID) {
		t.Fatalf("list = %v, want %s and %s", ids, k1.ID, k2.ID)
	}

	if err := sb.Revoke(ctx, k1.ID); err != nil {
		t.Fatal(err)
	}
	got, err := sa.Lookup(ctx, plain1)
	if err != nil || got.RevokedAt == nil || got.Active(time.Now()) {
		t.Fatalf("after revoke: %+v %v", got, err)
	}
	if err := sa.Revoke(ctx, "key_nope"); !errors.Is(err, storage.ErrKeyNotFound) {
		t.Fatalf("revoke of an unknown id: %v", err)
	}
}

func topoCheckRateLimit(t *testing.T, a, b redis.UniversalClient, keys storage.Keys) {
	ctx := context.Background()
	la, lb := storage.NewRateLimiter(a, keys), storage.NewRateLimiter(b, keys)
	// Both replicas spend from one bucket: a burst of 3, then a refusal with a wait.
	for i, l := range []*storage.RateLimiter{la, lb, la} {
		d, err := l.Allow(ctx, "key_topo_rl", 3)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Limit != 3 || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
	d, err := lb.Allow(ctx, "key_topo_rl", 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 20*time.Second {
		t.Fatalf("4th request: %+v, want refused with a retry after of at most 20 s", d)
	}
	// Another key has its own bucket.
	if d, err := la.Allow(ctx, "key_topo_other", 3); err != nil || !d.Allowed {
		t.Fatalf("another key: %+v %v", d, err)
	}
}

// topoCheckSlots: two replicas share one owner's slots, and their check-and-claim is atomic.
func topoCheckSlots(t *testing.T, a, b redis.UniversalClient, keys storage.Keys) {
	ctx := context.Background()
	ls := []*storage.RateLimiter{storage.NewRateLimiter(a, keys), storage.NewRateLimiter(b, keys)}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := ls[i%2].AcquireSlot(ctx, storage.SlotStreams, "key:topo_slots", fmt.Sprint("s-", i), 4, time.Minute)
			if err != nil {
				t.Error(err)
			} else if d.Allowed {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 4 {
		t.Fatalf("%d of 50 claims across two replicas admitted, want 4", n)
	}
}

func topoCheckUsage(t *testing.T, a, b redis.UniversalClient, keys storage.Keys) {
	ctx := context.Background()
	ua, ub := storage.NewUsage(a, keys), storage.NewUsage(b, keys)
	now := time.Now()
	const id = "key_topo_usage"
	if err := ua.Record(ctx, id, "/chat", 1, 100, now); err != nil {
		t.Fatalf("record: %v", err)
	}
	if err := ub.Record(ctx, id, "/chat", 1, 50, now); err != nil {
		t.Fatalf("record: %v", err)
	}
	if err := ua.Record(ctx, id, "/images", 2, 0, now); err != nil {
		t.Fatalf("record: %v", err)
	}
	// Tallied calls of two keys (two slots on Cluster) go in one flush pipeline.
	ua.Count(id, "/usage", now)
	ua.Count(id+"_2", "/usage", now)
	if err := ua.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if r, err := ub.Report(ctx, id+"_2", now); err != nil || r.TotalCalls != 1 {
		t.Fatalf("report of the second key = %+v, %v", r, err)
	}
	r, err := ub.Report(ctx, id, now)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	want := storage.UsageReport{
		TotalCalls: 5, TotalTokens: 150,
		ByEndpoint: map[string]storage.Counts{"/chat": {Calls: 2, TotalTokens: 150}, "/images": {Calls: 2}, "/usage": {Calls: 1}},
		Today:      storage.Counts{Calls: 5, TotalTokens: 150}, ThisMonth: storage.Counts{Calls: 5, TotalTokens: 150},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("report = %+v, want %+v", r, want)
	}

	cc, ok := a.(*redis.ClusterClient)
	if !ok {
		return
	}
	// The server agrees that one key's usage hashes share one slot.
	day, month := now.UTC().Format("2006-01-02"), now.UTC().Format("2006-01")
	var slots []int64
	for _, k := range []string{keys.Usage(id), keys.UsageDay(id, day), keys.UsageMonth(id, month), keys.RateLimit(id), keys.APIKey(id)} {
		s, err := cc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, s)
	}
	for _, s := range slots[1:] {
		if s != slots[0] {
			t.Fatalf("one key's keys land in slots %v, want one slot", slots)
		}
	}
	// And the check above has teeth: the same transaction over untagged keys is refused.
	x, y := keys.Prefix()+"topo:x", keys.Prefix()+"topo:y"
	sx, _ := cc.ClusterKeySlot(ctx, x).Result()
	sy, _ := cc.ClusterKeySlot(ctx, y).Result()
	if sx == sy {
		t.Fatalf("control keys %q and %q share slot %d; pick others", x, y, sx)
	}
	_, err = cc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, x, "calls", 1)
		p.HIncrBy(ctx, y, "calls", 1)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a MULTI across slots on Cluster: err = %v, want CROSSSLOT", err)
	}
}

func topoCheckHub(t *testing.T, a, b redis.UniversalClient, keys storage.Keys) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ha, hb := storage.NewHub(a, 8), storage.NewHub(b, 8)
	t.Cleanup(func() { _ = ha.Close(); _ = hb.Close() })
	// Several channels, so that on Cluster they hash to different nodes' slots: PUBLISH must reach
	// a subscriber connected to any node.
	for i := range 4 {
		for j, c := range []struct {
			name    string
			sub     *storage.Hub
			publish func(ctx context.Context, channel string, msg []byte) error
		}{
			{"hub a ← publisher b", ha, storage.NewPublisher(b).Publish},
			{"hub b ← hub a", hb, ha.Publish},
		} {
			// A channel per case: on Cluster a PUBLISH reaches other nodes over the cluster bus, so
			// an earlier case's message can still arrive at a node the next subscriber just joined.
			channel := keys.Notices(fmt.Sprintf("topo-%d-%d", i, j))
			msgs, leave, err := c.sub.Subscribe(ctx, channel)
			if err != nil {
				t.Fatalf("%s: subscribe %s: %v", c.name, channel, err)
			}
			want := fmt.Sprintf("hello %d via %s", i, c.name)
			if err := c.publish(ctx, channel, []byte(want)); err != nil {
				t.Fatalf("%s: publish: %v", c.name, err)
			}
			select {
			case got := <-msgs:
				if string(got) != want {
					t.Fatalf("%s: got %q, want %q", c.name, got, want)
				}
			case <-ctx.Done():
				t.Fatalf("%s: message on %s never arrived", c.name, channel)
			}
			leave()
		}
	}
	if n := ha.Channels() + hb.Channels(); n != 0 {
		t.Fatalf("hubs still hold %d channels after every subscriber left", n)
	}
}

// TestKeysHashTagWrapsID: every key that belongs to one id carries exactly one hash tag, and that
// tag is the id itself, so all of an id's keys share one Cluster slot and the multi-key operations
// on them (Usage's MULTI) stay legal on Cluster. A new method of Keys that takes a string must be
// added to one of the two lists below.
func TestKeysHashTagWrapsID(t *testing.T) {
	k := storage.NewKeys("")
	const id = "key_0123abcd"
	tagged := map[string]func(string) string{
		"APIKey":        k.APIKey,
		"RateLimit":     k.RateLimit,
		"DistinctLimit": k.DistinctLimit,
		"InFlight":      k.InFlight,
		"JobSlots":      k.JobSlots,
		"StreamSlots":   k.StreamSlots,
		"Usage":         k.Usage,
		"UsageDay":      func(id string) string { return k.UsageDay(id, "2025-01-31") },
		"UsageMonth":    func(id string) string { return k.UsageMonth(id, "2025-01") },
		"UsageApplied":  k.UsageApplied, // in the one script of a tally flush with the three above
		// The owner is the tag; the client-chosen session and request ids are hashed after it.
		"Session":      func(id string) string { return k.Session(id, "sess-1") },
		"Idempotency":  func(id string) string { return k.Idempotency(id, "req-1") },
		"StreamFrames": k.StreamFrames,
		// Its owner is the tag; a single key read beside the token.
		"WalletRevokedBefore": k.WalletRevokedBefore,
	}
	untagged := map[string]string{
		"APIKeyByHash":    "a single-key lookup from a plaintext's hash to an id",
		"JobAlive":        "a single-key heartbeat, written in a plain pipeline (no MULTI across slots)",
		"Notices":         "a pub/sub channel, which Cluster broadcasts to every node",
		"StreamChannel":   "a pub/sub channel, which Cluster broadcasts to every node",
		"TokenNamed":      "a cache hash, read alone and written in a plain pipeline (no MULTI across slots)",
		"TokenResult":     "a cache hash, read alone and written in a plain pipeline (no MULTI across slots)",
		"TokenPart":       "a single-key cache entry",
		"WalletChallenge": "a single-key lookup from a sign-in message's hash, redeemed with GETDEL",
		"WalletToken":     "a single-key lookup from a bearer token's hash",
		// Tagged, but with the fixed {ledger} tag rather than the id (ledger_keys_test.go).
		"LedgerInvoice": "in the one {ledger} slot with the ledger stream",
		"LedgerRequest": "in the one {ledger} slot with the ledger stream",
		"LedgerTxClaim": "in the one {ledger} slot with the ledger stream",
		"LedgerBalance": "in the one {ledger} slot with the ledger stream",
		"LedgerAmounts": "in the one {ledger} slot with the ledger stream",
		"LedgerDebit":   "in the one {ledger} slot with the ledger stream",
	}
	typ := reflect.TypeFor[storage.Keys]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		takesString := false
		for j := 1; j < m.Type.NumIn(); j++ {
			takesString = takesString || m.Type.In(j).Kind() == reflect.String
		}
		_, isTagged := tagged[m.Name]
		_, isUntagged := untagged[m.Name]
		if takesString && !isTagged && !isUntagged {
			t.Errorf("Keys.%s takes a string but is in neither list of this test: decide whether it needs a hash tag", m.Name)
		}
	}
	for name, f := range tagged {
		key := f(id)
		if strings.Count(key, "{") != 1 || strings.Count(key, "}") != 1 {
			t.Errorf("Keys.%s(%q) = %q: want exactly one {…} hash tag", name, id, key)
			continue
		}
		open, end := strings.Index(key, "{"), strings.Index(key, "}")
		if end < open || key[open+1:end] != id {
			t.Errorf("Keys.%s(%q) = %q: want the hash tag {%s}", name, id, key, id)
		}
		if !strings.HasPrefix(key, storage.DefaultPrefix) {
			t.Errorf("Keys.%s(%q) = %q: want the prefix %q", name, id, key, storage.DefaultPrefix)
		}
	}
	for name := range untagged {
		v := reflect.ValueOf(k).MethodByName(name)
		if !v.IsValid() {
			t.Errorf("Keys.%s no longer exists: drop it from this test", name)
		}
	}
}
