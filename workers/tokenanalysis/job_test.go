package tokenanalysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/workers"
	"github.com/tbackend/tbackend/workers/tokenanalysis"
)

type jobEnv struct {
	chain *blockfrostemu.Emulator
	llm   *openaiemu.Emulator
	cache *storage.TokenCache
	job   *tokenanalysis.Job
}

func newJobEnv(t *testing.T) *jobEnv {
	t.Helper()
	chain, a := setup(t)
	llm := openaiemu.New("sk-test")
	llmURL, stop, err := llm.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cache := storage.NewTokenCache(redistest.Claim(t), storage.NewKeys("tbtest:"))
	a.Parts = tokenanalysis.StoreParts{Cache: cache, Network: "cardano"}
	job := &tokenanalysis.Job{Analyzer: a, Cache: cache, LLM: workers.NewOpenAI(llmURL, "sk-test", nil),
		Model: "gpt-4o-mini", Narrative: 5 * time.Second}
	return &jobEnv{chain: chain, llm: llm, cache: cache, job: job}
}

func (e *jobEnv) run(t *testing.T, p jobs.TokenAnalysisPayload) (map[string]json.RawMessage, error) {
	t.Helper()
	raw, _ := json.Marshal(p)
	task := asynq.NewTaskWithHeaders(jobs.TypeTokenAnalysis, raw, map[string]string{jobs.HeaderRequestID: "req-1"})
	res, err := e.job.Handle(context.Background(), task)
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(res.(json.RawMessage), &body); err != nil {
		t.Fatalf("result is not a JSON object: %v", err)
	}
	return body, nil
}

func snek(version string) jobs.TokenAnalysisPayload {
	return jobs.TokenAnalysisPayload{Token: "SNEK", PolicyID: blockfrostemu.SNEKPolicyID, Network: "cardano", APIVersion: version}
}

