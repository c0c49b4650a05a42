package jobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWithMeta(t *testing.T) {
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	for _, body := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,2]}}` + "\n"} {
		first := WithMeta([]byte(body), TokenMeta{RequestID: "r1", ComputedAt: at})
		again := WithMeta(first, TokenMeta{RequestID: "r2", FromCache: true, ComputedAt: at})
		var v map[string]json.RawMessage
		if err := json.Unmarshal(again, &v); err != nil {
			t.Fatalf("%s → %s: %v", body, again, err)
		}
		var m TokenMeta
		if err := json.Unmarshal(v["_meta"], &m); err != nil || m.RequestID != "r2" || !m.FromCache || !m.ComputedAt.Equal(at) {
			t.Fatalf("%s → _meta %s (%v)", body, v["_meta"], err)
		}
		var orig map[string]json.RawMessage
		_ = json.Unmarshal([]byte(body), &orig)
		if len(v) != len(orig)+1 {
			t.Fatalf("%s → %s: members lost or duplicated", body, again)
		}
	}
}

// The longest request id, escaped to the full, is still found and replaced behind a big answer.
func TestWithMetaLongRequestID(t *testing.T) {
	big := []byte(`{"x":"` + strings.Repeat("a", 50000) + `"}`)
	id := strings.Repeat("<", 128) // json.Marshal writes each as \u003c
	first := WithMeta(big, TokenMeta{RequestID: id})
	again := WithMeta(first, TokenMeta{RequestID: "short"})
	if n := strings.Count(string(again), `"_meta"`); n != 1 {
		t.Fatalf("%d _meta members", n)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(again, &v); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAnalysisJobID(t *testing.T) {
	a := TokenAnalysisPayload{Token: "SNEK", PolicyID: "AB", Network: "cardano", APIVersion: "1"}
	b := a
	b.Token, b.PolicyID = "snek", "ab"
	if TokenAnalysisJobID(a) != TokenAnalysisJobID(b) {
		t.Fatal("spelling changed the shared job id")
	}
	b.APIVersion = "2"
	if TokenAnalysisJobID(a) == TokenAnalysisJobID(b) {
		t.Fatal("versions share a job")
	}
	b = a
	b.Refresh = true
	if TokenAnalysisJobID(a) == TokenAnalysisJobID(b) {
		t.Fatal("a refresh joined an analysis that may reuse cached parts")
	}
}
