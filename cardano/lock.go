package cardano

import (
	"encoding/hex"
	"slices"
	"sort"
	"strings"
)

// Lock states reported by Lock.
const (
	LockClosed     = "closed"
	LockOpen       = "open"
	LockTimeLocked = "time_locked"
	LockUnknown    = "unknown"
)

// SlotRange is a half-open range of slots [From, To); To nil means "and every later slot".
type SlotRange struct {
	From uint64  `json:"from"`
	To   *uint64 `json:"to,omitempty"`
}

// LockInfo describes when a native minting policy can be satisfied.
//
// The analysis is exact. A transaction with validity interval [lower, upper) satisfies
// "after s" iff s ≤ lower and "before s" iff upper ≤ s; it can be included at a slot t only if
// lower ≤ t < upper. Because narrowing the interval never falsifies a native script, a script
// can be satisfied by a transaction included at slot t iff it holds for the interval [t, t+1),
// i.e. pointwise "after s" ⇔ t ≥ s and "before s" ⇔ t < s, "sig" always (given the key),
// "all" = intersection, "any" = union, "atLeast k" = the slots covered by at least k children.
// Windows is that set of slots as disjoint, sorted, non-adjacent ranges. From it:
//
//   - closed: the set is bounded — no transaction at or after LockedSinceSlot can ever satisfy
//     the script (LockedSinceSlot is the end of the last window, 0 if there is none at all);
//   - open: every slot from 0 on can satisfy it (the policy is mintable forever);
//   - time_locked: the set is unbounded but not everything: LockedUntilSlot is the least slot X
//     such that every slot ≥ X can satisfy the script; minting is open from X on for ever
//     (earlier, possibly bounded windows are in Windows). Whether a time_locked policy is
//     mintable today depends on the current slot: compare it with LockedUntilSlot, or call
//     MintableAt;
//   - unknown: the script is malformed or exceeds MaxScriptDepth / MaxScriptNodes.
//
// Signers lists every key hash the script mentions; RequiredSigners those whose signature is
// needed by every satisfying transaction at every slot (empty when the script can never be
// satisfied). Both are sorted lower-case hex.
type LockInfo struct {
	State           string      `json:"state"`
	LockedSinceSlot *uint64     `json:"locked_since_slot,omitempty"`
	LockedUntilSlot *uint64     `json:"locked_until_slot,omitempty"`
	RequiredSigners []string    `json:"required_signers"`
	Signers         []string    `json:"signers"`
	Windows         []SlotRange `json:"windows"`
}

// MintableAt reports whether a transaction included at slot can satisfy the script (given the
// required signatures). It is false for an unknown state.
func (l LockInfo) MintableAt(slot uint64) bool {
	if l.State == LockUnknown {
		return false
	}
	for _, w := range l.Windows {
		if slot >= w.From && (w.To == nil || slot < *w.To) {
			return true
		}
	}
	return false
}

// interval is [lo, hi), or [lo, ∞) when inf.
type interval struct {
	lo, hi uint64
	inf    bool
}

// slotSet is a sorted list of disjoint, non-adjacent, non-empty intervals.
type slotSet []interval

// fullSet returns a fresh set holding every slot.
func fullSet() slotSet { return slotSet{{lo: 0, inf: true}} }

