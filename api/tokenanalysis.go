package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
)

// tokenRequest is the body of POST /token-analysis. Each field has the guide's two spellings.
type tokenRequest struct {
	Token         *string         `json:"token"`
	TokenName     *string         `json:"tokenName"`
	PolicyID      *string         `json:"policyId"`
	PolicyIDSnake *string         `json:"policy_id"`
	AssetName     *string         `json:"assetNameHex"`
	AssetNameSn   *string         `json:"asset_name_hex"`
	Network       *string         `json:"network"`
	APIVersion    json.RawMessage `json:"api_version"`
	APIVersionCC  json.RawMessage `json:"apiVersion"`
}

func (r *tokenRequest) validate(*fieldErrors) {} // the rules below answer 400, as the guide does

const (
	tokenBodyLimit = 16 << 10
	tokenWait      = 2 * time.Minute
)

func first(a, b *string) string {
	switch {
	case a != nil:
		return strings.TrimSpace(*a)
	case b != nil:
		return strings.TrimSpace(*b)
	}
	return ""
}

// payload checks the request against the guide's rules (400 with a clear detail) and normalises it.
func (s *Server) tokenPayload(c *fiber.Ctx, r *tokenRequest) (jobs.TokenAnalysisPayload, error) {
	p := jobs.TokenAnalysisPayload{
		Token:        first(r.Token, r.TokenName),
		PolicyID:     strings.ToLower(first(r.PolicyID, r.PolicyIDSnake)),
		AssetNameHex: strings.ToLower(first(r.AssetName, r.AssetNameSn)),
	}
	bad := func(format string, args ...any) error {
		return httpError(http.StatusBadRequest, fmt.Sprintf(format, args...))
	}
	if p.Token == "" {
		return p, bad("token is required (the token's name or ticker, e.g. \"SNEK\", or its asset unit)")
	}
	if len(p.Token) > 256 {
		return p, bad("token is too long (at most 256 characters)")
	}
	if p.PolicyID != "" && (len(p.PolicyID) != 56 || !cardano.IsHex(p.PolicyID)) {
		return p, bad("policyId must be 56 hexadecimal characters")
	}
	if p.AssetNameHex != "" && (len(p.AssetNameHex) > 64 || len(p.AssetNameHex)%2 != 0 || !cardano.IsHex(p.AssetNameHex)) {
		return p, bad("assetNameHex must be hexadecimal of at most 32 bytes")
	}
	network, err := s.tokenNetwork(r.Network)
	if err != nil {
		return p, err
	}
	p.Network = network
	version, err := apiVersion(c, r)
	if err != nil {
		return p, err
	}
	p.APIVersion = version
	p.Refresh = c.Get("x-bypass-cache") == "1" || strings.EqualFold(c.Get("x-bypass-cache"), "true")
	return p, nil
}

// tokenNetwork accepts the configured network under any of its names: "cardano" (the default:
// on a test-network deployment it means that network), its chain name or its bare name; the
// answer names it by its AnalysisName.
func (s *Server) tokenNetwork(name *string) (string, error) {
	n := "cardano"
	if name != nil && strings.TrimSpace(*name) != "" {
		n = strings.ToLower(strings.TrimSpace(*name))
	}
	chain := s.cfg.Network
	if named, err := cardano.ParseNetwork(strings.TrimPrefix(n, "cardano-")); n == "cardano" || err == nil && named == chain {
		return chain.AnalysisName(), nil
	}
	supported := "cardano (or cardano-mainnet)"
	if chain != cardano.Mainnet {
		supported = chain.Chain() + " (or cardano)"
	}
	return "", httpError(http.StatusBadRequest, fmt.Sprintf("Unsupported network %q: this service analyses %s only", clipText(n, 40), supported))
}

