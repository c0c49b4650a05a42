package cardano

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

func FuzzDecodeTx(f *testing.F) {
	for _, fx := range loadTxFixtures(f) {
		raw := mustHex(f, fx.CBORHex)
		f.Add(raw)
		top := splitTop(f, raw)
		f.Add(marshal(f, []cbor.RawMessage{top[0], top[1], {0xf6}}))
		f.Add(marshal(f, []cbor.RawMessage{top[0], top[1], {0xf4}, top[len(top)-1]}))
	}
	f.Add(buildTx(f, baseBody(), nil))
	f.Add(buildTx(f, baseBody(), map[uint64]any{674: map[string]any{"msg": []any{"a", "b"}}}))
	f.Add(buildTx(f, baseBody(), cbor.Tag{Number: 259, Content: map[uint64]any{0: map[uint64]any{1: []any{1, "x", []byte{1}}}}}))
	f.Add([]byte{0x84, 0xbf, 0x00, 0x80, 0x01, 0x80, 0x02, 0x00, 0xff, 0xa0, 0xf5, 0xf6})
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := DecodeTx(data)
		if err != nil {
			if tx != nil {
				t.Fatal("transaction returned with an error")
			}
			return
		}
		top := splitTop(t, data)
		if tx.ID != blake2b.Sum256(top[0]) || len(tx.IDHex()) != 64 {
			t.Fatal("id is not the hash of the body bytes")
		}
		for _, o := range append(tx.Outputs, derefOutputs(tx.CollateralReturn)...) {
			again, err := AddressFromBytes(o.Address.Raw)
			if err != nil || !again.Equal(o.Address) {
				t.Fatalf("output address does not re-parse: %v", err)
			}
			if o.Address.Bech32() == "" {
				t.Fatal("output address without text form")
			}
		}
		for _, o := range tx.Outputs {
			if tx.IsValid && tx.PaidTo(o.Address, "lovelace") < o.Lovelace {
				t.Fatal("PaidTo below a single output")
			}
		}
	})
}

func derefOutputs(o *Output) []Output {
	if o == nil {
		return nil
	}
	return []Output{*o}
}

func FuzzDecodeBech32(f *testing.F) {
	var af addressFixture
	loadJSONFixture(f, "addresses.json", &af)
	for _, v := range af.Vectors {
		f.Add(v.Bech32)
	}
	for _, s := range []string{"A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "?1ezyfcl",
		"asset1rjklcrnsdzqp65wjgrg55sy9723kw09mlgvlc3", "x1b4n0q5v", "li1dgmt3", "1qzzfhee", "addr1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := DecodeBech32(s)
		if err != nil {
			return
		}
		again, err := EncodeBech32(hrp, data)
		if err != nil {
			t.Fatalf("re-encode of a decoded string failed: %v", err)
		}
		if again != strings.ToLower(s) {
			t.Fatalf("round trip %q → %q", s, again)
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	var af addressFixture
	loadJSONFixture(f, "addresses.json", &af)
	for _, v := range af.Vectors {
		f.Add(v.Bech32)
		f.Add(v.Hex)
	}
	for _, ex := range af.Examples {
		f.Add(ex.Text)
		f.Add(ex.Hex)
	}
	f.Add("41" + strings.Repeat("00", 28) + "ffffffffffffffffff7f0101")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if len(a.Raw) == 0 {
			t.Fatal("address without bytes")
		}
		_, _ = a.StakeKey()
		_ = a.IsScriptPayment()
		_ = a.NetworkName()
		fromHex, err := ParseAddress(hex.EncodeToString(a.Raw))
		if err != nil || !fromHex.Equal(a) {
			t.Fatalf("hex round trip: %v", err)
		}
		text := a.Bech32()
		fromText, err := ParseAddress(text)
		if err != nil || !fromText.Equal(a) || fromText.Bech32() != text {
			t.Fatalf("text round trip %q: %v", text, err)
		}
		if !bytes.Equal(fromText.Raw, a.Raw) || fromText.Type != a.Type || fromText.Network != a.Network {
			t.Fatal("round trip changed the address")
		}
	})
}

func FuzzParseNativeScript(f *testing.F) {
	for _, s := range []string{
		all(sig(keyA), before(90915881)),
		sig(keyA),
		all(sig(keyA), after(100)),
		anyOf(sig(keyA), before(5)),
		all(after(10), before(5)),
		all(),
		anyOf(),
		atLeastOf(2, after(10), before(5), sig(keyA)),
		anyOf(all(sig(keyA), before(100)), all(sig(keyB), after(200))),
		`{"json":` + atLeastOf(2, sig(keyA), sig(keyB), sig(keyC)) + `}`,
		`{"json":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseNativeScript(data)
		if err != nil {
			return
		}
		// The JSON form round-trips.
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseNativeScript(out)
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip of %s: %+v, %v", out, back, err)
		}
		info := Lock(s)
		switch info.State {
		case LockClosed:
			if info.LockedSinceSlot == nil || info.LockedUntilSlot != nil || info.MintableAt(*info.LockedSinceSlot) {
				t.Fatalf("inconsistent closed state: %s", dumpLock(info))
			}
		case LockOpen:
			if info.LockedSinceSlot != nil || info.LockedUntilSlot != nil || !info.MintableAt(0) {
				t.Fatalf("inconsistent open state: %s", dumpLock(info))
			}
		case LockTimeLocked:
			if info.LockedUntilSlot == nil || info.LockedSinceSlot != nil || !info.MintableAt(*info.LockedUntilSlot) || info.MintableAt(*info.LockedUntilSlot-1) {
				t.Fatalf("inconsistent time_locked state: %s", dumpLock(info))
			}
		default:
			t.Fatalf("parsed script evaluates to %q", info.State)
		}
		// The interval algebra agrees with pointwise evaluation at every slot that matters.
		for _, slot := range interestingSlots(s, nil) {
			if info.MintableAt(slot) != holdsAt(s, slot) {
				t.Fatalf("slot %d: MintableAt %v, pointwise %v (%s)", slot, info.MintableAt(slot), holdsAt(s, slot), dumpLock(info))
			}
		}
	})
}

func interestingSlots(s Script, acc []uint64) []uint64 {
	if len(acc) == 0 {
		acc = append(acc, 0, 1, 1<<64-1)
	}
	if s.Type == ScriptBefore || s.Type == ScriptAfter {
		acc = append(acc, s.Slot, s.Slot-1, s.Slot+1)
	}
	for _, c := range s.Scripts {
		acc = interestingSlots(c, acc)
	}
	return acc
}
