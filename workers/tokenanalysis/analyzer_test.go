package tokenanalysis_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/workers"
	"github.com/tbackend/tbackend/workers/tokenanalysis"
	"github.com/tbackend/tbackend/workers/tokenfacts"
)

func setup(t *testing.T) (*blockfrostemu.Emulator, *tokenanalysis.Analyzer) {
	t.Helper()
	emu := blockfrostemu.New("proj")
	url, stop, err := emu.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	bf := workers.NewBlockfrost(workers.BlockfrostConfig{URL: url, ProjectID: "proj", RPS: 2000, Burst: 200,
		Retries: 0, MaxWait: time.Second}, nil)
	return emu, &tokenanalysis.Analyzer{Chain: bf, Network: "mainnet"}
}

func TestResolveSNEK(t *testing.T) {
	_, a := setup(t)
	ctx := context.Background()
	for _, tc := range []struct{ policy, name, token string }{
		{blockfrostemu.SNEKPolicyID, "", "snek"},
		{blockfrostemu.SNEKPolicyID, "", "SNEK"},
		{blockfrostemu.SNEKPolicyID, "534e454b", ""},
		{"", "", blockfrostemu.SNEKUnit},
	} {
		u, err := a.Resolve(ctx, tc.policy, tc.name, tc.token)
		if err != nil || u != blockfrostemu.SNEKUnit {
			t.Fatalf("%+v: %q %v", tc, u, err)
		}
	}
}

