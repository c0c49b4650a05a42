package storage

// This file is in package storage (not storage_test) so that tests can drive the store's clock
// (KeyStore.now): expiry and the lookup cache are then checked without sleeping.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage/redistest"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKeyStore(t *testing.T, cacheTTL time.Duration) (*KeyStore, *redis.Client, Keys) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	return NewKeyStore(rdb, keys, cacheTTL), rdb, keys
}

// dump reads every key and value of the database as text.
func dump(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var val string
		switch typ {
		case "string":
			val, err = rdb.Get(ctx, key).Result()
		case "hash":
			var m map[string]string
			m, err = rdb.HGetAll(ctx, key).Result()
			val = fmt.Sprint(m)
		case "set":
			var s []string
			s, err = rdb.SMembers(ctx, key).Result()
			val = strings.Join(s, " ")
		default:
			t.Fatalf("key %q has unexpected type %s", key, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[key] = val
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var plaintextRE = regexp.MustCompile(`^tb_[0-9a-f]{64}$`)

func TestKeyStoreCreate(t *testing.T) {
	s, rdb, keys := newKeyStore(t, 0)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 3, 15, 10, 20, 30, 999_000_000, time.FixedZone("X", 3*3600))}
	s.now = clock.Now

	cases := []struct {
		name string
		p    NewKeyParams
	}{
		{"all fields", NewKeyParams{Name: "ci", Owner: "team-a", Scopes: []string{ScopeChat, ScopeImages}, RPM: 60}},
		{"every scope", NewKeyParams{Name: "admin", Owner: "ops", Scopes: AllScopes()}},
		{"no scopes", NewKeyParams{Name: "empty"}},
		{"with ttl", NewKeyParams{Name: "temp", Scopes: []string{ScopePayments}, TTL: 90 * time.Minute}},
		{"odd name", NewKeyParams{Name: "a,b:c {x} ✓", Owner: "o,w"}},
		{"partner key", NewKeyParams{Name: "acme backend", Partner: "acme", Scopes: []string{ScopeChat}}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, plain, err := s.Create(ctx, c.p)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if !plaintextRE.MatchString(plain) {
				t.Fatalf("plaintext %q is not tb_ + 64 hex digits", plain)
			}
			if !strings.HasPrefix(k.ID, "key_") || len(k.ID) != len("key_")+16 {
				t.Errorf("id %q is not key_ + 16 hex digits", k.ID)
			}
			if seen[k.ID] || seen[plain] {
				t.Fatalf("id or plaintext repeated")
			}
			seen[k.ID], seen[plain] = true, true

			wantCreated := time.Date(2025, 3, 15, 7, 20, 30, 0, time.UTC)
			if !k.CreatedAt.Equal(wantCreated) || k.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt = %v, want %v in UTC, truncated to the second", k.CreatedAt, wantCreated)
			}
			if c.p.TTL > 0 {
				if k.ExpiresAt == nil || !k.ExpiresAt.Equal(wantCreated.Add(c.p.TTL)) {
					t.Errorf("ExpiresAt = %v, want %v", k.ExpiresAt, wantCreated.Add(c.p.TTL))
				}
			} else if k.ExpiresAt != nil {
				t.Errorf("ExpiresAt = %v, want nil", k.ExpiresAt)
			}
			if k.RevokedAt != nil {
				t.Errorf("new key is revoked")
			}

			got, err := s.Lookup(ctx, plain)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			assertSameKey(t, got, k)
			if got.Name != c.p.Name || got.Owner != c.p.Owner || got.Partner != c.p.Partner || got.RPM != c.p.RPM ||
				!slices.Equal(got.Scopes, c.p.Scopes) {
				t.Errorf("Lookup = %+v, want the params %+v", got, c.p)
			}
			byID, err := s.Get(ctx, k.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertSameKey(t, byID, k)

			// Only the SHA-256 of the plaintext is stored: the plaintext, and its secret part,
			// appear in no key and no value.
			secret := strings.TrimPrefix(plain, "tb_")
			hashSeen := false
			for key, val := range dump(t, rdb) {
				if !strings.HasPrefix(key, keys.Prefix()) {
					t.Errorf("key %q lacks the prefix %q", key, keys.Prefix())
				}
				if strings.Contains(key, secret) || strings.Contains(val, secret) {
					t.Errorf("plaintext stored under %q", key)
				}
				if key == keys.APIKeyByHash(HashKey(plain)) {
					hashSeen = true
					if val != k.ID {
						t.Errorf("hash entry points at %q, want %q", val, k.ID)
					}
				}
			}
			if !hashSeen {
				t.Errorf("no hash entry %q", keys.APIKeyByHash(HashKey(plain)))
			}
		})
	}
}

