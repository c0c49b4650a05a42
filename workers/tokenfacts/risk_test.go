package tokenfacts

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

func u64(x uint64) *uint64               { return &x }
func dur(d time.Duration) *time.Duration { return &d }

// cleanInputs describes a token with nothing to flag but its closed policy.
func cleanInputs() Inputs {
	return Inputs{
		Lock:            cardano.LockClosed,
		LockedSinceSlot: u64(100),
		TipSlot:         1000,
		Holders: Holders{
			HolderCount: 500, StakeHolderCount: 450,
			Top1Pct: fp(5), Top10Pct: fp(10), Top100Pct: fp(30),
			HHI: fp(0.01), Gini: fp(0.6), Nakamoto: ip(25), ScriptAddressPct: fp(10), Complete: true,
		},
		MintCount:   1,
		HasRegistry: true,
		LastTxAge:   dur(time.Hour),
	}
}

func TestAssessClean(t *testing.T) {
	got := Assess(cleanInputs())
	want := Risk{
		OverallScore: 0.03, // concentration 0.1 (top_1 5/50, top_10 10/100) · 0.3
		RiskLevel:    RiskLow,
		Flags:        []Flag{{FlagMintPolicyClosed, LevelInfo, "minting policy closed since slot 100; no more tokens can be minted"}},
		Subscores:    map[string]float64{SubSupplyControl: 0, SubConcentration: 0.1, SubActivity: 0, SubTransparency: 0},
		Confidence:   1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Assess(clean) =\n %+v\nwant\n %+v", got, want)
	}
	if again := Assess(cleanInputs()); !reflect.DeepEqual(got, again) {
		t.Error("Assess is not deterministic")
	}
}