func TestResolveCIP68AndUnknown(t *testing.T) {
	emu, a := setup(t)
	ctx := context.Background()
	tree := emu.MustToken(blockfrostemu.TokenTree)
	for _, tok := range []string{"TREE", "tree"} {
		u, err := a.Resolve(ctx, tree.PolicyID, "", tok)
		if err != nil || u != tree.Unit {
			t.Fatalf("%s: %q %v (want %s)", tok, u, err, tree.Unit)
		}
	}
	_, err := a.Resolve(ctx, tree.PolicyID, "", "nosuchtoken")
	if !errors.Is(err, tokenanalysis.ErrAssetNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	_, err = a.Resolve(ctx, blockfrostemu.SNEKPolicyID, hex.EncodeToString([]byte("NOPE")), "")
	if !errors.Is(err, tokenanalysis.ErrAssetNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	_, err = a.Facts(ctx, blockfrostemu.SNEKPolicyID+"00", false)
	if !errors.Is(err, tokenanalysis.ErrAssetNotFound) {
		t.Fatalf("facts unknown: %v", err)
	}
}

func TestFactsSNEK(t *testing.T) {
	_, a := setup(t)
	f, err := a.Facts(context.Background(), blockfrostemu.SNEKUnit, false)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Policy
	if p.ScriptType != "timelock" || p.Locked == nil || !*p.Locked || p.LockedSince == nil ||
		p.LockedSince.Slot != 90915881 || p.LockedSince.Time == nil || p.LockedUntil != nil {
		t.Fatalf("policy %+v", p)
	}
	// Shelley slot 90915881 on mainnet.
	if want := time.Unix(1596059091+90915881-4492800, 0).UTC(); !p.LockedSince.Time.Equal(want) {
		t.Fatalf("locked since %v, want %v", p.LockedSince.Time, want)
	}
	if f.Asset.Registry == nil || f.Asset.Registry.Ticker != "SNEK" || f.Asset.Decimals == nil {
		t.Fatalf("asset %+v registry %+v", f.Asset, f.Asset.Registry)
	}
	if !f.Holders.Complete || !f.DataQuality.HoldersScan.Complete || f.Holders.Top1Pct == nil ||
		f.DataQuality.HoldersScan.HoldersRead != 1200 || f.DataQuality.Coverage != 1 || len(f.DataQuality.SourcesFailed) != 0 {
		t.Fatalf("holders %+v quality %+v", f.Holders, f.DataQuality)
	}
	if f.Minting.FirstMintTime == nil || f.Minting.Minted == nil || f.Activity.LastTxTime == nil {
		t.Fatalf("minting %+v activity %+v", f.Minting, f.Activity)
	}
	if !slices.ContainsFunc(f.RiskEngine.Flags, func(fl tokenfacts.Flag) bool {
		return fl.ID == "mint_policy_closed"
	}) {
		t.Fatalf("flags %+v", f.RiskEngine.Flags)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"asset", "policy", "minting", "holders", "activity", "risk_engine", "data_quality"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("missing %s in %s", k, b)
		}
	}
	if _, ok := m["policy"]["locked_since"].(map[string]any)["time"]; !ok {
		t.Fatalf("locked_since: %s", b)
	}
}

func TestHoldersScanFullAndPartial(t *testing.T) {
	emu, a := setup(t)
	herd := emu.MustToken(blockfrostemu.TokenHerd)
	f, err := a.Facts(context.Background(), herd.Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	hs := f.DataQuality.HoldersScan
	if !hs.Complete || hs.HoldersRead != 5000 || hs.PagesRead < 50 || f.Holders.Top1Pct == nil || f.Holders.HolderCountIsLowerBound {
		t.Fatalf("full: %+v %+v", hs, f.Holders)
	}

	a.MaxPages = 3
	f, err = a.Facts(context.Background(), herd.Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	hs = f.DataQuality.HoldersScan
	if hs.Complete || hs.HoldersRead != 300 || hs.PagesRead != 3 || f.Holders.Complete ||
		f.Holders.Top1Pct != nil || f.Holders.Top10Pct != nil || f.Holders.HHI != nil || f.Holders.Gini != nil ||
		f.Holders.Nakamoto != nil || !f.Holders.HolderCountIsLowerBound || f.DataQuality.Coverage >= 1 {
		t.Fatalf("partial: %+v %+v %v", hs, f.Holders, f.DataQuality.Coverage)
	}
}

func TestHoldersScanBudget(t *testing.T) {
	emu, a := setup(t)
	herd := emu.MustToken(blockfrostemu.TokenHerd)
	emu.SetFaults(blockfrostemu.Fault{Endpoint: blockfrostemu.EndpointAssetAddresses, Delay: 150 * time.Millisecond})
	a.Budget = 700 * time.Millisecond
	f, err := a.Facts(context.Background(), herd.Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	hs := f.DataQuality.HoldersScan
	if hs.Complete || hs.PagesRead == 0 || hs.PagesRead >= 50 || f.Holders.Top1Pct != nil {
		t.Fatalf("budget: %+v %+v", hs, f.Holders)
	}
}

func TestPlutusUnlockable(t *testing.T) {
	emu, a := setup(t)
	f, err := a.Facts(context.Background(), emu.MustToken(blockfrostemu.TokenPluto).Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Policy.Locked != nil || f.Policy.ScriptType != "plutusV2" {
		t.Fatalf("policy %+v", f.Policy)
	}
	b, _ := json.Marshal(f.Policy)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if v, ok := m["locked"]; !ok || v != nil {
		t.Fatalf("locked not null: %s", b)
	}
}

func TestOpenPolicyMintedAfterLaunch(t *testing.T) {
	emu, a := setup(t)
	f, err := a.Facts(context.Background(), emu.MustToken(blockfrostemu.TokenFlood).Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Policy.Locked == nil || *f.Policy.Locked || f.Minting.MintedAfterLaunch == nil || !*f.Minting.MintedAfterLaunch ||
		f.Minting.Burned == nil || *f.Minting.Burned != "100000000000" {
		t.Fatalf("policy %+v minting %+v", f.Policy, f.Minting)
	}
}

func TestHistoryFault(t *testing.T) {
	emu, a := setup(t)
	emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultServerError, Endpoint: blockfrostemu.EndpointAssetHistory})
	f, err := a.Facts(context.Background(), blockfrostemu.SNEKUnit, false)
	if err != nil {
		t.Fatal(err)
	}
	dq := f.DataQuality
	if !slices.Contains(dq.SourcesFailed, "/assets/{asset}/history") || dq.Coverage >= 1 || dq.Coverage <= 0 {
		t.Fatalf("quality %+v", dq)
	}
	if f.Minting.Minted != nil || f.RiskEngine.Confidence >= 1 {
		t.Fatalf("minting %+v risk %+v", f.Minting, f.RiskEngine)
	}
}

func TestAssetOutage(t *testing.T) {
	emu, a := setup(t)
	emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultDailyLimit, Endpoint: blockfrostemu.EndpointAsset})
	_, err := a.Facts(context.Background(), blockfrostemu.SNEKUnit, false)
	var up *tokenanalysis.UpstreamError
	if !errors.As(err, &up) || up.Status != 402 || up.RetryAfter <= 0 {
		t.Fatalf("402: %v", err)
	}
	emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultRateLimit, Endpoint: blockfrostemu.EndpointAsset, RetryAfter: 30 * time.Second})
	_, err = a.Facts(context.Background(), blockfrostemu.SNEKUnit, false)
	if !errors.As(err, &up) || up.Status != 429 || up.RetryAfter <= 0 {
		t.Fatalf("429: %v", err)
	}
}
