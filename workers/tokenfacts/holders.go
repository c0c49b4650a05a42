// Package tokenfacts holds the pure computations of the token-analysis feature: holder
// concentration figures (see [Concentration]) and a deterministic risk engine (see [Assess]).
// Nothing here performs I/O; callers fetch the data (Blockfrost) and pass it in.
package tokenfacts

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/tbackend/tbackend/cardano"
)

// ErrQuantity is wrapped by every [ParseQuantity] error.
var ErrQuantity = errors.New("tokenfacts: invalid quantity")

// MaxQuantityDigits bounds the decimal quantities [ParseQuantity] accepts. A native-asset
// amount in one output is at most 2^64−1 (20 digits); sums and supplies stay far below 10^40.
// The bound keeps hostile input from costing arbitrary big-number work.
const MaxQuantityDigits = 40

// Holding is one address and the quantity of the token it holds, as Blockfrost's
// /assets/{asset}/addresses lists them.
type Holding struct {
	Address  string
	Quantity *big.Int
}

// ParseQuantity parses a non-negative decimal integer as Blockfrost sends quantities ("123").
// Signs, spaces, decimal points, exponents, hex and more than [MaxQuantityDigits] digits are
// rejected; leading zeros are accepted.
func ParseQuantity(s string) (*big.Int, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrQuantity)
	}
	if len(s) > MaxQuantityDigits {
		return nil, fmt.Errorf("%w: more than %d digits", ErrQuantity, MaxQuantityDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, fmt.Errorf("%w: %q is not a non-negative decimal integer", ErrQuantity, s)
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrQuantity, s)
	}
	return n, nil
}

// Holders summarises how a token's supply is distributed.
//
// Holdings are grouped into holder groups by stake credential ([cardano.Address.StakeKey]): the
// base addresses of one wallet share a stake key and count as one holder. Addresses without a
// stake credential form groups of their own (pointer, enterprise payment key, Byron), and
// addresses that do not parse are grouped by their raw text and counted in Unparsed.
//
// Script-payment addresses (CIP-19 types 1, 3, 5, 7) are not holders: funds there sit in
// contracts — DEX liquidity pools, order books, lending pools, vesting contracts — that do not
// own them in the sense a concentration measure cares about, and counting a large pool as a
// "whale" would be misleading. Their combined share of supply is reported as ScriptAddressPct
// and they are left out of HolderCount, StakeHolderCount, the top-N shares, HHI, Gini and
// Nakamoto.
//
// All percentages are of the total supply (0–100); HHI uses shares in [0, 1]. Figures are
// computed exactly (big.Int / big.Rat) and rounded half-up to 4 decimals.
//
// When the holder scan is partial (Complete false) the figures that need the whole distribution
// — Top1Pct, Top10Pct, Top100Pct, HHI, Gini, Nakamoto — are nil rather than understated,
// HolderCount and StakeHolderCount are lower bounds (HolderCountIsLowerBound), and
// ScriptAddressPct is a lower bound too.
type Holders struct {
	// HolderCount is the number of holder groups with a positive balance.
	HolderCount int `json:"holder_count"`
	// HolderCountIsLowerBound is true when the scan was partial.
	HolderCountIsLowerBound bool `json:"holder_count_is_lower_bound"`
	// StakeHolderCount is the number of holder groups keyed by a real stake credential.
	StakeHolderCount int `json:"stake_holder_count"`
	// Top1Pct, Top10Pct, Top100Pct: share of supply held by the largest 1, 10, 100 groups.
	Top1Pct   *float64 `json:"top_1_pct"`
	Top10Pct  *float64 `json:"top_10_pct"`
	Top100Pct *float64 `json:"top_100_pct"`
	// HHI is the Herfindahl–Hirschman index: the sum of squared supply shares of holder groups.
	HHI *float64 `json:"hhi"`
	// Gini is the Gini coefficient of holder-group balances (0 = all equal, → 1 = one holds all).
	Gini *float64 `json:"gini"`
	// Nakamoto is the least number of holder groups that together hold more than 50% of supply;
	// nil when even all holder groups together do not (e.g. most supply sits in contracts).
	Nakamoto *int `json:"nakamoto"`
	// ScriptAddressPct is the share of supply held at script-payment addresses.
	ScriptAddressPct *float64 `json:"script_address_pct"`
	// Complete reports whether every holding of the token was scanned.
	Complete bool `json:"complete"`
	// Unparsed counts holdings whose address did not parse.
	Unparsed int `json:"unparsed"`
}