func assertSameKey(t *testing.T, got, want APIKey) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Owner != want.Owner || got.Partner != want.Partner || got.RPM != want.RPM ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) || !sameTime(got.RevokedAt, want.RevokedAt) {
		t.Errorf("key = %+v, want %+v", got, want)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestHashKey(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2 test vector).
	if got := HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s", got)
	}
	if HashKey("tb_1") == HashKey("tb_2") {
		t.Fatal("different keys hash alike")
	}
}

func TestKeyStoreCreateUnknownScope(t *testing.T) {
	s, rdb, _ := newKeyStore(t, 0)
	ctx := context.Background()
	cases := [][]string{
		{"bogus"},
		{ScopeChat, "bogus"},
		{"Chat"},
		{""},
		{"images:*"},
	}
	for _, scopes := range cases {
		k, plain, err := s.Create(ctx, NewKeyParams{Name: "x", Scopes: scopes})
		if !errors.Is(err, ErrUnknownScope) {
			t.Errorf("Create(%q): err = %v, want ErrUnknownScope", scopes, err)
		}
		if plain != "" || k.ID != "" {
			t.Errorf("Create(%q) returned a key with its error", scopes)
		}
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("refused keys left %d Redis keys behind", n)
	}
}

func TestKeyStoreLookupUnknown(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("cache ", ttl), func(t *testing.T) {
			s, _, _ := newKeyStore(t, ttl)
			ctx := context.Background()
			if _, _, err := s.Create(ctx, NewKeyParams{Name: "other"}); err != nil {
				t.Fatal(err)
			}
			for _, plain := range []string{"", "tb_", "tb_" + strings.Repeat("0", 64), "not a key"} {
				for range 2 { // the second answer may come from the cache
					if _, err := s.Lookup(ctx, plain); !errors.Is(err, ErrKeyNotFound) {
						t.Errorf("Lookup(%q): err = %v, want ErrKeyNotFound", plain, err)
					}
				}
			}
			if _, err := s.Get(ctx, "key_0000000000000000"); !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("Get(unknown): err = %v, want ErrKeyNotFound", err)
			}
		})
	}
}

