// Package tokenanalysis gathers the facts of the token-analysis job from Blockfrost: the asset
// and its registry entry, the minting policy and its lock, the mint history, recent activity
// and the holder distribution (scanned page by page with bounded concurrency under a time
// budget), then scores them with [tokenfacts.Assess]. Optional sources that fail are reported
// in [DataQuality] rather than failing the analysis.
package tokenanalysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blockfrost/blockfrost-go"
	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/workers/tokenfacts"
)

// Source names (Blockfrost endpoint patterns), as DataQuality lists them.
const (
	srcAsset        = "/assets/{asset}"
	srcHistory      = "/assets/{asset}/history"
	srcTransactions = "/assets/{asset}/transactions"
	srcAddresses    = "/assets/{asset}/addresses"
	srcAssetsPolicy = "/assets/policy/{policy_id}"
	srcBlockLatest  = "/blocks/latest"
	srcScript       = "/scripts/{script_hash}"
	srcScriptJSON   = "/scripts/{script_hash}/json"
	srcTx           = "/txs/{hash}"
)

// Defaults of Analyzer's zero fields.
const (
	DefaultPageConcurrency = 4
	DefaultMaxPages        = 100
	DefaultBudget          = 20 * time.Second
	// historyMaxPages and activityMaxPages bound the mint history and recent activity reads.
	historyMaxPages  = 10
	activityMaxPages = 10
	pageSize         = 100
)

// Analyzer gathers token facts from a Blockfrost client. Its fields are read-only once in use;
// it is safe for concurrent use.
type Analyzer struct {
	Chain blockfrost.APIClient
	// Network is used to convert slots to times when the chain tip cannot be read.
	Network cardano.Network
	// PageConcurrency is how many holder pages are fetched at once (default 4).
	PageConcurrency int
	// MaxPages bounds the holder scan, 100 holdings a page (default 100: 10,000 holdings).
	MaxPages int
	// Budget bounds the whole Facts call (default 20 s); the holder scan stops when it runs out.
	Budget time.Duration
	// Parts, when set, keeps parts of the facts between calls (see PartCache).
	Parts PartCache
}

// Facts is the V2 token-analysis document.
type Facts struct {
	Asset       AssetFacts         `json:"asset"`
	Policy      PolicyFacts        `json:"policy"`
	Minting     MintingFacts       `json:"minting"`
	Holders     tokenfacts.Holders `json:"holders"`
	Activity    ActivityFacts      `json:"activity"`
	RiskEngine  tokenfacts.Risk    `json:"risk_engine"`
	DataQuality DataQuality        `json:"data_quality"`
}

// AssetFacts identifies the token.
type AssetFacts struct {
	Unit                    string    `json:"unit"`
	PolicyID                string    `json:"policy_id"`
	AssetNameHex            string    `json:"asset_name_hex"`
	Fingerprint             string    `json:"fingerprint"`
	Decimals                *int      `json:"decimals"`
	Supply                  string    `json:"supply"`
	Registry                *Registry `json:"registry"`
	OnchainMetadataStandard *string   `json:"onchain_metadata_standard"`
}

// Registry is the token's Cardano token registry entry.
type Registry struct {
	Name   string `json:"name"`
	Ticker string `json:"ticker"`
	URL    string `json:"url"`
	Logo   string `json:"logo,omitempty"`
}

// SlotTime is a slot and its time (nil when it cannot be converted).
type SlotTime struct {
	Slot uint64     `json:"slot"`
	Time *time.Time `json:"time"`
}

// PolicyFacts describes the minting policy.
type PolicyFacts struct {
	// ScriptType is "timelock" (native), "plutusV1", "plutusV2", "plutusV3" or "unknown".
	ScriptType string `json:"script_type"`
	// Locked is true when no transaction at the tip slot can mint, false when one can, null
	// when that cannot be told (Plutus or unreadable policy).
	Locked          *bool     `json:"locked"`
	LockedSince     *SlotTime `json:"locked_since,omitempty"`
	LockedUntil     *SlotTime `json:"locked_until,omitempty"`
	RequiredSigners []string  `json:"required_signers"`
}

// MintingFacts summarises the mint and burn history. Minted and Burned are decimal quantities,
// null when the history could not be read in full.
type MintingFacts struct {
	MintOrBurnCount   int        `json:"mint_or_burn_count"`
	Minted            *string    `json:"minted"`
	Burned            *string    `json:"burned"`
	FirstMintTime     *time.Time `json:"first_mint_time"`
	LastMintTime      *time.Time `json:"last_mint_time"`
	MintedAfterLaunch *bool      `json:"minted_after_launch"`

	mintCount, burnCount int
}