func TestJobV2AnswersFactsAndCachesThem(t *testing.T) {
	e := newJobEnv(t)
	body, err := e.run(t, snek("2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token_name", "network", "api_version", "asset", "policy", "minting", "holders",
		"activity", "risk_engine", "data_quality", "_meta"} {
		if _, ok := body[k]; !ok {
			t.Errorf("V2 answer lacks %s", k)
		}
	}
	var policy struct {
		Locked      *bool `json:"locked"`
		LockedSince struct {
			Slot uint64 `json:"slot"`
		} `json:"locked_since"`
	}
	_ = json.Unmarshal(body["policy"], &policy)
	if policy.Locked == nil || !*policy.Locked || policy.LockedSince.Slot != 90915881 {
		t.Errorf("SNEK policy: %s", body["policy"])
	}
	var meta jobs.TokenMeta
	_ = json.Unmarshal(body["_meta"], &meta)
	if meta.RequestID != "req-1" || meta.FromCache || meta.ComputedAt.IsZero() {
		t.Errorf("_meta %s", body["_meta"])
	}
	cached, at, err := e.cache.Lookup(context.Background(), "cardano", "2", snek("2").Naming(), "")
	if err != nil || cached == nil || !at.Equal(meta.ComputedAt) {
		t.Fatalf("answer not cached under its naming: %v %v", err, at)
	}
	if strings.Contains(string(cached), `"_meta"`) {
		t.Error("the cached answer carries a request's _meta")
	}
	// The exact unit finds the same entry.
	if b, _, _ := e.cache.Lookup(context.Background(), "cardano", "2", "", blockfrostemu.SNEKUnit); b == nil {
		t.Error("answer not found by its unit")
	}
}

func TestJobReusesPartsUnlessRefreshing(t *testing.T) {
	e := newJobEnv(t)
	if _, err := e.run(t, snek("2")); err != nil {
		t.Fatal(err)
	}
	before := e.chain.Stats()
	if _, err := e.run(t, snek("1")); err != nil { // another version: the answer is new, its parts are not
		t.Fatal(err)
	}
	after := e.chain.Stats()
	for _, ep := range []string{"/assets/{asset}/addresses", "/scripts/{script_hash}", "/assets/{asset}/history"} {
		if after.Requests[ep] != before.Requests[ep] {
			t.Errorf("%s read again (%d → %d) although its part is cached", ep, before.Requests[ep], after.Requests[ep])
		}
	}
	if after.Requests["/blocks/latest"] == before.Requests["/blocks/latest"] {
		t.Error("the tip must be read on every analysis (lock state and activity depend on it)")
	}
	p := snek("1")
	p.Refresh = true
	if _, err := e.run(t, p); err != nil {
		t.Fatal(err)
	}
	if e.chain.Stats().Requests["/assets/{asset}/addresses"] == after.Requests["/assets/{asset}/addresses"] {
		t.Error("a refresh did not rescan the holders")
	}
}

func TestJobV1NarrativeAndFallback(t *testing.T) {
	e := newJobEnv(t)
	body, err := e.run(t, snek("1"))
	if err != nil {
		t.Fatal(err)
	}
	var src, level string
	_ = json.Unmarshal(body["analysisSource"], &src)
	_ = json.Unmarshal(body["riskLevel"], &level)
	if src != "llm" || level == "" || len(body["analysis"]) < 10 {
		t.Fatalf("V1: source %q level %q analysis %s", src, level, body["analysis"])
	}
	// The emulator echoes the prompt: the facts are in it, SNEK's base64 registry logo is not.
	if a := string(body["analysis"]); !strings.Contains(a, "90915881") || strings.Contains(a, "iVBORw0KGgo") {
		t.Errorf("the narrative prompt lacks the facts or carries the logo: %.300s", a)
	}
	var market map[string]any
	_ = json.Unmarshal(body["marketData"], &market)
	for _, k := range []string{"priceUsd", "marketCapUsd", "volume24hUsd", "liquidityUsd"} {
		if v, ok := market[k]; !ok || v != nil {
			t.Errorf("marketData.%s = %v: the chain cannot know it, it must be null", k, v)
		}
	}

	e.llm.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError})
	p := snek("1")
	p.Refresh = true
	body, err = e.run(t, p)
	if err != nil {
		t.Fatalf("an LLM failure must not fail the analysis: %v", err)
	}
	var analysis string
	_ = json.Unmarshal(body["analysisSource"], &src)
	_ = json.Unmarshal(body["analysis"], &analysis)
	if src != "deterministic" || !strings.Contains(analysis, "closed since slot 90915881") {
		t.Fatalf("fallback: %q %q", src, analysis)
	}
}

func TestJobErrors(t *testing.T) {
	e := newJobEnv(t)
	_, err := e.run(t, jobs.TokenAnalysisPayload{Token: "NOPE", PolicyID: blockfrostemu.SNEKPolicyID, Network: "cardano", APIVersion: "2"})
	var je *jobs.Error
	if !errors.As(err, &je) || je.Status != 404 || !strings.Contains(je.Message, "Token not found: tried unit ") {
		t.Fatalf("unknown token: %v", err)
	}
	e.chain.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultDailyLimit})
	_, err = e.run(t, snek("2"))
	if !errors.As(err, &je) || je.Status != 503 || je.RetryAfter < 1 || strings.Contains(je.Message, "Limit") {
		t.Fatalf("quota exhausted: %+v", err)
	}
}

func TestSummaryIsDeterministic(t *testing.T) {
	e := newJobEnv(t)
	f, err := e.job.Analyzer.Facts(context.Background(), blockfrostemu.SNEKUnit, false)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tokenanalysis.Summary("SNEK", "cardano", f), tokenanalysis.Summary("SNEK", "cardano", f)
	if a != b || !strings.Contains(a, "Risk: ") {
		t.Fatalf("%q", a)
	}
}