func TestAPIKeyActive(t *testing.T) {
	base := time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := base.Add(d); return &x }
	cases := []struct {
		name string
		key  APIKey
		now  time.Time
		want bool
	}{
		{"no expiry", APIKey{}, base.Add(100 * 365 * 24 * time.Hour), true},
		{"before expiry", APIKey{ExpiresAt: at(time.Hour)}, base, true},
		{"just before expiry", APIKey{ExpiresAt: at(time.Hour)}, base.Add(time.Hour - time.Nanosecond), true},
		{"at expiry", APIKey{ExpiresAt: at(time.Hour)}, base.Add(time.Hour), false},
		{"after expiry", APIKey{ExpiresAt: at(time.Hour)}, base.Add(2 * time.Hour), false},
		{"revoked", APIKey{RevokedAt: at(0)}, base.Add(-time.Hour), false},
		{"revoked and unexpired", APIKey{RevokedAt: at(0), ExpiresAt: at(time.Hour)}, base, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.key.Active(c.now); got != c.want {
				t.Fatalf("Active = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAPIKeyHasScope(t *testing.T) {
	k := APIKey{Scopes: []string{ScopeChat, ScopeImageVariations}}
	cases := map[string]bool{
		ScopeChat: true, ScopeImageVariations: true, ScopeImages: false, ScopeAdmin: false, "": false,
	}
	for scope, want := range cases {
		if got := k.HasScope(scope); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", scope, got, want)
		}
	}
}

func TestKeyStoreExpiry(t *testing.T) {
	s, _, _ := newKeyStore(t, 0)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 3, 15, 12, 0, 0, 500_000_000, time.UTC)}
	s.now = clock.Now

	k, plain, err := s.Create(ctx, NewKeyParams{Name: "short", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(k.CreatedAt.Add(time.Hour)) {
		t.Fatalf("ExpiresAt = %v, want CreatedAt + 1h", got.ExpiresAt)
	}
	if !got.Active(clock.Now()) {
		t.Fatal("fresh key is not active")
	}
	clock.Add(time.Hour)
	// The record stays; callers judge it: an expired key resolves but is not Active.
	got, err = s.Lookup(ctx, plain)
	if err != nil {
		t.Fatalf("Lookup of an expired key: %v", err)
	}
	if got.Active(clock.Now()) {
		t.Fatalf("key active at %v, after its expiry %v", clock.Now(), got.ExpiresAt)
	}

	// And with the real clock: a key with a 1 s TTL is inactive a second later.
	s.now = time.Now
	_, plain, err = s.Create(ctx, NewKeyParams{Name: "one-second", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Lookup(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt == nil || got.ExpiresAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("ExpiresAt = %v, want within 1 s from now", got.ExpiresAt)
	}
	if got.Active(time.Now().Add(1100 * time.Millisecond)) {
		t.Fatal("key with a 1 s TTL is active 1.1 s later")
	}
}

func TestKeyStoreRevoke(t *testing.T) {
	s, _, _ := newKeyStore(t, 0)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)}
	s.now = clock.Now

	k, plain, err := s.Create(ctx, NewKeyParams{Name: "r", Scopes: []string{ScopeChat}})
	if err != nil {
		t.Fatal(err)
	}
	other, otherPlain, err := s.Create(ctx, NewKeyParams{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(90 * time.Second)
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	got, err := s.Lookup(ctx, plain)
	if err != nil {
		t.Fatalf("Lookup after revoke: %v", err)
	}
	want := clock.Now()
	if got.RevokedAt == nil || !got.RevokedAt.Equal(want) {
		t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, want)
	}
	if got.Active(clock.Now()) {
		t.Fatal("revoked key is active")
	}
	// Revoking changes nothing else.
	got.RevokedAt = nil
	assertSameKey(t, got, k)
	// Nor any other key.
	if o, err := s.Lookup(ctx, otherPlain); err != nil || o.RevokedAt != nil || o.ID != other.ID {
		t.Fatalf("other key after revoke: %+v %v", o, err)
	}

	for _, id := range []string{"", "key_0000000000000000", other.ID + "x"} {
		if err := s.Revoke(ctx, id); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("Revoke(%q): err = %v, want ErrKeyNotFound", id, err)
		}
	}
	if _, err := s.Get(ctx, other.ID+"x"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Revoke of an unknown id created a record")
	}
}

func TestKeyStoreList(t *testing.T) {
	s, _, _ := newKeyStore(t, 0)
	ctx := context.Background()

	if ks, err := s.List(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("List of an empty store = %v, %v", ks, err)
	}

	clock := &fakeClock{t: time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)}
	s.now = clock.Now
	// Created out of order in time: the third is the oldest.
	offsets := []time.Duration{2 * time.Hour, time.Hour, 0, time.Hour, 3 * time.Hour}
	var plains []string
	var created []APIKey
	for i, off := range offsets {
		clock.t = time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC).Add(off)
		k, plain, err := s.Create(ctx, NewKeyParams{Name: fmt.Sprint("k", i), Scopes: []string{ScopeChat}})
		if err != nil {
			t.Fatal(err)
		}
		plains = append(plains, plain)
		created = append(created, k)
	}
	if err := s.Revoke(ctx, created[4].ID); err != nil {
		t.Fatal(err)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(created) {
		t.Fatalf("List has %d keys, want %d (revoked keys are listed too)", len(list), len(created))
	}
	for i := 1; i < len(list); i++ {
		a, b := list[i-1], list[i]
		if a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID > b.ID) {
			t.Fatalf("List not sorted oldest first (then by id): %v (%s) before %v (%s)", a.CreatedAt, a.ID, b.CreatedAt, b.ID)
		}
	}
	if list[0].ID != created[2].ID || list[len(list)-1].ID != created[4].ID {
		t.Fatalf("List order %v: want %s first and %s last", names(list), created[2].Name, created[4].Name)
	}
	if list[len(list)-1].RevokedAt == nil {
		t.Errorf("List does not show the revocation")
	}
	body, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plains {
		if strings.Contains(string(body), strings.TrimPrefix(p, "tb_")) {
			t.Fatalf("List carries a plaintext key: %s", body)
		}
	}
}

func names(ks []APIKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

func TestKeyStoreListSkipsDanglingIDs(t *testing.T) {
	s, rdb, keys := newKeyStore(t, 0)
	ctx := context.Background()
	k, _, err := s.Create(ctx, NewKeyParams{Name: "real"})
	if err != nil {
		t.Fatal(err)
	}
	// An id in the index whose record is gone (deleted by an operator, say) is left out.
	if err := rdb.SAdd(ctx, keys.APIKeyIndex(), "key_gone").Err(); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("List = %v, want only %s", list, k.ID)
	}
}

func TestKeyStoreCacheFakeClock(t *testing.T) {
	const ttl = 300 * time.Millisecond
	s, _, _ := newKeyStore(t, ttl)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)}
	s.now = clock.Now

	k, plain, err := s.Create(ctx, NewKeyParams{Name: "cached"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, plain); err != nil { // fills the cache
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance     time.Duration
		wantRevoked bool
	}{
		{0, false},                      // served from the cache
		{ttl - time.Millisecond, false}, // still within the cache TTL
		{time.Millisecond, true},        // the entry has expired: re-read
		{ttl - time.Millisecond, true},  // the new entry says revoked
		{10 * time.Second, true},        // and so does Redis
	}
	for i, st := range steps {
		clock.Add(st.advance)
		got, err := s.Lookup(ctx, plain)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if (got.RevokedAt != nil) != st.wantRevoked {
			t.Fatalf("step %d (+%v): revoked = %v, want %v", i, st.advance, got.RevokedAt != nil, st.wantRevoked)
		}
	}
}

