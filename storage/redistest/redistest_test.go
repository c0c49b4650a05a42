package redistest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage/redistest"
)

// Two holders never share a database; release empties it and frees its lock for the next one.
func TestClaimDBHoldsAndReleases(t *testing.T) {
	redistest.Claim(t) // fails the test when Redis does not answer
	ctx := context.Background()
	base, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	a, releaseA, err := redistest.ClaimDB(ctx, base, "holder-a")
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := redistest.ClaimDB(ctx, base, "holder-b")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseB()
	dbA, dbB := a.Options().DB, b.Options().DB
	if dbA == dbB || dbA < 1 || dbA > 15 || dbB < 1 || dbB > 15 {
		t.Fatalf("claimed databases %d and %d", dbA, dbB)
	}
	ctl := redis.NewClient(base)
	defer ctl.Close()
	lockA := fmt.Sprintf("tbtest:db:%d", dbA)
	if owner, _ := ctl.Get(ctx, lockA).Result(); !strings.HasPrefix(owner, "holder-a-") {
		t.Fatalf("lock %s holds %q", lockA, owner)
	}
	if err := a.Set(ctx, "left-over", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	releaseA()
	// Another package's test may take the database at once: look only for what was ours.
	if owner, _ := ctl.Get(ctx, lockA).Result(); strings.HasPrefix(owner, "holder-a-") {
		t.Errorf("lock %s survives its release", lockA)
	}
	opts := *base
	opts.DB = dbA
	after := redis.NewClient(&opts)
	defer after.Close()
	if n, _ := after.Exists(ctx, "left-over").Result(); n != 0 {
		t.Errorf("database %d keeps its holder's keys after the release", dbA)
	}
}
