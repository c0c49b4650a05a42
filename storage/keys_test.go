package storage_test

import (
	"strings"
	"testing"

	"github.com/tbackend/tbackend/storage"
)

// crc16 is the CRC-16/XMODEM checksum Redis Cluster uses to place keys in slots.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slot computes a key's Cluster slot, honouring the hash tag rule: when the key holds a "{" and a
// later "}" with at least one byte between them, only the bytes between the first "{" and the
// first "}" after it are hashed.
func slot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16([]byte(key))) % 16384
}

func TestSlotHelper(t *testing.T) {
	// Vectors from the Redis Cluster specification.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	cases := []struct {
		a, b string
		same bool
	}{
		{"{user1000}.following", "{user1000}.followers", true},
		{"foo{}{bar}", "foo{}{baz}", false}, // empty tag: the whole key is hashed
		{"foo{{bar}}zap", "{bar}", false},   // tag is "{bar"
		{"foo{bar}{zap}", "bar", true},
	}
	for _, c := range cases {
		if got := slot(c.a) == slot(c.b); got != c.same {
			t.Errorf("slot(%q)==slot(%q) is %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestNewKeysPrefix(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty uses default", "", storage.DefaultPrefix},
		{"custom", "test-123:", "test-123:"},
		{"no colon kept as is", "x", "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := storage.NewKeys(c.in).Prefix(); got != c.want {
				t.Fatalf("Prefix() = %q, want %q", got, c.want)
			}
		})
	}
	if storage.DefaultPrefix != "tb:" {
		t.Fatalf("DefaultPrefix = %q, want tb: (production keys would move)", storage.DefaultPrefix)
	}
}

// allKeys lists every key kind with fixed arguments.
func allKeys(k storage.Keys, id string) map[string]string {
	return map[string]string{
		"APIKey":       k.APIKey(id),
		"APIKeyByHash": k.APIKeyByHash("abcdef"),
		"APIKeyIndex":  k.APIKeyIndex(),
		"RateLimit":    k.RateLimit(id),
		"Usage":        k.Usage(id),
		"UsageDay":     k.UsageDay(id, "2025-03-15"),
		"UsageMonth":   k.UsageMonth(id, "2025-03"),
		"Notices":      k.Notices("inst-1"),
		"DevBootstrap": k.DevBootstrap(),
	}
}

func TestKeysExact(t *testing.T) {
	// The exact layout is part of the deployed state: a change strands existing keys and usage.
	k := storage.NewKeys("")
	want := map[string]string{
		"APIKey":       "tb:apikey:{key_1}",
		"APIKeyByHash": "tb:apikey:hash:abcdef",
		"APIKeyIndex":  "tb:apikeys",
		"RateLimit":    "tb:rl:{key_1}",
		"Usage":        "tb:usage:{key_1}",
		"UsageDay":     "tb:usage:{key_1}:d:2025-03-15",
		"UsageMonth":   "tb:usage:{key_1}:m:2025-03",
		"Notices":      "tb:notices:inst-1",
		"DevBootstrap": "tb:dev:bootstrap",
	}
	for name, got := range allKeys(k, "key_1") {
		if got != want[name] {
			t.Errorf("%s = %q, want %q", name, got, want[name])
		}
	}
}

func TestKeysPrefixEverywhere(t *testing.T) {
	for _, prefix := range []string{"tb:", "test-abc:", "p/"} {
		k := storage.NewKeys(prefix)
		for name, key := range allKeys(k, "key_1") {
			if !strings.HasPrefix(key, prefix) {
				t.Errorf("prefix %q: %s = %q lacks the prefix", prefix, name, key)
			}
			if strings.Count(key, prefix) != 1 {
				t.Errorf("prefix %q: %s = %q carries it more than once", prefix, name, key)
			}
		}
	}
	// Distinct kinds never collide.
	seen := map[string]string{}
	for name, key := range allKeys(storage.NewKeys(""), "key_1") {
		if other, dup := seen[key]; dup {
			t.Errorf("%s and %s are both %q", name, other, key)
		}
		seen[key] = name
	}
}

func TestKeysPerOwnerShareHashTag(t *testing.T) {
	k := storage.NewKeys("")
	ids := []string{"key_0123456789abcdef", "key_a", "x", "key_with:colon"}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			owned := map[string]string{
				"APIKey":     k.APIKey(id),
				"RateLimit":  k.RateLimit(id),
				"Usage":      k.Usage(id),
				"UsageDay":   k.UsageDay(id, "2025-03-15"),
				"UsageDay2":  k.UsageDay(id, "2024-12-31"),
				"UsageMonth": k.UsageMonth(id, "2025-03"),
			}
			tag := "{" + id + "}"
			want := slot(tag)
			for name, key := range owned {
				if !strings.Contains(key, tag) {
					t.Errorf("%s = %q lacks hash tag %q", name, key, tag)
				}
				if got := slot(key); got != want {
					t.Errorf("%s = %q is in slot %d, want %d (slot of %s)", name, key, got, want, tag)
				}
			}
		})
	}
	// The one MULTI of Usage.Record touches these three: they must share a slot.
	id := "key_deadbeef"
	a, b, c := slot(k.Usage(id)), slot(k.UsageDay(id, "2025-01-01")), slot(k.UsageMonth(id, "2025-01"))
	if a != b || b != c {
		t.Fatalf("usage slots differ: %d %d %d", a, b, c)
	}
	// Different owners normally land in different slots (sanity check that the tag is the id).
	if slot(k.Usage("key_a")) == slot(k.Usage("key_b")) && slot(k.Usage("key_c")) == slot(k.Usage("key_a")) {
		t.Fatalf("different owners share one slot: the hash tag does not carry the id")
	}
}