func TestKeyStoreCacheRealClock(t *testing.T) {
	cases := []struct {
		name     string
		cacheTTL time.Duration
		// whether the first lookup after Revoke may still see the key unrevoked
		stale bool
	}{
		{"no cache: revoke visible at once", 0, false},
		{"300ms cache: revoke visible within the ttl", 300 * time.Millisecond, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := newKeyStore(t, c.cacheTTL)
			ctx := context.Background()
			k, plain, err := s.Create(ctx, NewKeyParams{Name: "c"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Lookup(ctx, plain); err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			got, err := s.Lookup(ctx, plain)
			if err != nil {
				t.Fatal(err)
			}
			if !c.stale {
				if got.RevokedAt == nil {
					t.Fatal("without a cache the revocation is not visible at once")
				}
				return
			}
			if got.RevokedAt != nil {
				t.Fatal("the cached record was not served right after Revoke (is the cache used?)")
			}
			deadline := time.Now().Add(2 * time.Second)
			for {
				got, err := s.Lookup(ctx, plain)
				if err != nil {
					t.Fatal(err)
				}
				if got.RevokedAt != nil {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("revocation not visible 2 s after Revoke with a %v cache", c.cacheTTL)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestKeyStoreCacheNotFoundAndConcurrency(t *testing.T) {
	s, _, _ := newKeyStore(t, time.Minute)
	ctx := context.Background()
	var plains []string
	for i := range 5 {
		_, p, err := s.Create(ctx, NewKeyParams{Name: fmt.Sprint("k", i)})
		if err != nil {
			t.Fatal(err)
		}
		plains = append(plains, p)
	}
	plains = append(plains, "tb_unknown")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 20 {
		wg.Go(func() {
			for i := range 30 {
				p := plains[(g+i)%len(plains)]
				_, err := s.Lookup(ctx, p)
				if p == "tb_unknown" {
					if !errors.Is(err, ErrKeyNotFound) {
						errs <- fmt.Errorf("unknown key: %v", err)
					}
				} else if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A garbled field fails closed: the key is refused rather than read as unlimited (rpm 0),
// unrevoked (revoked_at nil) or never expiring (expires_at nil).
func TestKeyStoreCorruptRecordIsRefused(t *testing.T) {
	for _, tc := range []struct{ field, value string }{
		{"rpm", "sixty"}, {"rpm", ""}, {"rpm", "-5"}, {"rpm", "1e3"},
		{"revoked_at", "yesterday"}, {"expires_at", "2025-13-45"}, {"created_at", "now"},
		{"max_jobs", "many"}, {"max_streams", "x"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			s, rdb, keys := newKeyStore(t, time.Minute)
			ctx := context.Background()
			k, plain, err := s.Create(ctx, NewKeyParams{Name: "c", Scopes: []string{ScopeChat}, RPM: 60, MaxJobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if err := rdb.HSet(ctx, keys.APIKey(k.ID), tc.field, tc.value).Err(); err != nil {
				t.Fatal(err)
			}
			for range 2 { // a refusal is never cached as a good key
				got, err := s.Lookup(ctx, plain)
				if !errors.Is(err, ErrKeyCorrupt) || !strings.Contains(err.Error(), k.ID) {
					t.Fatalf("Lookup = %+v, %v; want ErrKeyCorrupt naming %s", got, err, k.ID)
				}
			}
			if _, err := s.List(ctx); !errors.Is(err, ErrKeyCorrupt) {
				t.Fatalf("List: err = %v, want ErrKeyCorrupt", err)
			}
		})
	}
	t.Run("rpm missing", func(t *testing.T) {
		s, rdb, keys := newKeyStore(t, 0)
		ctx := context.Background()
		k, plain, err := s.Create(ctx, NewKeyParams{Name: "m", RPM: 60})
		if err != nil {
			t.Fatal(err)
		}
		rdb.HDel(ctx, keys.APIKey(k.ID), "rpm")
		if _, err := s.Lookup(ctx, plain); !errors.Is(err, ErrKeyCorrupt) {
			t.Fatalf("Lookup: err = %v, want ErrKeyCorrupt", err)
		}
	})
	t.Run("rpm 0 is unlimited, not corrupt", func(t *testing.T) {
		s, _, _ := newKeyStore(t, 0)
		ctx := context.Background()
		_, plain, err := s.Create(ctx, NewKeyParams{Name: "u", RPM: 0})
		if err != nil {
			t.Fatal(err)
		}
		if k, err := s.Lookup(ctx, plain); err != nil || k.RPM != 0 {
			t.Fatalf("Lookup = %+v, %v", k, err)
		}
	})
}
