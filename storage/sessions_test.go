package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

func newSessions(t *testing.T, ttl time.Duration, maxMessages int) (*storage.Sessions, *redis.Client, storage.Keys) {
	t.Helper()
	rdb := redistest.Claim(t)
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	return storage.NewSessions(rdb, keys, ttl, maxMessages), rdb, keys
}

// sessMsg is a message whose content names it; the other fields are fixed.
func sessMsg(content string) storage.Message {
	return storage.Message{Role: "user", Content: content, At: time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC)}
}

func sessMsgs(contents ...string) []storage.Message {
	out := make([]storage.Message, len(contents))
	for i, c := range contents {
		out[i] = sessMsg(c)
	}
	return out
}

func sessContents(ms []storage.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

// sessSame compares messages field by field, times by instant.
func sessSame(a, b storage.Message) bool {
	return a.Role == b.Role && a.Content == b.Content && a.Tokens == b.Tokens && a.At.Equal(b.At)
}

func TestSessionsHistoryOrderAndTrim(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		batches [][]string // one Append per batch
		want    []string
	}{
		{name: "none", max: 10, want: []string{}},
		{name: "one message", max: 10, batches: [][]string{{"a"}}, want: []string{"a"}},
		{name: "oldest first across appends", max: 10,
			batches: [][]string{{"a"}, {"b", "c"}, {"d"}}, want: []string{"a", "b", "c", "d"}},
		{name: "exactly at the cap", max: 3,
			batches: [][]string{{"a", "b"}, {"c"}}, want: []string{"a", "b", "c"}},
		{name: "trimmed to the newest", max: 3,
			batches: [][]string{{"a", "b"}, {"c", "d"}, {"e"}}, want: []string{"c", "d", "e"}},
		{name: "one batch larger than the cap", max: 2,
			batches: [][]string{{"a"}, {"b", "c", "d", "e"}}, want: []string{"d", "e"}},
		{name: "cap of one", max: 1,
			batches: [][]string{{"a"}, {"b"}, {"c"}}, want: []string{"c"}},
		{name: "no cap", max: 0,
			batches: [][]string{{"a", "b"}, {"c", "d"}, {"e"}}, want: []string{"a", "b", "c", "d", "e"}},
		{name: "empty appends change nothing", max: 10,
			batches: [][]string{{}, {"a"}, {}}, want: []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := newSessions(t, time.Hour, c.max)
			ctx := context.Background()
			for _, b := range c.batches {
				if err := s.Append(ctx, "key_a", "sess-1", sessMsgs(b...)...); err != nil {
					t.Fatalf("Append(%v): %v", b, err)
				}
			}
			got, err := s.History(ctx, "key_a", "sess-1")
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if got == nil {
				t.Fatalf("History = nil, want an empty slice")
			}
			if g := strings.Join(sessContents(got), ","); g != strings.Join(c.want, ",") || len(got) != len(c.want) {
				t.Fatalf("History = %q, want %q", sessContents(got), c.want)
			}
		})
	}
}

func TestSessionsEmptyAppendCreatesNothing(t *testing.T) {
	s, rdb, _ := newSessions(t, time.Hour, 10)
	ctx := context.Background()
	if err := s.Append(ctx, "key_a", "sess-1"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("an empty Append left %d keys", n)
	}
}