// Concentration computes [Holders] from a token's holdings. supply is the token's total supply;
// when it is nil, not positive, or smaller than the sum of the holdings (an inconsistent
// snapshot), the sum of the holdings is used instead, so percentages never exceed 100. complete
// says whether holdings is the whole list. Holdings with a nil or non-positive quantity are
// ignored.
func Concentration(holdings []Holding, supply *big.Int, complete bool) Holders {
	h := Holders{Complete: complete, HolderCountIsLowerBound: !complete}

	groups := map[string]*big.Int{}
	stakeKeyed := map[string]bool{}
	total := new(big.Int)  // everything held, contracts included
	script := new(big.Int) // held at script-payment addresses
	for _, hd := range holdings {
		if hd.Quantity == nil || hd.Quantity.Sign() <= 0 {
			continue
		}
		total.Add(total, hd.Quantity)
		var key string
		var isStake bool
		a, err := cardano.ParseAddress(hd.Address)
		switch {
		case err != nil:
			h.Unparsed++
			key = "unparsed:" + strings.TrimSpace(hd.Address)
		case a.IsScriptPayment():
			script.Add(script, hd.Quantity)
			continue
		default:
			key, isStake = a.StakeKey()
		}
		g, ok := groups[key]
		if !ok {
			g = new(big.Int)
			groups[key] = g
			stakeKeyed[key] = isStake
		}
		g.Add(g, hd.Quantity)
	}

	denom := total
	if supply != nil && supply.Cmp(total) >= 0 && supply.Sign() > 0 {
		denom = supply
	}

	balances := make([]*big.Int, 0, len(groups))
	for key, b := range groups {
		balances = append(balances, b)
		if stakeKeyed[key] {
			h.StakeHolderCount++
		}
	}
	h.HolderCount = len(balances)
	// Largest first.
	slices.SortFunc(balances, func(a, b *big.Int) int { return b.Cmp(a) })

	if denom.Sign() > 0 {
		h.ScriptAddressPct = pct(script, denom)
	}
	if !complete || denom.Sign() == 0 {
		return h
	}

	h.Top1Pct = pct(sumTop(balances, 1), denom)
	h.Top10Pct = pct(sumTop(balances, 10), denom)
	h.Top100Pct = pct(sumTop(balances, 100), denom)

	// HHI = Σ b_i² / S².
	sq := new(big.Int)
	var t big.Int
	for _, b := range balances {
		sq.Add(sq, t.Mul(b, b))
	}
	h.HHI = ratio(sq, new(big.Int).Mul(denom, denom), 1)

	h.Gini = gini(balances)

	// Nakamoto: least k with 2·Σ_{i<k} b_i > S.
	cum := new(big.Int)
	for i, b := range balances {
		cum.Add(cum, b)
		if new(big.Int).Lsh(cum, 1).Cmp(denom) > 0 {
			k := i + 1
			h.Nakamoto = &k
			break
		}
	}
	return h
}

// gini computes the Gini coefficient of balances (sorted largest first) exactly:
// with x_1 ≤ … ≤ x_n ascending, G = (2·Σ i·x_i − (n+1)·Σ x_i) / (n·Σ x_i).
// It is nil when there are no positive balances.
func gini(desc []*big.Int) *float64 {
	n := len(desc)
	sum := new(big.Int)
	weighted := new(big.Int)
	var t big.Int
	for j, b := range desc {
		// Ascending rank of desc[j] is n−j.
		weighted.Add(weighted, t.Mul(big.NewInt(int64(n-j)), b))
		sum.Add(sum, b)
	}
	if n == 0 || sum.Sign() == 0 {
		return nil
	}
	num := new(big.Int).Lsh(weighted, 1)
	num.Sub(num, new(big.Int).Mul(big.NewInt(int64(n+1)), sum))
	den := new(big.Int).Mul(big.NewInt(int64(n)), sum)
	return ratio(num, den, 1)
}

// sumTop sums the first n balances.
func sumTop(desc []*big.Int, n int) *big.Int {
	s := new(big.Int)
	for _, b := range desc[:min(n, len(desc))] {
		s.Add(s, b)
	}
	return s
}

// pct returns 100·num/den rounded to 4 decimals.
func pct(num, den *big.Int) *float64 { return ratio(num, den, 100) }

// ratio returns scale·num/den rounded half away from zero to 4 decimals, computed exactly.
// den must be positive.
func ratio(num, den *big.Int, scale int64) *float64 {
	n := new(big.Int).Mul(num, big.NewInt(scale*10000))
	neg := n.Sign() < 0
	n.Abs(n)
	q, r := new(big.Int).QuoRem(n, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	f, _ := new(big.Rat).SetFrac(q, big.NewInt(10000)).Float64()
	return &f
}
