package tokenanalysis

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/cardano"
)

// cip68FungiblePrefix is the CIP-67 label of CIP-68 fungible tokens (333).
const cip68FungiblePrefix = "0014df10"

// resolvePolicyPages bounds the listing of a policy's assets when matching a token by name.
const (
	resolvePolicyPages = 5
	resolveMetaLookups = 25
)

// Resolve finds the unit (policy id + asset name hex) of a token.
//
//   - policyID and assetNameHex: that unit.
//   - policyID and token: policyID + hex(token); when that is not found, the policy's assets
//     are listed and matched, in order, by asset name (case-insensitive), by the CIP-68
//     fungible name 0014df10 + hex(token), and by the token registry ticker or name
//     (case-insensitive) of Asset(…).Metadata.
//   - token alone: accepted when it is itself a unit (hex, 56–120 digits).
//
// An unknown token gives an error wrapping ErrAssetNotFound naming what was tried; a malformed
// policy id or asset name wraps ErrInvalidUnit; chain outages give an *UpstreamError.
func (a *Analyzer) Resolve(ctx context.Context, policyID, assetNameHex, token string) (string, error) {
	policyID = strings.ToLower(strings.TrimSpace(policyID))
	assetNameHex = strings.ToLower(strings.TrimSpace(assetNameHex))
	token = strings.TrimSpace(token)
	if policyID == "" {
		if u := strings.ToLower(token); cardano.IsHex(u) && len(u) >= 56 && len(u) <= 120 && len(u)%2 == 0 {
			return a.exists(ctx, u, fmt.Sprintf("unit %s", u))
		}
		return "", notFound("no policy id given and %q is not an asset unit", token)
	}
	if len(policyID) != 56 || !cardano.IsHex(policyID) {
		return "", fmt.Errorf("%w: policy id %q is not 56 hex digits", ErrInvalidUnit, policyID)
	}
	if assetNameHex != "" {
		if !cardano.IsHex(assetNameHex) || len(assetNameHex)%2 != 0 || len(assetNameHex) > 64 {
			return "", fmt.Errorf("%w: asset name %q is not hex of at most 32 bytes", ErrInvalidUnit, assetNameHex)
		}
		return a.exists(ctx, policyID+assetNameHex, fmt.Sprintf("unit %s%s", policyID, assetNameHex))
	}
	if token == "" {
		return "", notFound("policy %s given without an asset name or token", policyID)
	}
	tried := []string{}
	if len(token) <= 32 {
		unit := policyID + hex.EncodeToString([]byte(token))
		tried = append(tried, "unit "+unit)
		u, err := a.exists(ctx, unit, "")
		if err == nil {
			return u, nil
		}
		if !isNotFound(err) {
			return "", err
		}
	}
	u, err := a.matchInPolicy(ctx, policyID, token)
	if err != nil {
		return "", err
	}
	if u != "" {
		return u, nil
	}
	tried = append(tried, fmt.Sprintf("assets of policy %s by name, CIP-68 name %s+hex(%q) and registry ticker/name %q",
		policyID, cip68FungiblePrefix, token, token))
	return "", notFound("tried %s", strings.Join(tried, "; "))
}

// exists checks that unit is an asset.
func (a *Analyzer) exists(ctx context.Context, unit, what string) (string, error) {
	if _, err := a.Chain.Asset(ctx, unit); err != nil {
		if what == "" {
			what = "unit " + unit
		}
		return "", classify(ctx, srcAsset, what, err)
	}
	return unit, nil
}

// matchInPolicy lists the policy's assets and matches token against them; "" when none fits.
func (a *Analyzer) matchInPolicy(ctx context.Context, policyID, token string) (string, error) {
	var units []string
	for page := 1; page <= resolvePolicyPages; page++ {
		list, err := a.Chain.AssetsByPolicy(ctx, policyID, blockfrost.APIQueryParams{Count: 100, Page: page})
		if err != nil {
			err = classify(ctx, srcAssetsPolicy, "policy "+policyID, err)
			if isNotFound(err) {
				return "", nil
			}
			return "", err
		}
		for _, x := range list {
			units = append(units, strings.ToLower(x.Asset))
		}
		if len(list) < 100 {
			break
		}
	}
	lower := strings.ToLower(token)
	cip68 := policyID + cip68FungiblePrefix + hex.EncodeToString([]byte(token))
	// Asset names first: no extra requests.
	for _, u := range units {
		if name, err := hex.DecodeString(u[56:]); err == nil && strings.ToLower(string(name)) == lower {
			return u, nil
		}
	}
	for _, u := range units {
		if u == cip68 {
			return u, nil
		}
		if strings.HasPrefix(u[56:], cip68FungiblePrefix) {
			if name, err := hex.DecodeString(u[64:]); err == nil && strings.ToLower(string(name)) == lower {
				return u, nil
			}
		}
	}
	// Registry ticker or name: one Asset call per candidate, bounded.
	for i, u := range units {
		if i >= resolveMetaLookups {
			break
		}
		as, err := a.Chain.Asset(ctx, u)
		if err != nil {
			if err = classify(ctx, srcAsset, "unit "+u, err); isNotFound(err) {
				continue
			}
			return "", err
		}
		if m := as.Metadata; m != nil && (strings.EqualFold(m.Ticker, token) || strings.EqualFold(m.Name, token)) {
			return u, nil
		}
	}
	return "", nil
}
