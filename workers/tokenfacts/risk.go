package tokenfacts

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

// Flag levels.
const (
	LevelInfo   = "info"
	LevelWarn   = "warn"
	LevelDanger = "danger"
)

// Risk levels, from [Risk.OverallScore] bands (see [Assess]).
const (
	RiskLow      = "low"
	RiskMedium   = "medium"
	RiskHigh     = "high"
	RiskCritical = "critical"
)

// Subscore names (keys of [Risk.Subscores]).
const (
	SubSupplyControl = "supply_control"
	SubConcentration = "concentration"
	SubActivity      = "activity"
	SubTransparency  = "transparency"
)

// Flag IDs.
const (
	FlagMintPolicyOpen            = "mint_policy_open"
	FlagMintPolicyTimeLockExpired = "mint_policy_time_lock_expired"
	FlagMintPolicyTimeLocked      = "mint_policy_time_locked"
	FlagMintPolicyClosing         = "mint_policy_closing"
	FlagMintPolicyClosed          = "mint_policy_closed"
	FlagMintPolicyUnknown         = "mint_policy_unknown"
	FlagPlutusPolicy              = "plutus_policy_unverifiable"
	FlagMintedAfterLaunch         = "minted_after_launch"
	FlagTopHolder                 = "top_holder_concentration"
	FlagTop10Holders              = "top_10_holder_concentration"
	FlagLowNakamoto               = "low_nakamoto"
	FlagHoldersScanPartial        = "holders_scan_partial"
	FlagInactive                  = "inactive_30d"
	FlagActivityUnknown           = "activity_unknown"
	FlagNoRegistry                = "no_registry_entry"
	FlagSourceFailed              = "source_failed"
)

// Thresholds and weights of the rules; every number the engine uses is here.
const (
	top1DangerPct      = 20.0 // top 1 holder group above this share of supply → danger
	top10WarnPct       = 50.0 // top 10 holder groups above this share → warn
	nakamotoWarnMax    = 3    // Nakamoto coefficient at or below this → warn
	inactiveAfter      = 30 * 24 * time.Hour
	confPartialHolders = 0.25 // confidence lost when the holder scan is partial
	confPerFailedSrc   = 0.15 // confidence lost per failed source
	confNoActivity     = 0.10 // confidence lost without any activity data
	confUnknownLock    = 0.10 // confidence lost when the mint policy could not be classified
	unknownSubscore    = 0.5  // subscore used when its data is missing entirely
)

// weight is one subscore's weight in the overall score.
type weight struct {
	name string
	w    float64
}

// weights lists the subscores and their weights in the overall score (they sum to 1), in the
// fixed order the score is summed.
func weights() []weight {
	return []weight{
		{SubSupplyControl, 0.40},
		{SubConcentration, 0.30},
		{SubActivity, 0.10},
		{SubTransparency, 0.20},
	}
}

// Inputs are the facts the risk engine scores. Pointers are nil when the fact is unknown.
type Inputs struct {
	// Lock is the mint policy state, one of cardano.LockClosed, LockOpen, LockTimeLocked,
	// LockUnknown (or "" when unknown), with the slots of cardano.LockInfo.
	Lock            string  `json:"lock"`
	LockedSinceSlot *uint64 `json:"locked_since_slot,omitempty"`
	LockedUntilSlot *uint64 `json:"locked_until_slot,omitempty"`
	// TipSlot is the current chain tip slot.
	TipSlot uint64 `json:"tip_slot"`
	// PlutusPolicy is true when the policy is a Plutus script (its mint rules cannot be read
	// statically); it takes precedence over Lock.
	PlutusPolicy      bool           `json:"plutus_policy"`
	Holders           Holders        `json:"holders"`
	MintCount         int            `json:"mint_count"`
	BurnCount         int            `json:"burn_count"`
	MintedAfterLaunch bool           `json:"minted_after_launch"`
	HasRegistry       bool           `json:"has_registry"`
	LastTxAge         *time.Duration `json:"last_tx_age,omitempty"`
	Tx24h             *int           `json:"tx_24h,omitempty"`
	Tx7d              *int           `json:"tx_7d,omitempty"`
	// SourcesFailed names the data sources that could not be read.
	SourcesFailed []string `json:"sources_failed,omitempty"`
}

// Flag is one finding, with concrete evidence.
type Flag struct {
	ID       string `json:"id"`
	Level    string `json:"level"`
	Evidence string `json:"evidence"`
}

// Risk is the engine's verdict.
type Risk struct {
	OverallScore float64            `json:"overall_score"` // 0 (no risk found) – 1
	RiskLevel    string             `json:"risk_level"`    // low | medium | high | critical
	Flags        []Flag             `json:"flags"`
	Subscores    map[string]float64 `json:"subscores"`  // supply_control, concentration, activity, transparency; each 0–1
	Confidence   float64            `json:"confidence"` // 0–1; lower when data is partial or sources failed
}

