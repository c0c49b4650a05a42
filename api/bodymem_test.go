package api

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/tbackend/tbackend/storage"
)

// hugeMetaBody is a /chat body near the body limit whose ignored meta object has 2 M keys: the
// worst case for memory when ignored fields were decoded into maps.
func hugeMetaBody() []byte {
	var b bytes.Buffer
	b.WriteString(`{"message":"hi","meta":{`)
	for i := 0; b.Len() < chatBodyLimit-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d":%d`, i, i)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

// BenchmarkChatBodyDecode reports what decoding the worst /chat body costs: bytes allocated per
// request and the peak heap growth over the body size (how many bodies' worth one request holds).
func BenchmarkChatBodyDecode(b *testing.B) {
	b.ReportAllocs()
	benchHeldPerBody(b, hugeMetaBody(), func(*chatRequest) {})
}

// benchHeldPerBody decodes body as a /chat request, then runs check on it, and reports the
// most heap either step held beyond the body (held/body, held-MB).
func benchHeldPerBody(b *testing.B, body []byte, check func(*chatRequest)) {
	b.SetBytes(int64(len(body)))
	var peak uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var req chatRequest
		if err := decodeJSONBody(body, &req); err != nil {
			b.Fatal(err)
		}
		check(&req)
		runtime.ReadMemStats(&after)
		if grew := after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc); grew > peak {
			peak = grew
		}
		runtime.KeepAlive(&req)
	}
	b.ReportMetric(float64(peak)/float64(len(body)), "held/body")
	b.ReportMetric(float64(peak)/(1<<20), "held-MB")
}

// Ignored fields cost nothing however many keys they hold, must still be valid JSON, and meta
// must still be an object.
func TestChatIgnoredFieldsAreNotDecoded(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"message":"hi","context":[`)
	for i := range 20000 {
		fmt.Fprintf(&b, `{"k%d":[%d]},`, i, i)
	}
	b.WriteString(`0],"meta":{`)
	for i := range 20000 {
		fmt.Fprintf(&b, `"%d":{"x":%d},`, i, i)
	}
	b.WriteString(`"end":null}}`)
	body := b.Bytes()
	allocs := testing.AllocsPerRun(3, func() {
		var req chatRequest
		if err := decodeJSONBody(body, &req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100 { // decoded into maps, this is over 100 000
		t.Fatalf("decoding 40 000 ignored keys made %v allocations", allocs)
	}
	for body, want := range map[string]string{
		`{"message":"hi","meta":[1]}`:      "dict_type",
		`{"message":"hi","meta":"x"}`:      "dict_type",
		`{"message":"hi","meta":{"a":}}`:   "json_invalid",
		`{"message":"hi","context":[1,}`:   "json_invalid",
		`{"message":"hi","meta":null}`:     "",
		`{"message":"hi","context":"any"}`: "",
	} {
		var req chatRequest
		err := decodeJSONBody([]byte(body), &req)
		he, _ := toHTTP(err)
		got := ""
		if err != nil {
			if list, ok := he.Detail.([]FieldError); ok && len(list) > 0 {
				got = list[0].Type
			}
		}
		if got != want {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// Requests that would hold more body bytes than the process's budget are turned away with 503.
func TestBodyBudget(t *testing.T) {
	h := newHarness(t)
	_, key := h.key(0, storage.ScopeChat)
	bodiesHeld.Add(bodyBudget)
	res := rawDo(t, h, "POST", "/chat", `{"message":"hi"}`, key)
	bodiesHeld.Add(-bodyBudget)
	if res.Code != 503 || res.Header().Get("Retry-After") == "" {
		t.Fatalf("over the budget: %d %s", res.Code, res.Body.Bytes())
	}
	if res := rawDo(t, h, "POST", "/chat", `{"message":"hi"}`, key); res.Code == 503 {
		t.Fatalf("within the budget: %d %s", res.Code, res.Body.Bytes())
	}
	if n := bodiesHeld.Load(); n != 0 {
		t.Fatalf("%d body bytes still held after the requests", n)
	}
}