// Lock evaluates a native script's satisfiable slots and classifies the policy. See LockInfo.
func Lock(s Script) LockInfo {
	nodes := 0
	keys := map[string]struct{}{}
	if !validScript(s, 0, &nodes, keys) {
		return LockInfo{State: LockUnknown, RequiredSigners: []string{}, Signers: []string{}, Windows: []SlotRange{}}
	}
	set := evalScript(s, "")
	info := LockInfo{RequiredSigners: []string{}, Signers: make([]string, 0, len(keys)), Windows: make([]SlotRange, 0, len(set))}
	for k := range keys {
		info.Signers = append(info.Signers, k)
	}
	sort.Strings(info.Signers)
	for _, iv := range set {
		r := SlotRange{From: iv.lo}
		if !iv.inf {
			hi := iv.hi
			r.To = &hi
		}
		info.Windows = append(info.Windows, r)
	}
	switch {
	case len(set) == 0:
		zero := uint64(0)
		info.State, info.LockedSinceSlot = LockClosed, &zero
	case !set[len(set)-1].inf:
		since := set[len(set)-1].hi
		info.State, info.LockedSinceSlot = LockClosed, &since
	case set[len(set)-1].lo == 0:
		info.State = LockOpen
	default:
		until := set[len(set)-1].lo
		info.State, info.LockedUntilSlot = LockTimeLocked, &until
	}
	if len(set) > 0 {
		for _, k := range info.Signers {
			if len(evalScript(s, k)) == 0 {
				info.RequiredSigners = append(info.RequiredSigners, k)
			}
		}
	}
	return info
}

// validScript checks structure and limits and collects key hashes.
func validScript(s Script, depth int, nodes *int, keys map[string]struct{}) bool {
	*nodes++
	if depth > MaxScriptDepth || *nodes > MaxScriptNodes {
		return false
	}
	switch s.Type {
	case ScriptSig:
		kh := strings.ToLower(s.KeyHash)
		if b, err := hex.DecodeString(kh); err != nil || len(b) != CredentialLength {
			return false
		}
		keys[kh] = struct{}{}
		return true
	case ScriptBefore, ScriptAfter:
		return true
	case ScriptAll, ScriptAny, ScriptAtLeast:
		if s.Type == ScriptAtLeast && s.Required < 0 {
			return false
		}
		for _, c := range s.Scripts {
			if !validScript(c, depth+1, nodes, keys) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// evalScript returns the slots at which s can be satisfied; a sig leaf for withoutKey (if not
// empty) is treated as unsatisfiable.
func evalScript(s Script, withoutKey string) slotSet {
	switch s.Type {
	case ScriptSig:
		if withoutKey != "" && strings.ToLower(s.KeyHash) == withoutKey {
			return nil
		}
		return fullSet()
	case ScriptAfter:
		return slotSet{{lo: s.Slot, inf: true}}
	case ScriptBefore:
		if s.Slot == 0 {
			return nil
		}
		return slotSet{{lo: 0, hi: s.Slot}}
	case ScriptAll, ScriptAny, ScriptAtLeast:
		k := s.Required
		switch s.Type {
		case ScriptAll:
			k = len(s.Scripts)
		case ScriptAny:
			k = 1
		}
		children := make([]slotSet, len(s.Scripts))
		for i, c := range s.Scripts {
			children[i] = evalScript(c, withoutKey)
		}
		return atLeast(children, k)
	default:
		return nil
	}
}

// atLeast returns the slots covered by at least k of the sets (k ≤ 0: every slot). It sweeps
// the interval endpoints, so it is exact and linear-logarithmic in the number of intervals,
// with no enumeration of k-subsets.
func atLeast(sets []slotSet, k int) slotSet {
	if k <= 0 {
		return fullSet()
	}
	if k > len(sets) {
		return nil
	}
	type event struct {
		at    uint64
		delta int
	}
	var events []event
	for _, set := range sets {
		for _, iv := range set {
			events = append(events, event{iv.lo, +1})
			if !iv.inf {
				events = append(events, event{iv.hi, -1})
			}
		}
	}
	slices.SortFunc(events, func(a, b event) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	var out slotSet
	count := 0
	inside := false
	var start uint64
	for i := 0; i < len(events); {
		at := events[i].at
		for i < len(events) && events[i].at == at {
			count += events[i].delta
			i++
		}
		switch {
		case !inside && count >= k:
			inside, start = true, at
		case inside && count < k:
			inside = false
			if at > start {
				out = append(out, interval{lo: start, hi: at})
			}
		}
	}
	if inside {
		out = append(out, interval{lo: start, inf: true})
	}
	return out
}