// Assess scores a token deterministically: the same Inputs always give the same Risk, flags in
// the order of the table below. Subscores are 0 (no risk) to 1; each is the largest
// contribution of its rules.
//
//	rule                                         flag (level)                            subscore contribution
//	Plutus policy                                plutus_policy_unverifiable (warn)       supply_control 0.7, transparency +0.4
//	lock open                                    mint_policy_open (danger)               supply_control 1.0
//	lock time_locked, TipSlot ≥ LockedUntilSlot  mint_policy_time_lock_expired (danger)  supply_control 1.0
//	lock time_locked, TipSlot < LockedUntilSlot  mint_policy_time_locked (warn)          supply_control 0.6
//	lock closed, LockedSinceSlot ≤ TipSlot       mint_policy_closed (info)               supply_control 0
//	lock closed, LockedSinceSlot > TipSlot       mint_policy_closing (warn)              supply_control 0.5
//	lock unknown / empty (not Plutus)            mint_policy_unknown (warn)              supply_control 0.7, confidence −0.10
//	minted after launch                          minted_after_launch (warn)              supply_control 0.5
//	top_1_pct > 20                               top_holder_concentration (danger)       concentration top_1_pct/50
//	top_10_pct > 50                              top_10_holder_concentration (warn)      concentration top_10_pct/100
//	nakamoto ≤ 3                                 low_nakamoto (warn)                     concentration 1.0 / 0.8 / 0.6 for 1 / 2 / 3
//	                                                                                     (0.3 for 4–10, else 0)
//	holder scan partial                          holders_scan_partial (info)             concentration 0.5 when no figure is known,
//	                                                                                     confidence −0.25
//	last tx older than 30 days                   inactive_30d (warn)                     activity 1.0 (≤30 d 0.6, ≤7 d 0.3, ≤1 d 0)
//	no last-tx age: Tx24h > 0 / Tx7d > 0 / 0     —                                       activity 0 / 0.3 / 0.6
//	no activity data at all                      activity_unknown (info)                 activity 0.5, confidence −0.10
//	no token registry entry                      no_registry_entry (info)                transparency +0.6
//	each failed source                           source_failed (info)                    confidence −0.15
//
// OverallScore is the weighted mean of the subscores (weights: supply_control 0.4,
// concentration 0.3, activity 0.1, transparency 0.2). RiskLevel is from its band: < 0.25 low,
// < 0.5 medium, < 0.75 high, otherwise critical — except that any danger flag raises the level
// to at least high, so an open mint policy is never reported as low or medium risk whatever
// the other scores. Confidence starts at 1 and is clamped to [0, 1]. Scores are rounded to 4
// decimals.
func Assess(in Inputs) Risk {
	var flags []Flag
	add := func(id, level, format string, args ...any) {
		flags = append(flags, Flag{ID: id, Level: level, Evidence: fmt.Sprintf(format, args...)})
	}
	sub := map[string]float64{}
	raise := func(name string, v float64) { sub[name] = math.Max(sub[name], v) }
	confidence := 1.0

	// Supply control.
	raise(SubSupplyControl, 0)
	raise(SubTransparency, 0)
	switch {
	case in.PlutusPolicy:
		add(FlagPlutusPolicy, LevelWarn, "minting policy is a Plutus script; its minting rules cannot be verified statically")
		raise(SubSupplyControl, 0.7)
		sub[SubTransparency] += 0.4
	case in.Lock == cardano.LockOpen:
		add(FlagMintPolicyOpen, LevelDanger, "minting policy can mint at any slot (no time lock); more supply can be created at will")
		raise(SubSupplyControl, 1)
	case in.Lock == cardano.LockTimeLocked && in.LockedUntilSlot != nil && in.TipSlot >= *in.LockedUntilSlot:
		add(FlagMintPolicyTimeLockExpired, LevelDanger, "minting policy time lock ended at slot %d; at tip slot %d it can mint again, for ever",
			*in.LockedUntilSlot, in.TipSlot)
		raise(SubSupplyControl, 1)
	case in.Lock == cardano.LockTimeLocked && in.LockedUntilSlot != nil:
		add(FlagMintPolicyTimeLocked, LevelWarn, "minting policy is locked until slot %d (%d slots after tip slot %d) and can mint from then on",
			*in.LockedUntilSlot, *in.LockedUntilSlot-in.TipSlot, in.TipSlot)
		raise(SubSupplyControl, 0.6)
	case in.Lock == cardano.LockTimeLocked:
		add(FlagMintPolicyTimeLocked, LevelWarn, "minting policy is time-locked but the slot at which it reopens is unknown")
		raise(SubSupplyControl, 0.6)
	case in.Lock == cardano.LockClosed && in.LockedSinceSlot != nil && *in.LockedSinceSlot > in.TipSlot:
		add(FlagMintPolicyClosing, LevelWarn, "minting policy can still mint until slot %d (%d slots after tip slot %d); closed afterwards",
			*in.LockedSinceSlot, *in.LockedSinceSlot-in.TipSlot, in.TipSlot)
		raise(SubSupplyControl, 0.5)
	case in.Lock == cardano.LockClosed && in.LockedSinceSlot != nil:
		add(FlagMintPolicyClosed, LevelInfo, "minting policy closed since slot %d; no more tokens can be minted", *in.LockedSinceSlot)
	case in.Lock == cardano.LockClosed:
		add(FlagMintPolicyClosed, LevelInfo, "minting policy is closed; no more tokens can be minted")
	default:
		add(FlagMintPolicyUnknown, LevelWarn, "minting policy could not be classified (state %q)", in.Lock)
		raise(SubSupplyControl, 0.7)
		confidence -= confUnknownLock
	}
	if in.MintedAfterLaunch {
		add(FlagMintedAfterLaunch, LevelWarn, "supply was increased after the initial mint (%d mint and %d burn transactions)",
			in.MintCount, in.BurnCount)
		raise(SubSupplyControl, 0.5)
	}

	// Concentration.
	h := in.Holders
	raise(SubConcentration, 0)
	known := false
	if h.Top1Pct != nil {
		known = true
		raise(SubConcentration, math.Min(*h.Top1Pct/50, 1))
		if *h.Top1Pct > top1DangerPct {
			add(FlagTopHolder, LevelDanger, "top 1 holder group holds %.1f%% of supply", *h.Top1Pct)
		}
	}
	if h.Top10Pct != nil {
		known = true
		raise(SubConcentration, math.Min(*h.Top10Pct/100, 1))
		if *h.Top10Pct > top10WarnPct {
			add(FlagTop10Holders, LevelWarn, "top 10 holder groups hold %.1f%% of supply", *h.Top10Pct)
		}
	}
	if h.Nakamoto != nil {
		known = true
		n := *h.Nakamoto
		switch {
		case n <= 1:
			raise(SubConcentration, 1)
		case n == 2:
			raise(SubConcentration, 0.8)
		case n == 3:
			raise(SubConcentration, 0.6)
		case n <= 10:
			raise(SubConcentration, 0.3)
		}
		if n <= nakamotoWarnMax {
			add(FlagLowNakamoto, LevelWarn, "%d holder group(s) together hold more than 50%% of supply", n)
		}
	}
	if !h.Complete {
		add(FlagHoldersScanPartial, LevelInfo, "holder scan incomplete: at least %d holder groups seen; concentration figures not computed",
			h.HolderCount)
		confidence -= confPartialHolders
	}
	if !known {
		raise(SubConcentration, unknownSubscore)
	}

	// Activity.
	switch {
	case in.LastTxAge != nil:
		age := *in.LastTxAge
		switch {
		case age > inactiveAfter:
			add(FlagInactive, LevelWarn, "no transaction in %d days (last one %d days ago)", int(inactiveAfter/(24*time.Hour)), int(age/(24*time.Hour)))
			raise(SubActivity, 1)
		case age > 7*24*time.Hour:
			raise(SubActivity, 0.6)
		case age > 24*time.Hour:
			raise(SubActivity, 0.3)
		default:
			raise(SubActivity, 0)
		}
	case in.Tx24h != nil && *in.Tx24h > 0:
		raise(SubActivity, 0)
	case in.Tx7d != nil && *in.Tx7d > 0:
		raise(SubActivity, 0.3)
	case in.Tx7d != nil || in.Tx24h != nil:
		raise(SubActivity, 0.6)
	default:
		add(FlagActivityUnknown, LevelInfo, "no transaction activity data available")
		raise(SubActivity, unknownSubscore)
		confidence -= confNoActivity
	}

	// Transparency.
	if !in.HasRegistry {
		add(FlagNoRegistry, LevelInfo, "token has no entry in the Cardano token registry (no verified name, ticker or decimals)")
		sub[SubTransparency] += 0.6
	}
	sub[SubTransparency] = math.Min(sub[SubTransparency], 1)

	// Data quality.
	failed := slices.Clone(in.SourcesFailed)
	for i := range failed {
		failed[i] = strings.TrimSpace(failed[i])
	}
	slices.Sort(failed)
	failed = slices.Compact(failed)
	for _, s := range failed {
		if s == "" {
			continue
		}
		add(FlagSourceFailed, LevelInfo, "data source %q could not be read; figures depending on it may be missing", s)
		confidence -= confPerFailedSrc
	}

	var score float64
	for _, w := range weights() {
		sub[w.name] = round4(sub[w.name])
		score += w.w * sub[w.name]
	}
	score = round4(score)
	level := band(score)
	if slices.ContainsFunc(flags, func(f Flag) bool { return f.Level == LevelDanger }) && rank(level) < rank(RiskHigh) {
		level = RiskHigh
	}
	if flags == nil {
		flags = []Flag{}
	}
	return Risk{
		OverallScore: score,
		RiskLevel:    level,
		Flags:        flags,
		Subscores:    sub,
		Confidence:   round4(math.Min(math.Max(confidence, 0), 1)),
	}
}

// band maps an overall score to a risk level.
func band(score float64) string {
	switch {
	case score < 0.25:
		return RiskLow
	case score < 0.5:
		return RiskMedium
	case score < 0.75:
		return RiskHigh
	default:
		return RiskCritical
	}
}

func rank(level string) int {
	return slices.Index([]string{RiskLow, RiskMedium, RiskHigh, RiskCritical}, level)
}

func round4(x float64) float64 { return math.Round(x*10000) / 10000 }