// ActivityFacts describes recent transactions involving the token, relative to the chain tip.
type ActivityFacts struct {
	LastTxTime *time.Time `json:"last_tx_time"`
	Tx24h      *int       `json:"tx_24h"`
	Tx7d       *int       `json:"tx_7d"`
}

// DataQuality reports what the facts rest on.
type DataQuality struct {
	// Coverage is the share of the sources read (a partial holder scan counts half).
	Coverage      float64     `json:"coverage"`
	SourcesUsed   []string    `json:"sources_used"`
	SourcesFailed []string    `json:"sources_failed"`
	HoldersScan   HoldersScan `json:"holders_scan"`
}

// HoldersScan describes the holder scan.
type HoldersScan struct {
	Complete    bool `json:"complete"`
	PagesRead   int  `json:"pages_read"`
	HoldersRead int  `json:"holders_read"`
}

func (a *Analyzer) pageConcurrency() int {
	if a.PageConcurrency > 0 {
		return a.PageConcurrency
	}
	return DefaultPageConcurrency
}

func (a *Analyzer) maxPages() int {
	if a.MaxPages > 0 {
		return a.MaxPages
	}
	return DefaultMaxPages
}

func (a *Analyzer) budget() time.Duration {
	if a.Budget > 0 {
		return a.Budget
	}
	return DefaultBudget
}

// sources records which sources were read and which failed (concurrency-safe).
type sources struct {
	mu             sync.Mutex
	used, failed   []string
	partialHolders bool
}

func (s *sources) ok(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !contains(s.used, name) && !contains(s.failed, name) {
		s.used = append(s.used, name)
	}
}

