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
		"APIKey":              k.APIKey(id),
		"APIKeyByHash":        k.APIKeyByHash("abcdef"),
		"APIKeyIndex":         k.APIKeyIndex(),
		"RateLimit":           k.RateLimit(id),
		"DistinctLimit":       k.DistinctLimit(id),
		"InFlight":            k.InFlight(id),
		"JobSlots":            k.JobSlots(id),
		"StreamSlots":         k.StreamSlots(id),
		"Usage":               k.Usage(id),
		"UsageDay":            k.UsageDay(id, "2025-03-15"),
		"UsageMonth":          k.UsageMonth(id, "2025-03"),
		"UsageApplied":        k.UsageApplied(id),
		"Notices":             k.Notices("inst-1"),
		"DevBootstrap":        k.DevBootstrap(),
		"WalletChallenge":     k.WalletChallenge("abcdef"),
		"WalletToken":         k.WalletToken("abcdef"),
		"WalletRevokedBefore": k.WalletRevokedBefore("wallet:" + id),
		"Session":             k.Session(id, "sess-1"),
		"Idempotency":         k.Idempotency(id, "req-1"),
		"StreamFrames":        k.StreamFrames(id),
		"StreamChannel":       k.StreamChannel(id),
	}
}

func TestKeysExact(t *testing.T) {
	// The exact layout is part of the deployed state: a change strands existing keys and usage.
	k := storage.NewKeys("")
	want := map[string]string{
		"APIKey":              "tb:apikey:{key_1}",
		"APIKeyByHash":        "tb:apikey:hash:abcdef",
		"APIKeyIndex":         "tb:apikeys",
		"RateLimit":           "tb:rl:{key_1}",
		"DistinctLimit":       "tb:rld:{key_1}",
		"InFlight":            "tb:inflight:{key_1}",
		"JobSlots":            "tb:slots:jobs:{key_1}",
		"StreamSlots":         "tb:slots:streams:{key_1}",
		"Usage":               "tb:usage:{key_1}",
		"UsageDay":            "tb:usage:{key_1}:d:2025-03-15",
		"UsageMonth":          "tb:usage:{key_1}:m:2025-03",
		"UsageApplied":        "tb:usage:{key_1}:applied",
		"Notices":             "tb:notices:inst-1",
		"DevBootstrap":        "tb:dev:bootstrap",
		"WalletChallenge":     "tb:walletauth:chal:abcdef",
		"WalletToken":         "tb:walletauth:token:abcdef",
		"WalletRevokedBefore": "tb:walletauth:revoked:{wallet:key_1}",
		// sha256("sess-1") and sha256("req-1"), first 32 hex digits.
		"Session":       "tb:session:{key_1}:abe633f3a47a2758174eabe9160daf36",
		"Idempotency":   "tb:idem:{key_1}:9456bdfa12ea76959c94a3572f5d91c7",
		"StreamFrames":  "tb:frames:{key_1}",
		"StreamChannel": "tb:stream:key_1",
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
				"APIKey":       k.APIKey(id),
				"RateLimit":    k.RateLimit(id),
				"Usage":        k.Usage(id),
				"UsageDay":     k.UsageDay(id, "2025-03-15"),
				"UsageDay2":    k.UsageDay(id, "2024-12-31"),
				"UsageMonth":   k.UsageMonth(id, "2025-03"),
				"UsageApplied": k.UsageApplied(id),
				"Session":      k.Session(id, "sess-1"),
				"Session2":     k.Session(id, "{other}:session"),
				"Idempotency":  k.Idempotency(id, "req-1"),
				"Idempotency2": k.Idempotency(id, "}req{"),
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

// TestKeysClientChosenParts: session and request ids come from clients. They are hashed, so no
// client byte reaches a key (no brace can move the hash tag, no colon can forge another kind), each
// id gets its own key, and the owner's tag alone decides the slot.
func TestKeysClientChosenParts(t *testing.T) {
	k := storage.NewKeys("")
	ids := []string{
		"", "sess-1", "sess-2", "SESS-1", "sess-1 ", "{key_b}", "}{", "a:b", "x}:{y", "new\nline",
		"nul\x00", "*", "ünï 🙂", strings.Repeat("s", 100000), "\xff\xfe",
	}
	kinds := []struct {
		name  string
		build func(owner, id string) string
		head  string // key before the hashed id, after the prefix, with the owner as %s
	}{
		{"Session", k.Session, "session:{%s}:"},
		{"Idempotency", k.Idempotency, "idem:{%s}:"},
	}
	owners := []string{"key_a", "key:key_a", "wallet:addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer"}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			seen := map[string]string{}
			for _, owner := range owners {
				head := storage.DefaultPrefix + strings.Replace(kind.head, "%s", owner, 1)
				for _, id := range ids {
					key := kind.build(owner, id)
					if other, dup := seen[key]; dup {
						t.Errorf("%q and %q share key %q", owner+"/"+id, other, key)
					}
					seen[key] = owner + "/" + id
					tail, ok := strings.CutPrefix(key, head)
					if !ok || len(tail) != 32 || strings.Trim(tail, "0123456789abcdef") != "" {
						t.Errorf("%s(%q, %.20q) = %q, want %q and 32 lowercase hex digits", kind.name, owner, id, key, head)
					}
					if slot(key) != slot("{"+owner+"}") {
						t.Errorf("%s(%q, %.20q) = %q is not in the owner's slot", kind.name, owner, id, key)
					}
				}
			}
		})
	}
	// The two kinds never share a key, even for the same owner and id.
	if k.Session("key_a", "x") == k.Idempotency("key_a", "x") {
		t.Fatal("Session and Idempotency keys coincide")
	}
	// A job's frames and its channel differ, and the stream is tagged by the job id.
	if k.StreamFrames("job-1") == k.StreamChannel("job-1") {
		t.Fatal("a job's stream key and channel coincide")
	}
	if slot(k.StreamFrames("job-1")) != slot("{job-1}") {
		t.Fatal("a job's stream is not in the job's slot")
	}
}