// apiVersion is X-API-Version when present (it wins), else the body's, else "1".
func apiVersion(c *fiber.Ctx, r *tokenRequest) (string, error) {
	v := strings.TrimSpace(c.Get("X-API-Version"))
	if v == "" {
		for _, raw := range []json.RawMessage{r.APIVersion, r.APIVersionCC} {
			if len(raw) > 0 && string(raw) != "null" {
				v = strings.Trim(strings.TrimSpace(string(raw)), `"`)
				break
			}
		}
	}
	switch v {
	case "", "1", "1.0", "v1":
		return "1", nil
	case "2", "2.0", "v2":
		return "2", nil
	}
	return "", httpError(http.StatusBadRequest, fmt.Sprintf("Unsupported api_version %q: use \"1\" or \"2\"", clipText(v, 20)))
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// tokenCall is a parsed POST /token-analysis: its payload or its error, and the cache read that
// may answer it (nil for a refresh or without a cache).
type tokenCall struct {
	p    jobs.TokenAnalysisPayload
	err  error
	read *storage.TokenRead
}

const localTokenCall = "token-call"

// tokenUnit is the asset unit when the request named it exactly (its cache entry is then the
// unit's), else "".
func tokenUnit(p jobs.TokenAnalysisPayload) string {
	if p.PolicyID != "" && p.AssetNameHex != "" {
		return p.PolicyID + p.AssetNameHex
	}
	return ""
}

func (s *Server) parseTokenCall(c *fiber.Ctx) *tokenCall {
	var req tokenRequest
	tc := &tokenCall{}
	if tc.err = decodeJSON(c, tokenBodyLimit, &req); tc.err != nil {
		return tc
	}
	if tc.p, tc.err = s.tokenPayload(c, &req); tc.err != nil || tc.p.Refresh || s.deps.Tokens == nil {
		return tc
	}
	tc.read = s.deps.Tokens.Read(tc.p.Network, tc.p.APIVersion, tc.p.Naming(), tokenUnit(tc.p))
	return tc
}

// tokenPrefetch parses the call before the rate limit, whose round trip then reads the cache.
func (s *Server) tokenPrefetch(c *fiber.Ctx) storage.Read {
	tc := s.parseTokenCall(c)
	c.Locals(localTokenCall, tc)
	if tc.read == nil {
		return nil
	}
	return tc.read
}

// tokenAnalysis serves a cached answer when there is one, else runs (or joins) the analysis.
func (s *Server) tokenAnalysis(c *fiber.Ctx) error {
	tc, _ := c.Locals(localTokenCall).(*tokenCall)
	if tc == nil { // not prefetched (a paid call)
		tc = s.parseTokenCall(c)
	}
	if tc.err != nil {
		return tc.err
	}
	p := tc.p
	if tc.read != nil {
		body, at, err := tc.read.Result(c.UserContext()) // already read, when prefetched
		if err != nil {
			s.log.Warn("token cache unreadable", "error", err) // answer from the chain instead
		} else if body != nil {
			c.Set("X-Cache", "HIT")
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(literalHTML(jobs.WithMeta(body, jobs.TokenMeta{RequestID: requestID(c), FromCache: true, ComputedAt: at})))
		}
	}
	c.Set("X-Cache", "MISS")
	spec := jobs.TokenAnalysisJob(p)
	spec.RequestID, spec.Owner = requestID(c), callerOf(c).owner
	if wantsAsync(c) {
		return s.runSpec(c, spec, tokenWait) // an async caller gets its own job id to poll
	}
	spec.ID = jobs.TokenAnalysisJobID(p)
	settle, err := s.admitJob(c, &spec)
	if err != nil {
		return err
	}
	info, out, err := s.waitJob(c, spec.ID, func(ctx context.Context) (jobs.Info, jobs.Outcome, error) {
		return s.deps.Jobs.RunShared(ctx, spec, min(tokenWait, s.cfg.SyncWait))
	})
	settle(false, err)
	if err == nil && out.OK {
		if s.deps.Tokens != nil { // this api's copy may predate the answer just made
			s.deps.Tokens.Forget(p.Network, p.APIVersion, p.Naming(), tokenUnit(p))
		}
		// A caller who joined another's job still gets its own request id in _meta.
		var m struct {
			Meta jobs.TokenMeta `json:"_meta"`
		}
		if json.Unmarshal(out.Result, &m) == nil {
			m.Meta.RequestID = requestID(c)
			out.Result = jobs.WithMeta(out.Result, m.Meta)
		}
	}
	return s.answer(c, info, out, err)
}