func (s *sources) fail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = remove(s.used, name)
	if !contains(s.failed, name) {
		s.failed = append(s.failed, name)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// clock converts slots to times from the chain tip (Shelley slots are 1 s).
type clock struct {
	tipSlot uint64
	tipTime time.Time
	known   bool
}

func (c clock) at(slot uint64) *time.Time {
	if !c.known {
		return nil
	}
	t := c.tipTime.Add(time.Duration(int64(slot)-int64(c.tipSlot)) * time.Second).UTC()
	return &t
}

// Facts gathers the facts of a token by unit. The asset itself must be readable: a missing
// asset gives an error wrapping ErrAssetNotFound, an outage an *UpstreamError. Every other
// source is optional.
//
// Parts are reused from a.Parts while they are fresh (see the TTL constants); refresh reads
// everything from the chain again and replaces the cached parts.
func (a *Analyzer) Facts(ctx context.Context, unit string, refresh bool) (Facts, error) {
	unit = strings.ToLower(strings.TrimSpace(unit))
	if len(unit) < 56 || len(unit) > 120 || len(unit)%2 != 0 || !cardano.IsHex(unit) {
		return Facts{}, fmt.Errorf("%w: %q is not a policy id followed by a hex asset name", ErrInvalidUnit, unit)
	}
	ctx, cancel := context.WithTimeout(ctx, a.budget())
	defer cancel()

	src := &sources{}
	var assetErr error
	asset := part(ctx, a, refresh, src, unit, partAsset, TTLAsset, func(own *sources) blockfrost.Asset {
		as, err := a.Chain.Asset(ctx, unit)
		if err != nil {
			assetErr = classify(ctx, srcAsset, "unit "+unit, err)
			own.fail(srcAsset)
			return as
		}
		own.ok(srcAsset)
		return as
	})
	if assetErr != nil {
		return Facts{}, assetErr
	}

	var f Facts
	f.Asset = assetFacts(unit, asset)
	f.Minting.MintOrBurnCount = asset.MintOrBurnCount

	var (
		wg       sync.WaitGroup
		clk      clock
		lock     *cardano.LockInfo
		plutus   bool
		holdings []tokenfacts.Holding
		scan     HoldersScan
	)
	wg.Add(4)
	policyID := f.Asset.PolicyID
	go func() {
		defer wg.Done()
		// The tip is never cached: the lock state and activity are relative to it.
		clk = a.tip(ctx, src)
		// Cached under the policy id: every asset of a policy shares its script.
		pp := part(ctx, a, refresh, src, policyID, partPolicy, TTLPolicy, func(own *sources) policyPart {
			p, l, pl := a.policy(ctx, own, policyID)
			return policyPart{Facts: p, Lock: l, Plutus: pl}
		})
		f.Policy, lock, plutus = pp.Facts, pp.Lock, pp.Plutus
	}()
	go func() {
		defer wg.Done()
		count := f.Minting.MintOrBurnCount
		mp := part(ctx, a, refresh, src, unit, partMinting, TTLMinting, func(own *sources) mintingPart {
			m := MintingFacts{MintOrBurnCount: count}
			a.minting(ctx, own, unit, &m)
			return mintingPart{Facts: m, Mints: m.mintCount, Burns: m.burnCount}
		})
		f.Minting = mp.Facts
		f.Minting.MintOrBurnCount = count
		f.Minting.mintCount, f.Minting.burnCount = mp.Mints, mp.Burns
	}()
	var lastTx *time.Time
	var txTimes []time.Time
	go func() {
		defer wg.Done()
		ap := part(ctx, a, refresh, src, unit, partActivity, TTLActivity, func(own *sources) activityPart {
			last, times := a.activity(ctx, own, unit)
			return activityPart{Last: last, TxTimes: times}
		})
		lastTx, txTimes = ap.Last, ap.TxTimes
	}()
	go func() {
		defer wg.Done()
		hp := part(ctx, a, refresh, src, unit, partHolders, TTLHolders, func(own *sources) holdersPart {
			hs, sc := a.scanHolders(ctx, own, unit)
			return holdersPart{Holdings: toHoldings(hs), Scan: sc}
		})
		holdings, scan = fromHoldings(hp.Holdings), hp.Scan
	}()
	wg.Wait()

	// Slot-dependent parts.
	if lock != nil {
		fillLock(&f.Policy, *lock, clk)
	}
	if clk.known {
		f.Activity.LastTxTime = lastTx
		if txTimes != nil {
			n24, n7 := 0, 0
			for _, t := range txTimes {
				age := clk.tipTime.Sub(t)
				if age <= 24*time.Hour {
					n24++
				}
				if age <= 7*24*time.Hour {
					n7++
				}
			}
			f.Activity.Tx24h, f.Activity.Tx7d = &n24, &n7
		}
	} else {
		f.Activity.LastTxTime = lastTx
	}

	supply, _ := tokenfacts.ParseQuantity(asset.Quantity)
	f.Holders = tokenfacts.Concentration(holdings, supply, scan.Complete)
	src.mu.Lock()
	src.partialHolders = !scan.Complete
	src.mu.Unlock()

	in := tokenfacts.Inputs{
		PlutusPolicy:  plutus,
		Holders:       f.Holders,
		HasRegistry:   f.Asset.Registry != nil,
		Tx24h:         f.Activity.Tx24h,
		Tx7d:          f.Activity.Tx7d,
		TipSlot:       clk.tipSlot,
		SourcesFailed: append([]string(nil), src.failed...),
	}
	if lock != nil {
		in.Lock, in.LockedSinceSlot, in.LockedUntilSlot = lock.State, lock.LockedSinceSlot, lock.LockedUntilSlot
	}
	if f.Minting.MintedAfterLaunch != nil {
		in.MintedAfterLaunch = *f.Minting.MintedAfterLaunch
	}
	in.MintCount, in.BurnCount = f.Minting.mintCount, f.Minting.burnCount
	if lastTx != nil && clk.known {
		age := max(clk.tipTime.Sub(*lastTx), 0)
		in.LastTxAge = &age
	}
	f.RiskEngine = tokenfacts.Assess(in)
	f.DataQuality = quality(src, scan)
	return f, nil
}

func assetFacts(unit string, as blockfrost.Asset) AssetFacts {
	out := AssetFacts{Unit: unit, PolicyID: unit[:56], AssetNameHex: unit[56:], Fingerprint: as.Fingerprint,
		Supply: as.Quantity, OnchainMetadataStandard: as.OnchainMetadataStandard}
	if fp, err := cardano.AssetFingerprint(out.PolicyID, out.AssetNameHex); err == nil && out.Fingerprint == "" {
		out.Fingerprint = fp
	}
	if m := as.Metadata; m != nil {
		out.Registry = &Registry{Name: m.Name, Ticker: m.Ticker, URL: m.URL, Logo: m.Logo}
		d := m.Decimals
		out.Decimals = &d
	} else if as.OnchainMetadata != nil {
		// CIP-68 fungible tokens carry decimals in their datum.
		if mm, ok := (*as.OnchainMetadata).(map[string]any); ok {
			if d, ok := mm["decimals"].(float64); ok && d >= 0 && d <= 255 && d == float64(int(d)) {
				n := int(d)
				out.Decimals = &n
			}
		}
	}
	return out
}

// tip reads the chain tip; when it fails, the network's time line gives the current slot.
func (a *Analyzer) tip(ctx context.Context, src *sources) clock {
	b, err := a.Chain.BlockLatest(ctx)
	if err == nil && b.Slot > 0 && b.Time > 0 {
		src.ok(srcBlockLatest)
		return clock{tipSlot: uint64(b.Slot), tipTime: time.Unix(int64(b.Time), 0).UTC(), known: true}
	}
	src.fail(srcBlockLatest)
	now := time.Now().UTC().Truncate(time.Second)
	if slot, ok := a.Network.SlotAt(now); ok {
		return clock{tipSlot: slot, tipTime: now, known: true}
	}
	return clock{}
}

// policy reads the minting policy script. lock is nil unless it is a readable native script.
func (a *Analyzer) policy(ctx context.Context, src *sources, policyID string) (p PolicyFacts, lock *cardano.LockInfo, plutus bool) {
	p.ScriptType = "unknown"
	s, err := a.Chain.Script(ctx, policyID)
	if err != nil {
		src.fail(srcScript)
		return p, nil, false
	}
	src.ok(srcScript)
	if s.Type != "" {
		p.ScriptType = s.Type
	}
	if strings.HasPrefix(strings.ToLower(s.Type), "plutus") {
		return p, nil, true
	}
	sj, err := a.Chain.ScriptJSON(ctx, policyID)
	if err != nil {
		src.fail(srcScriptJSON)
		return p, nil, false
	}
	src.ok(srcScriptJSON)
	if sj.JSON == nil {
		return p, nil, false
	}
	raw, err := jsonMarshal(sj.JSON)
	if err != nil {
		return p, nil, false
	}
	script, err := cardano.ParseNativeScript(raw)
	if err != nil {
		info := cardano.LockInfo{State: cardano.LockUnknown}
		return p, &info, false
	}
	info := cardano.Lock(script)
	return p, &info, false
}

// fillLock sets Locked, LockedSince/Until and RequiredSigners from a native script's lock.
func fillLock(p *PolicyFacts, l cardano.LockInfo, clk clock) {
	if l.State == cardano.LockUnknown {
		return
	}
	p.RequiredSigners = append([]string{}, l.RequiredSigners...)
	switch {
	case l.State == cardano.LockOpen:
		locked := false
		p.Locked = &locked
	case clk.known:
		locked := !l.MintableAt(clk.tipSlot)
		p.Locked = &locked
	}
	if l.LockedSinceSlot != nil {
		p.LockedSince = &SlotTime{Slot: *l.LockedSinceSlot, Time: clk.at(*l.LockedSinceSlot)}
	}
	if l.LockedUntilSlot != nil {
		p.LockedUntil = &SlotTime{Slot: *l.LockedUntilSlot, Time: clk.at(*l.LockedUntilSlot)}
	}
}

// minting reads the mint history (bounded) and the times of the first and last mints.
func (a *Analyzer) minting(ctx context.Context, src *sources, unit string, m *MintingFacts) {
	var hist []blockfrost.AssetHistory
	complete := false
	for page := 1; page <= historyMaxPages; page++ {
		h, err := a.Chain.AssetHistory(ctx, unit, blockfrost.APIQueryParams{Count: pageSize, Page: page, Order: "asc"})
		if err != nil {
			src.fail(srcHistory)
			return
		}
		hist = append(hist, h...)
		if len(h) < pageSize {
			complete = true
			break
		}
	}
	src.ok(srcHistory)
	minted, burned := new(big.Int), new(big.Int)
	var mints []string
	for _, h := range hist {
		q, err := tokenfacts.ParseQuantity(h.Amount)
		switch h.Action {
		case "minted":
			mints = append(mints, h.TxHash)
			m.mintCount++
			if err == nil {
				minted.Add(minted, q)
			}
		case "burned":
			m.burnCount++
			if err == nil {
				burned.Add(burned, q)
			}
		}
	}
	if complete {
		ms, bs := minted.String(), burned.String()
		m.Minted, m.Burned = &ms, &bs
	}
	after := len(mints) > 1
	if after || complete {
		m.MintedAfterLaunch = &after
	}
	if len(mints) == 0 {
		return
	}
	times := make([]*time.Time, 2)
	hashes := []string{mints[0], mints[len(mints)-1]}
	if !complete {
		hashes = hashes[:1] // the last mint is beyond what was read
	}
	var wg sync.WaitGroup
	for i, h := range hashes {
		if i == 1 && h == hashes[0] {
			times[1] = nil
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := a.Chain.Transaction(ctx, h)
			if err != nil {
				src.fail(srcTx)
				return
			}
			src.ok(srcTx)
			t := time.Unix(int64(tx.BlockTime), 0).UTC()
			times[i] = &t
		}()
	}
	wg.Wait()
	m.FirstMintTime = times[0]
	if len(hashes) == 2 && hashes[1] == hashes[0] {
		m.LastMintTime = times[0]
	} else {
		m.LastMintTime = times[1]
	}
}

// activity reads the latest transactions (newest first) back to 7 days before the newest
// one's tip-relative cut-off; it returns the last transaction time and the block times read.
// txTimes is nil when the source failed.
func (a *Analyzer) activity(ctx context.Context, src *sources, unit string) (last *time.Time, txTimes []time.Time) {
	var cutoff time.Time
	for page := 1; page <= activityMaxPages; page++ {
		txs, err := a.Chain.AssetTransactions(ctx, unit, blockfrost.APIQueryParams{Count: pageSize, Page: page, Order: "desc"})
		if err != nil {
			src.fail(srcTransactions)
			return nil, nil
		}
		if txTimes == nil {
			txTimes = []time.Time{}
		}
		for _, tx := range txs {
			t := time.Unix(int64(tx.BlockTime), 0).UTC()
			if last == nil {
				last = &t
				// The tip is at or after the newest transaction; 8 days back covers 7 days
				// before any tip within a day of it, and older tips see fewer anyway.
				cutoff = t.Add(-8 * 24 * time.Hour)
			}
			txTimes = append(txTimes, t)
		}
		if len(txs) < pageSize || (len(txs) > 0 && txTimes[len(txTimes)-1].Before(cutoff)) {
			break
		}
	}
	src.ok(srcTransactions)
	return last, txTimes
}

// scanHolders reads /assets/{asset}/addresses pages 1…MaxPages with bounded concurrency until
// a short page, MaxPages, an error or the budget. The scan is complete only when every page up
// to and including a short (final) page was read.
func (a *Analyzer) scanHolders(ctx context.Context, src *sources, unit string) ([]tokenfacts.Holding, HoldersScan) {
	maxPages := a.maxPages()
	var (
		mu      sync.Mutex
		next    = 1
		end     = 0 // the final (short) page, 0 while unknown
		pages   = map[int][]blockfrost.AssetAddress{}
		failed  bool
		stopped bool
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if stopped || failed || next > maxPages || (end > 0 && next > end) {
			return 0, false
		}
		p := next
		next++
		return p, true
	}
	var wg sync.WaitGroup
	for range min(a.pageConcurrency(), maxPages) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, ok := take()
				if !ok {
					return
				}
				rows, err := a.Chain.AssetAddresses(ctx, unit, blockfrost.APIQueryParams{Count: pageSize, Page: p})
				mu.Lock()
				switch {
				case err != nil && ctx.Err() != nil:
					stopped = true // out of budget (or cancelled)
				case err != nil:
					failed = true
					cancel()
				default:
					pages[p] = rows
					if len(rows) < pageSize && (end == 0 || p < end) {
						end = p
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	scan := HoldersScan{PagesRead: len(pages)}
	if failed {
		src.fail(srcAddresses)
	} else {
		src.ok(srcAddresses)
	}
	complete := end > 0 && !failed
	for p := 1; complete && p <= end; p++ {
		if _, ok := pages[p]; !ok {
			complete = false
		}
	}
	var holdings []tokenfacts.Holding
	for p, rows := range pages {
		if end > 0 && p > end {
			continue
		}
		for _, r := range rows {
			q, err := tokenfacts.ParseQuantity(r.Quantity)
			if err != nil {
				continue
			}
			holdings = append(holdings, tokenfacts.Holding{Address: r.Address, Quantity: q})
		}
		scan.HoldersRead += len(rows)
	}
	scan.Complete = complete
	return holdings, scan
}

// quality computes coverage from the sources: each read one counts 1, each failed one 0, and a
// partial holder scan counts half of its source.
func quality(src *sources, scan HoldersScan) DataQuality {
	src.mu.Lock()
	defer src.mu.Unlock()
	used := append([]string{}, src.used...)
	failed := append([]string{}, src.failed...)
	slices.Sort(used)
	slices.Sort(failed)
	total := float64(len(used) + len(failed))
	got := float64(len(used))
	if src.partialHolders && contains(used, srcAddresses) {
		got -= 0.5
	}
	cov := 0.0
	if total > 0 {
		cov = float64(int(got/total*10000+0.5)) / 10000
	}
	return DataQuality{Coverage: cov, SourcesUsed: used, SourcesFailed: failed, HoldersScan: scan}
}

var errNoJSON = errors.New("tokenanalysis: no script JSON")

func jsonMarshal(v any) ([]byte, error) {
	if v == nil {
		return nil, errNoJSON
	}
	return json.Marshal(v)
}