func TestSessionsOwnersIsolated(t *testing.T) {
	owners := []string{"key_a", "key_b", "wallet:addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer", "key:key_a", "key_a:"}
	s, _, _ := newSessions(t, time.Hour, 10)
	ctx := context.Background()
	const session = "same-session-id"
	for _, o := range owners {
		if err := s.Append(ctx, o, session, sessMsg("from "+o)); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range owners {
		got, err := s.History(ctx, o, session)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Content != "from "+o {
			t.Errorf("owner %q sees %q, want only its own message", o, sessContents(got))
		}
	}
	// Deleting one owner's session leaves the others alone.
	if err := s.Delete(ctx, owners[0], session); err != nil {
		t.Fatal(err)
	}
	for i, o := range owners {
		got, err := s.History(ctx, o, session)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(i, 1); len(got) != want {
			t.Errorf("after deleting %q's session, %q has %d messages, want %d", owners[0], o, len(got), want)
		}
	}
	// Another session id of the same owner is another history.
	if got, _ := s.History(ctx, owners[1], session+"x"); len(got) != 0 {
		t.Errorf("another session id shares history: %q", sessContents(got))
	}
}

func TestSessionsDelete(t *testing.T) {
	s, rdb, _ := newSessions(t, time.Hour, 10)
	ctx := context.Background()
	if err := s.Delete(ctx, "key_a", "never-existed"); err != nil {
		t.Fatalf("Delete of a missing session: %v", err)
	}
	if err := s.Append(ctx, "key_a", "s", sessMsgs("a", "b")...); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "key_a", "s"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.History(ctx, "key_a", "s"); err != nil || len(got) != 0 {
		t.Fatalf("after Delete: %q %v, want empty", sessContents(got), err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("after Delete %d keys remain", n)
	}
	// A deleted session starts afresh.
	if err := s.Append(ctx, "key_a", "s", sessMsg("c")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.History(ctx, "key_a", "s"); strings.Join(sessContents(got), ",") != "c" {
		t.Fatalf("after Delete and Append: %q, want [c]", sessContents(got))
	}
}

func TestSessionsKeys(t *testing.T) {
	ids := []string{
		"plain", "", "with:colons:", "{tag}", "}{", "a}b{c", "new\nline", "nul\x00byte", "*?[glob]",
		"ünïcødé 会话 🙂", strings.Repeat("x", 10000), "\xff\xfe invalid utf-8",
	}
	const owner = "key:key_abc" // owners carry a colon
	s, rdb, keys := newSessions(t, time.Hour, 10)
	ctx := context.Background()
	seen := map[string]string{}
	for i, id := range ids {
		if err := s.Append(ctx, owner, id, sessMsg(fmt.Sprint("in ", i))); err != nil {
			t.Fatalf("Append(%q): %v", id, err)
		}
		key := keys.Session(owner, id)
		if other, dup := seen[key]; dup {
			t.Errorf("session ids %q and %q share key %q", id, other, key)
		}
		seen[key] = id
		want := keys.Prefix() + "session:{" + owner + "}:"
		if !strings.HasPrefix(key, want) || len(key) != len(want)+32 {
			t.Errorf("Session(%q, %.20q) = %q, want %q and 32 hex digits", owner, id, key, want)
		}
		if tail := strings.TrimPrefix(key, want); strings.Trim(tail, "0123456789abcdef") != "" {
			t.Errorf("Session(%q, %.20q) ends in %q, want hex only", owner, id, tail)
		}
		if got, err := s.History(ctx, owner, id); err != nil || len(got) != 1 || got[0].Content != fmt.Sprint("in ", i) {
			t.Errorf("History(%.20q) = %q %v", id, sessContents(got), err)
		}
	}
	all, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(ids) {
		t.Fatalf("%d keys for %d sessions: %q", len(all), len(ids), all)
	}
	for _, k := range all {
		if _, ok := seen[k]; !ok {
			t.Errorf("unexpected key %q", k)
		}
		if slot(k) != slot("{"+owner+"}") {
			t.Errorf("key %q is not in the owner's slot", k)
		}
	}
}

func TestSessionsTTL(t *testing.T) {
	cases := []struct {
		name     string
		ttl      time.Duration
		min, max time.Duration // -1: no expiry
	}{
		{"hours", 24 * time.Hour, 24*time.Hour - time.Minute, 24 * time.Hour},
		{"sub-second", 800 * time.Millisecond, 1, 800 * time.Millisecond},
		{"none", 0, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, rdb, keys := newSessions(t, c.ttl, 10)
			ctx := context.Background()
			key := keys.Session("key_a", "s")
			check := func(when string, atLeast time.Duration) {
				t.Helper()
				ttl, err := rdb.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if c.min == -1 {
					if ttl != -1 {
						t.Fatalf("%s: TTL = %v, want none", when, ttl)
					}
					return
				}
				if ttl < max(c.min, atLeast) || ttl > c.max {
					t.Fatalf("%s: TTL = %v, want in [%v, %v]", when, ttl, max(c.min, atLeast), c.max)
				}
			}
			if err := s.Append(ctx, "key_a", "s", sessMsg("a")); err != nil {
				t.Fatal(err)
			}
			check("after the first append", 0)
			if c.min == -1 {
				return
			}
			// Every append slides the expiry forward again.
			if err := rdb.PExpire(ctx, key, c.ttl/10).Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, "key_a", "s", sessMsg("b")); err != nil {
				t.Fatal(err)
			}
			check("after the second append", c.ttl/10+time.Millisecond)
			// Reading does not.
			if err := rdb.PExpire(ctx, key, c.ttl/10).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.History(ctx, "key_a", "s"); err != nil {
				t.Fatal(err)
			}
			if ttl := rdb.PTTL(ctx, key).Val(); ttl > c.ttl/10 {
				t.Fatalf("History extended the TTL to %v", ttl)
			}
		})
	}
}

func TestSessionsExpire(t *testing.T) {
	s, _, _ := newSessions(t, 100*time.Millisecond, 10)
	ctx := context.Background()
	if err := s.Append(ctx, "key_a", "s", sessMsg("a")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.History(ctx, "key_a", "s")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session with a 100 ms TTL still holds %q after 10 s", sessContents(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionsConcurrentAppends(t *testing.T) {
	const writers, appends, batch = 20, 10, 3
	const total = writers * appends * batch
	cases := []struct {
		name string
		max  int
		want int
	}{
		{"under the cap", total + 10, total},
		{"at the cap", total, total},
		{"over the cap", total / 4, total / 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := newSessions(t, time.Hour, c.max)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, writers*appends)
			for w := range writers {
				wg.Go(func() {
					for a := range appends {
						var msgs []storage.Message
						for b := range batch {
							msgs = append(msgs, sessMsg(fmt.Sprintf("%d/%d/%d", w, a, b)))
						}
						if err := s.Append(ctx, "key_a", "s", msgs...); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			got, err := s.History(ctx, "key_a", "s")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Fatalf("%d messages, want %d", len(got), c.want)
			}
			// No message twice; each writer's messages in its order; each batch whole and in one
			// piece (except where the cap cut the oldest one).
			seen := map[string]bool{}
			last := map[int][2]int{}
			for i, m := range got {
				if seen[m.Content] {
					t.Fatalf("message %q twice", m.Content)
				}
				seen[m.Content] = true
				var w, a, b int
				if _, err := fmt.Sscanf(m.Content, "%d/%d/%d", &w, &a, &b); err != nil {
					t.Fatalf("message %q: %v", m.Content, err)
				}
				if p, ok := last[w]; ok && (a < p[0] || a == p[0] && b <= p[1]) {
					t.Fatalf("writer %d: %d/%d after %d/%d", w, a, b, p[0], p[1])
				}
				last[w] = [2]int{a, b}
				if b > 0 && i > 0 && got[i-1].Content != fmt.Sprintf("%d/%d/%d", w, a, b-1) {
					t.Fatalf("batch %d/%d interleaved: %q follows %q", w, a, m.Content, got[i-1].Content)
				}
			}
			if c.want == total {
				return
			}
			// Trimmed: what is left is a suffix of the full history, so the very last append of
			// some writer is the last message.
			lastMsg := got[len(got)-1].Content
			if !strings.HasSuffix(lastMsg, fmt.Sprintf("/%d/%d", appends-1, batch-1)) {
				t.Fatalf("last message %q is not a writer's last", lastMsg)
			}
		})
	}
}

func TestSessionsRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 15, 10, 11, 12, 123456789, time.FixedZone("UTC+3", 3*3600))
	cases := []struct {
		name string
		in   storage.Message
		want storage.Message // zero: same as in
	}{
		{name: "ascii", in: storage.Message{Role: "user", Content: "hello", At: at}},
		{name: "emoji and CJK", in: storage.Message{Role: "assistant", Content: "你好，世界 🙂👍🏽 — ok", Tokens: 12, At: at}},
		{name: "right to left and combining", in: storage.Message{Role: "user", Content: "مرحبا שלום e\u0301 \u200d", At: at}},
		{name: "control characters and quotes", in: storage.Message{Role: "user", Content: "line1\nline2\r\n\t\"q\" \\ \x00 \u2028", At: at}},
		{name: "json-looking content", in: storage.Message{Role: "assistant", Content: `{"role":"system","content":"x"}`, At: at}},
		{name: "empty content, zero time", in: storage.Message{Role: "system"}},
		{name: "large", in: storage.Message{Role: "user", Content: strings.Repeat("ü", 100000), Tokens: 1 << 20, At: at}},
		{
			name: "invalid utf-8 becomes U+FFFD (JSON strings are UTF-8)",
			in:   storage.Message{Role: "user", Content: "a\xffb", At: at},
			want: storage.Message{Role: "user", Content: "a\ufffdb", At: at},
		},
	}
	s, _, _ := newSessions(t, time.Hour, 0)
	ctx := context.Background()
	for _, c := range cases {
		if err := s.Append(ctx, "key_u", "unicode", c.in); err != nil {
			t.Fatalf("%s: Append: %v", c.name, err)
		}
	}
	got, err := s.History(ctx, "key_u", "unicode")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d messages, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		want := c.want
		if want == (storage.Message{}) {
			want = c.in
		}
		if !sessSame(got[i], want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got[i], want)
		}
	}
}

func TestSessionsCorruptEntry(t *testing.T) {
	s, rdb, keys := newSessions(t, time.Hour, 10)
	ctx := context.Background()
	if err := s.Append(ctx, "key_a", "s", sessMsg("a")); err != nil {
		t.Fatal(err)
	}
	if err := rdb.RPush(ctx, keys.Session("key_a", "s"), "not json").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.History(ctx, "key_a", "s"); err == nil {
		t.Fatalf("History over a corrupt entry = %q, want an error", sessContents(got))
	}
}

func TestSessionsRedisErrors(t *testing.T) {
	s, _, _ := newSessions(t, time.Hour, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.History(ctx, "key_a", "s"); err == nil {
		t.Error("History with a canceled context: no error")
	}
	if err := s.Append(ctx, "key_a", "s", sessMsg("a")); err == nil {
		t.Error("Append with a canceled context: no error")
	}
	if err := s.Delete(ctx, "key_a", "s"); err == nil {
		t.Error("Delete with a canceled context: no error")
	}
}