func TestAssessRules(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*Inputs)
		id       string
		level    string
		evidence string // substring of the flag's evidence
		sub      string // subscore to check ("" = none)
		subWant  float64
	}{
		{"open policy", func(in *Inputs) { in.Lock, in.LockedSinceSlot = cardano.LockOpen, nil },
			FlagMintPolicyOpen, LevelDanger, "can mint at any slot", SubSupplyControl, 1},
		{"time lock expired", func(in *Inputs) {
			in.Lock, in.LockedSinceSlot, in.LockedUntilSlot = cardano.LockTimeLocked, nil, u64(900)
		}, FlagMintPolicyTimeLockExpired, LevelDanger, "ended at slot 900; at tip slot 1000", SubSupplyControl, 1},
		{"time lock expires exactly at tip", func(in *Inputs) {
			in.Lock, in.LockedSinceSlot, in.LockedUntilSlot = cardano.LockTimeLocked, nil, u64(1000)
		}, FlagMintPolicyTimeLockExpired, LevelDanger, "ended at slot 1000", SubSupplyControl, 1},
		{"time lock still holding", func(in *Inputs) {
			in.Lock, in.LockedSinceSlot, in.LockedUntilSlot = cardano.LockTimeLocked, nil, u64(5000)
		}, FlagMintPolicyTimeLocked, LevelWarn, "locked until slot 5000 (4000 slots after tip slot 1000)", SubSupplyControl, 0.6},
		{"closed in the future", func(in *Inputs) { in.LockedSinceSlot = u64(1500) },
			FlagMintPolicyClosing, LevelWarn, "can still mint until slot 1500 (500 slots after tip slot 1000)", SubSupplyControl, 0.5},
		{"plutus policy", func(in *Inputs) { in.PlutusPolicy, in.Lock, in.LockedSinceSlot = true, cardano.LockUnknown, nil },
			FlagPlutusPolicy, LevelWarn, "Plutus script", SubSupplyControl, 0.7},
		{"unknown lock", func(in *Inputs) { in.Lock, in.LockedSinceSlot = cardano.LockUnknown, nil },
			FlagMintPolicyUnknown, LevelWarn, `state "unknown"`, SubSupplyControl, 0.7},
		{"minted after launch", func(in *Inputs) { in.MintedAfterLaunch, in.MintCount, in.BurnCount = true, 3, 1 },
			FlagMintedAfterLaunch, LevelWarn, "3 mint and 1 burn transactions", SubSupplyControl, 0.5},
		{"top 1 above 20%", func(in *Inputs) { in.Holders.Top1Pct, in.Holders.Top10Pct = fp(34.2), fp(40) },
			FlagTopHolder, LevelDanger, "top 1 holder group holds 34.2% of supply", SubConcentration, 0.684},
		{"top 10 above 50%", func(in *Inputs) { in.Holders.Top10Pct = fp(62.5) },
			FlagTop10Holders, LevelWarn, "top 10 holder groups hold 62.5% of supply", SubConcentration, 0.625},
		{"nakamoto 3", func(in *Inputs) { in.Holders.Nakamoto = ip(3) },
			FlagLowNakamoto, LevelWarn, "3 holder group(s) together hold more than 50% of supply", SubConcentration, 0.6},
		{"nakamoto 1", func(in *Inputs) { in.Holders.Nakamoto = ip(1) },
			FlagLowNakamoto, LevelWarn, "1 holder group(s)", SubConcentration, 1},
		{"partial holder scan", func(in *Inputs) {
			in.Holders = Concentration([]Holding{{testAddr(t, 0x01, 1, 2), big.NewInt(5)}}, nil, false)
		}, FlagHoldersScanPartial, LevelInfo, "at least 1 holder groups seen", SubConcentration, 0.5},
		{"inactive 45 days", func(in *Inputs) { in.LastTxAge = dur(45 * 24 * time.Hour) },
			FlagInactive, LevelWarn, "no transaction in 30 days (last one 45 days ago)", SubActivity, 1},
		{"no activity data", func(in *Inputs) { in.LastTxAge = nil },
			FlagActivityUnknown, LevelInfo, "no transaction activity data", SubActivity, 0.5},
		{"no registry", func(in *Inputs) { in.HasRegistry = false },
			FlagNoRegistry, LevelInfo, "token registry", SubTransparency, 0.6},
		{"failed source", func(in *Inputs) { in.SourcesFailed = []string{"blockfrost_holders"} },
			FlagSourceFailed, LevelInfo, `"blockfrost_holders" could not be read`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := cleanInputs()
			tt.mod(&in)
			got := Assess(in)
			var found *Flag
			for i, f := range got.Flags {
				if f.ID == tt.id {
					found = &got.Flags[i]
				}
			}
			if found == nil {
				t.Fatalf("flag %s missing; flags %+v", tt.id, got.Flags)
			}
			if found.Level != tt.level || !strings.Contains(found.Evidence, tt.evidence) {
				t.Errorf("flag = %+v; want level %s, evidence containing %q", *found, tt.level, tt.evidence)
			}
			if tt.sub != "" && got.Subscores[tt.sub] != tt.subWant {
				t.Errorf("subscore %s = %v, want %v", tt.sub, got.Subscores[tt.sub], tt.subWant)
			}
			if tt.level == LevelDanger && rank(got.RiskLevel) < rank(RiskHigh) {
				t.Errorf("danger flag but risk level %s", got.RiskLevel)
			}
		})
	}
}

func TestAssessNoFalseFlags(t *testing.T) {
	// Just at the thresholds nothing fires: top 1 = 20, top 10 = 50, Nakamoto 4, 30 days.
	in := cleanInputs()
	in.Holders.Top1Pct, in.Holders.Top10Pct, in.Holders.Nakamoto = fp(20), fp(50), ip(4)
	in.LastTxAge = dur(30 * 24 * time.Hour)
	got := Assess(in)
	if len(got.Flags) != 1 || got.Flags[0].ID != FlagMintPolicyClosed {
		t.Errorf("flags = %+v, want only %s", got.Flags, FlagMintPolicyClosed)
	}
	if got.Subscores[SubActivity] != 0.6 || got.Subscores[SubConcentration] != 0.5 {
		t.Errorf("subscores = %v", got.Subscores)
	}
}

