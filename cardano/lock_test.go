package cardano

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func sig(k string) string       { return fmt.Sprintf(`{"type":"sig","keyHash":%q}`, k) }
func before(s uint64) string    { return fmt.Sprintf(`{"type":"before","slot":%d}`, s) }
func after(s uint64) string     { return fmt.Sprintf(`{"type":"after","slot":%d}`, s) }
func all(xs ...string) string   { return `{"type":"all","scripts":[` + strings.Join(xs, ",") + `]}` }
func anyOf(xs ...string) string { return `{"type":"any","scripts":[` + strings.Join(xs, ",") + `]}` }
func atLeastOf(k int, xs ...string) string {
	return fmt.Sprintf(`{"type":"atLeast","required":%d,"scripts":[`, k) + strings.Join(xs, ",") + `]}`
}

func u64(v uint64) *uint64 { return &v }

func rng(from uint64, to ...uint64) SlotRange {
	r := SlotRange{From: from}
	if len(to) > 0 {
		r.To = u64(to[0])
	}
	return r
}

func TestLock(t *testing.T) {
	for _, c := range []struct {
		name     string
		json     string
		state    string
		since    *uint64
		until    *uint64
		required []string
		signers  []string
		windows  []SlotRange
	}{
		{
			// SNEK's policy shape: one key, minting closed since slot 90915881.
			name: "snek all[sig, before]", json: all(sig(keyA), before(90915881)),
			state: LockClosed, since: u64(90915881), required: []string{keyA}, signers: []string{keyA},
			windows: []SlotRange{rng(0, 90915881)},
		},
		{
			name: "bare sig", json: sig(keyA),
			state: LockOpen, required: []string{keyA}, signers: []string{keyA}, windows: []SlotRange{rng(0)},
		},
		{
			name: "time locked all[sig, after]", json: all(sig(keyA), after(100)),
			state: LockTimeLocked, until: u64(100), required: []string{keyA}, signers: []string{keyA},
			windows: []SlotRange{rng(100)},
		},
		{
			name: "any[sig, before] stays open", json: anyOf(sig(keyA), before(5)),
			state: LockOpen, required: []string{}, signers: []string{keyA}, windows: []SlotRange{rng(0)},
		},
		{
			name: "contradiction all[after 10, before 5]", json: all(after(10), before(5)),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{}, windows: []SlotRange{},
		},
		{
			name: "contradiction with a key", json: all(sig(keyA), after(10), before(10)),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{keyA}, windows: []SlotRange{},
		},
		{
			name: "window all[after 10, before 20]", json: all(after(10), before(20)),
			state: LockClosed, since: u64(20), required: []string{}, signers: []string{}, windows: []SlotRange{rng(10, 20)},
		},
		{
			name: "empty all is always satisfiable", json: all(),
			state: LockOpen, required: []string{}, signers: []string{}, windows: []SlotRange{rng(0)},
		},
		{
			name: "empty any is never satisfiable", json: anyOf(),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{}, windows: []SlotRange{},
		},
		{
			name: "atLeast 0 of nothing", json: atLeastOf(0),
			state: LockOpen, required: []string{}, signers: []string{}, windows: []SlotRange{rng(0)},
		},
		{
			name: "atLeast 1 of nothing", json: atLeastOf(1),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{}, windows: []SlotRange{},
		},
		{
			name: "atLeast k > n", json: atLeastOf(3, sig(keyA), sig(keyB)),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{keyA, keyB}, windows: []SlotRange{},
		},
		{
			name: "before 0 is never", json: before(0),
			state: LockClosed, since: u64(0), required: []string{}, signers: []string{}, windows: []SlotRange{},
		},
		{
			name: "after 0 is always", json: after(0),
			state: LockOpen, required: []string{}, signers: []string{}, windows: []SlotRange{rng(0)},
		},
		{
			name: "before max slot is still bounded", json: before(1<<64 - 1),
			state: LockClosed, since: u64(1<<64 - 1), required: []string{}, signers: []string{}, windows: []SlotRange{rng(0, 1<<64-1)},
		},
		{
			// t<10: before+sig = 2; t≥20: after+sig = 2; 10≤t<20: all three.
			name: "atLeast 2 of [after 10, before 20, sig]", json: atLeastOf(2, after(10), before(20), sig(keyA)),
			state: LockOpen, required: []string{}, signers: []string{keyA}, windows: []SlotRange{rng(0)},
		},
		{
			name: "atLeast 3 of [after 10, before 20, sig]", json: atLeastOf(3, after(10), before(20), sig(keyA)),
			state: LockClosed, since: u64(20), required: []string{keyA}, signers: []string{keyA}, windows: []SlotRange{rng(10, 20)},
		},
		{
			// t<5: 2, 5≤t<10: 1, t≥10: 2 → a gap.
			name: "atLeast 2 with a gap", json: atLeastOf(2, after(10), before(5), sig(keyA)),
			state: LockTimeLocked, until: u64(10), required: []string{keyA}, signers: []string{keyA},
			windows: []SlotRange{rng(0, 5), rng(10)},
		},
		{
			name: "nested any of two time windows", json: anyOf(all(sig(keyA), before(100)), all(sig(keyB), after(200))),
			state: LockTimeLocked, until: u64(200), required: []string{}, signers: []string{keyA, keyB},
			windows: []SlotRange{rng(0, 100), rng(200)},
		},
		{
			name: "touching windows merge", json: anyOf(before(100), after(100)),
			state: LockOpen, required: []string{}, signers: []string{}, windows: []SlotRange{rng(0)},
		},
		{
			name: "mandatory and optional keys", json: all(sig(keyA), anyOf(sig(keyB), sig(keyC))),
			state: LockOpen, required: []string{keyA}, signers: []string{keyA, keyB, keyC}, windows: []SlotRange{rng(0)},
		},
		{
			name: "2-of-3 multisig", json: atLeastOf(2, sig(keyC), sig(keyA), sig(keyB)),
			state: LockOpen, required: []string{}, signers: []string{keyA, keyB, keyC}, windows: []SlotRange{rng(0)},
		},
		{
			name: "deep nesting with a closing before", json: all(anyOf(all(sig(keyA), atLeastOf(1, before(50), before(70)))), anyOf(after(30), sig(keyB))),
			state: LockClosed, since: u64(70), required: []string{keyA}, signers: []string{keyA, keyB}, windows: []SlotRange{rng(0, 70)},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseNativeScript([]byte(c.json))
			if err != nil {
				t.Fatalf("ParseNativeScript: %v", err)
			}
			got := Lock(s)
			want := LockInfo{State: c.state, LockedSinceSlot: c.since, LockedUntilSlot: c.until, RequiredSigners: c.required, Signers: c.signers, Windows: c.windows}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Lock:\n got %s\nwant %s", dumpLock(got), dumpLock(want))
			}
			// MintableAt agrees with a direct pointwise evaluation of the script.
			for _, slot := range []uint64{0, 1, 4, 5, 9, 10, 11, 19, 20, 29, 30, 49, 50, 69, 70, 99, 100, 199, 200, 90915880, 90915881, 1<<64 - 2, 1<<64 - 1} {
				if got.MintableAt(slot) != holdsAt(s, slot) {
					t.Errorf("MintableAt(%d) = %v, pointwise evaluation says %v", slot, got.MintableAt(slot), holdsAt(s, slot))
				}
			}
		})
	}
}

