package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// measureCacheHit is figure 2: POST /token-analysis answered from the api's cache, with the
// api-key, the rate limiter and usage counting on, against GET /health through the same api
// (figure 1's subject), in alternating rounds.
func measureCacheHit(ctx context.Context, e *env, sz sizes) ([]row, error) {
	const metric = "cached POST /token-analysis throughput"
	body := []byte(sz.tokenBody)
	if len(body) == 0 {
		body = e.tokenAnalysisExample(ctx)
	}
	url := e.apiURL + "/token-analysis"
	// The first call fills the cache (a real analysis on the Blockfrost emulator).
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	_, _, err := e.call(fctx, "POST", url, body, e.keyed(), 200)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("filling the cache with %s: %w", body, err)
	}
	_, hdr, err := e.call(ctx, "POST", url, body, e.keyed(), 200)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(hdr.Get("X-Cache"), "HIT") {
		// Uncached answers must not be reported as cache hits.
		return nil, fmt.Errorf("the second identical request was not a cache hit (X-Cache %q)", hdr.Get("X-Cache"))
	}
	note := "served from cache: X-Cache HIT"
	post := func(ctx context.Context) error {
		_, _, err := e.call(ctx, "POST", url, body, e.keyed(), 200)
		return err
	}
	hit, front, err := alternate(ctx, sz, post, e.getOp(e.apiURL+"/health"))
	if err != nil {
		return nil, err
	}
	return []row{
		versus(metric, "req/s", hit.rate(), front.rate(), note).want(targetRatioMin, 0.5),
		versus("cached POST /token-analysis latency p50", "ms", ms(hit.p(.5)), ms(front.p(.5)), ""),
		versus("cached POST /token-analysis latency p99", "ms", ms(hit.p(.99)), ms(front.p(.99)), ""),
	}, nil
}

// tokenAnalysisExample is the request example the api's OpenAPI document gives for
// POST /token-analysis, or a request for SNEK (a token the Blockfrost emulator holds).
func (e *env) tokenAnalysisExample(ctx context.Context) []byte {
	fallback := []byte(`{"token":"SNEK"}`)
	body, _, err := e.call(ctx, "GET", e.apiURL+"/openapi.json", nil, nil, 200)
	if err != nil {
		return fallback
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Example  json.RawMessage `json:"example"`
					Examples map[string]struct {
						Value json.RawMessage `json:"value"`
					} `json:"examples"`
					Schema struct {
						Example json.RawMessage `json:"example"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return fallback
	}
	c := doc.Paths["/token-analysis"]["post"].RequestBody.Content["application/json"]
	switch {
	case len(c.Example) > 0:
		return c.Example
	case len(c.Schema.Example) > 0:
		return c.Schema.Example
	}
	for _, ex := range c.Examples {
		if len(ex.Value) > 0 {
			return ex.Value
		}
	}
	return fallback
}