func TestAssessLevels(t *testing.T) {
	worst := func(in *Inputs) {
		in.Lock, in.LockedSinceSlot = cardano.LockOpen, nil
		in.Holders.Top1Pct, in.Holders.Top10Pct, in.Holders.Nakamoto = fp(80), fp(95), ip(1)
		in.LastTxAge = dur(90 * 24 * time.Hour)
		in.HasRegistry = false
	}
	tests := []struct {
		name      string
		mod       func(*Inputs)
		score     float64
		level     string
		subscores map[string]float64
	}{
		{"clean", func(*Inputs) {}, 0.03, RiskLow, nil},
		// concentration 0.5 (top 10 = 50) ·0.3 + activity 0.6·0.1 + transparency 0.6·0.2
		{"medium", func(in *Inputs) {
			in.Holders.Top10Pct = fp(50)
			in.LastTxAge = dur(10 * 24 * time.Hour)
			in.HasRegistry = false
		}, 0.33, RiskMedium, nil},
		// supply 0.7·0.4 + concentration 0.8 (Nakamoto 2)·0.3 + transparency 1.0·0.2
		{"high", func(in *Inputs) {
			in.PlutusPolicy = true
			in.Holders.Nakamoto = ip(2)
			in.HasRegistry = false
		}, 0.72, RiskHigh, map[string]float64{SubSupplyControl: 0.7, SubConcentration: 0.8, SubActivity: 0, SubTransparency: 1}},
		{"critical", worst, 0.92, RiskCritical, map[string]float64{SubSupplyControl: 1, SubConcentration: 1, SubActivity: 1, SubTransparency: 0.6}},
		// score 0.4 + 0.03 is in the medium band, but a danger flag lifts it to high.
		{"danger flag floors at high", func(in *Inputs) { in.Lock, in.LockedSinceSlot = cardano.LockOpen, nil }, 0.43, RiskHigh, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := cleanInputs()
			tt.mod(&in)
			got := Assess(in)
			if got.OverallScore != tt.score || got.RiskLevel != tt.level {
				t.Errorf("score, level = %v, %s; want %v, %s (subscores %v)", got.OverallScore, got.RiskLevel, tt.score, tt.level, got.Subscores)
			}
			if tt.subscores != nil && !reflect.DeepEqual(got.Subscores, tt.subscores) {
				t.Errorf("subscores = %v, want %v", got.Subscores, tt.subscores)
			}
		})
	}
}

func TestBand(t *testing.T) {
	tests := []struct {
		score float64
		want  string
	}{
		{0, RiskLow}, {0.2499, RiskLow}, {0.25, RiskMedium}, {0.4999, RiskMedium},
		{0.5, RiskHigh}, {0.7499, RiskHigh}, {0.75, RiskCritical}, {1, RiskCritical},
	}
	for _, tt := range tests {
		if got := band(tt.score); got != tt.want {
			t.Errorf("band(%v) = %s, want %s", tt.score, got, tt.want)
		}
	}
}

func TestAssessConfidence(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Inputs)
		want float64
	}{
		{"complete data", func(*Inputs) {}, 1},
		{"partial holders", func(in *Inputs) { in.Holders.Complete = false }, 0.75},
		{"one failed source", func(in *Inputs) { in.SourcesFailed = []string{"registry"} }, 0.85},
		{"duplicate failed sources count once", func(in *Inputs) { in.SourcesFailed = []string{"registry", "registry", " "} }, 0.85},
		{"partial holders and two failed sources", func(in *Inputs) {
			in.Holders.Complete = false
			in.SourcesFailed = []string{"registry", "blockfrost_txs"}
		}, 0.45},
		{"no activity, unknown lock", func(in *Inputs) { in.LastTxAge, in.Lock = nil, "" }, 0.8},
		{"clamped at 0", func(in *Inputs) {
			in.Holders.Complete = false
			in.SourcesFailed = []string{"a", "b", "c", "d", "e", "f", "g"}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := cleanInputs()
			tt.mod(&in)
			got := Assess(in)
			if got.Confidence != tt.want {
				t.Errorf("confidence = %v, want %v", got.Confidence, tt.want)
			}
		})
	}
}

func TestAssessFailedSourcesFlagsSorted(t *testing.T) {
	in := cleanInputs()
	in.SourcesFailed = []string{"registry", "blockfrost_txs", "registry"}
	var ev []string
	for _, f := range Assess(in).Flags {
		if f.ID == FlagSourceFailed {
			ev = append(ev, f.Evidence)
		}
	}
	if len(ev) != 2 || !strings.Contains(ev[0], "blockfrost_txs") || !strings.Contains(ev[1], "registry") {
		t.Errorf("source flags = %q", ev)
	}
}

func TestRiskJSON(t *testing.T) {
	b, err := json.Marshal(Assess(cleanInputs()))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"overall_score":`, `"risk_level":"low"`, `"flags":[{"id":"mint_policy_closed","level":"info","evidence":`,
		`"subscores":{`, `"supply_control":`, `"concentration":`, `"activity":`, `"transparency":`, `"confidence":1`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}