// holdsAt is the reference semantics: can a transaction with validity interval [slot, slot+1)
// (any signatures available) satisfy s? For slot = max uint64 the interval is unbounded above,
// so "before" cannot hold.
func holdsAt(s Script, slot uint64) bool {
	switch s.Type {
	case ScriptSig:
		return true
	case ScriptAfter:
		return s.Slot <= slot
	case ScriptBefore:
		return slot < s.Slot
	case ScriptAll, ScriptAny, ScriptAtLeast:
		n := 0
		for _, c := range s.Scripts {
			if holdsAt(c, slot) {
				n++
			}
		}
		switch s.Type {
		case ScriptAll:
			return n == len(s.Scripts)
		case ScriptAny:
			return n >= 1
		default:
			return n >= s.Required
		}
	}
	return false
}

func dumpLock(l LockInfo) string {
	p := func(v *uint64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	var ws []string
	for _, w := range l.Windows {
		ws = append(ws, fmt.Sprintf("[%d,%s)", w.From, p(w.To)))
	}
	return fmt.Sprintf("%s since=%s until=%s required=%v signers=%v windows=%v", l.State, p(l.LockedSinceSlot), p(l.LockedUntilSlot), l.RequiredSigners, l.Signers, ws)
}

func TestLockUnknown(t *testing.T) {
	deep := Script{Type: ScriptSig, KeyHash: keyA}
	for i := 0; i <= MaxScriptDepth+1; i++ {
		deep = Script{Type: ScriptAll, Scripts: []Script{deep}}
	}
	wide := Script{Type: ScriptAny}
	for i := 0; i <= MaxScriptNodes; i++ {
		wide.Scripts = append(wide.Scripts, Script{Type: ScriptAfter, Slot: uint64(i)})
	}
	for name, s := range map[string]Script{
		"zero":         {},
		"unknown type": {Type: "timelockStart"},
		"bad key":      {Type: ScriptSig, KeyHash: "xyz"},
		"negative k":   {Type: ScriptAtLeast, Required: -1},
		"bad child":    {Type: ScriptAll, Scripts: []Script{{Type: "nope"}}},
		"too deep":     deep,
		"too wide":     wide,
	} {
		if got := Lock(s); got.State != LockUnknown || got.MintableAt(0) {
			t.Errorf("%s: %s", name, dumpLock(got))
		}
	}
}

func TestLockLargeScriptIsFast(t *testing.T) {
	// MaxScriptNodes-sized policy with many distinct keys: RequiredSigners evaluates once per key.
	var parts []string
	for i := 0; i < MaxScriptNodes/2-2; i++ {
		parts = append(parts, sig(fmt.Sprintf("%056x", i)), before(uint64(1000+i)))
	}
	s, err := ParseNativeScript([]byte(atLeastOf(len(parts)/2, parts...)))
	if err != nil {
		t.Fatal(err)
	}
	got := Lock(s)
	if got.State != LockOpen || len(got.Signers) != MaxScriptNodes/2-2 {
		t.Errorf("got %s with %d signers", got.State, len(got.Signers))
	}
}

func TestParseNativeScript(t *testing.T) {
	s, err := ParseNativeScript([]byte(`{"json": {"type":"all","scripts":[{"type":"sig","keyHash":"` + strings.ToUpper(keyA) + `"},{"type":"before","slot":"90915881"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Script{Type: ScriptAll, Scripts: []Script{{Type: ScriptSig, KeyHash: keyA}, {Type: ScriptBefore, Slot: 90915881}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v", s)
	}
	if out, err := json.Marshal(s); err != nil || string(out) != all(sig(keyA), before(90915881)) {
		t.Errorf("MarshalJSON: %s %v", out, err)
	}
	for _, zero := range []string{before(0), after(0), atLeastOf(0), all(), anyOf()} {
		s, err := ParseNativeScript([]byte(zero))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := json.Marshal(s); err != nil || string(out) != zero {
			t.Errorf("MarshalJSON(%s) = %s, %v", zero, out, err)
		}
	}
	if _, err := json.Marshal(Script{Type: "nope"}); err == nil {
		t.Error("MarshalJSON of an unknown type")
	}
	s, err = ParseNativeScript([]byte(atLeastOf(2, sig(keyA), sig(keyB))))
	if err != nil || s.Type != ScriptAtLeast || s.Required != 2 || len(s.Scripts) != 2 {
		t.Errorf("atLeast: %+v %v", s, err)
	}
	deep := sig(keyA)
	for i := 0; i <= MaxScriptDepth; i++ {
		deep = all(deep)
	}
	for name, in := range map[string]string{
		"not json":         `{"type":`,
		"empty":            ``,
		"array":            `[]`,
		"number":           `1`,
		"no type":          `{"keyHash":"` + keyA + `"}`,
		"type not string":  `{"type":1}`,
		"unknown type":     `{"type":"timelock"}`,
		"sig no key":       `{"type":"sig"}`,
		"sig short key":    `{"type":"sig","keyHash":"abcd"}`,
		"sig non-hex key":  `{"type":"sig","keyHash":"` + strings.Repeat("zz", 28) + `"}`,
		"before no slot":   `{"type":"before"}`,
		"before neg slot":  `{"type":"before","slot":-1}`,
		"after float slot": `{"type":"after","slot":1.5}`,
		"after huge slot":  `{"type":"after","slot":18446744073709551616}`,
		"after null slot":  `{"type":"after","slot":null}`,
		"all no scripts":   `{"type":"all"}`,
		"all scripts null": `{"type":"all","scripts":null}`,
		"any scripts obj":  `{"type":"any","scripts":{}}`,
		"atLeast no k":     `{"type":"atLeast","scripts":[]}`,
		"atLeast neg k":    `{"type":"atLeast","required":-2,"scripts":[]}`,
		"child not object": `{"type":"any","scripts":[1]}`,
		"bad child":        `{"type":"any","scripts":[{"type":"sig"}]}`,
		"plutus (no json)": `{"json":null}`,
		"too deep":         deep,
		"too large":        `{"type":"all","scripts":[` + strings.Repeat(" ", MaxScriptJSONBytes) + `]}`,
		"trailing garbage": sig(keyA) + `x`,
	} {
		if _, err := ParseNativeScript([]byte(in)); !errors.Is(err, ErrScript) {
			t.Errorf("%s: got %v, want ErrScript", name, err)
		}
	}
	var many []string
	for i := 0; i <= MaxScriptNodes; i++ {
		many = append(many, after(1))
	}
	if _, err := ParseNativeScript([]byte(anyOf(many...))); !errors.Is(err, ErrScript) {
		t.Errorf("too many nodes: %v", err)
	}
	// k > n is legal (never satisfiable) and kept as written: the script's hash covers it.
	if s, err := ParseNativeScript([]byte(`{"type":"atLeast","required":99999999999,"scripts":[` + sig(keyA) + `]}`)); err != nil || s.Required != 99999999999 {
		t.Errorf("huge k: %+v %v", s, err)
	}
	if _, err := ParseNativeScript([]byte(`{"type":"atLeast","required":18446744073709551615,"scripts":[` + sig(keyA) + `]}`)); !errors.Is(err, ErrScript) {
		t.Errorf("a k beyond an int: %v", err)
	}
}
