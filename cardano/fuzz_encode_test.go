package cardano

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Encode → decode round trips of the encoders the emulators and wallets build transactions
// with: whatever is encoded, DecodeTx / DecodeNativeScript / ParseAddress read back unchanged.

func FuzzEncodeTxRoundTrip(f *testing.F) {
	f.Add(uint64(170_000), uint32(0), uint64(2_000_000), []byte("SNEK"), uint64(5), "pay inv_1", uint64(721), "x", int64(-3), uint64(0), true)
	f.Add(uint64(0), uint32(9), uint64(1), []byte{}, uint64(0), strings.Repeat("é", 40), uint64(0), "", int64(1)<<62, uint64(1)<<63, false)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	addr := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkTestnet)
	policy := strings.Repeat("ab", PolicyIDLength)
	f.Fuzz(func(t *testing.T, fee uint64, index uint32, lovelace uint64, name []byte, qty uint64, memo string,
		label uint64, text string, n int64, ttl uint64, valid bool) {
		if len(name) > MaxAssetNameLength || !utf8.ValidString(text) || !utf8.ValidString(memo) || label == CIP20Label {
			return
		}
		b := TxBody{
			Inputs:        []Input{{TxID: strings.Repeat("0f", 32), Index: index}},
			Outputs:       []Output{{Address: addr, Lovelace: lovelace}},
			Fee:           fee,
			TTL:           &ttl,
			ValidityStart: &ttl,
			Memo:          MemoLines(memo),
			Metadata:      map[uint64]any{label: []any{text, n, MetadataMap{{Key: n, Value: []byte(text)}}}},
		}
		if qty > 0 {
			b.Outputs[0].Assets = map[string]map[string]uint64{policy: {hex.EncodeToString(name): qty}}
		}
		raw, id, err := EncodeSignedTx(b, key, valid)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		tx, err := DecodeTx(raw)
		if err != nil {
			t.Fatalf("decode what was encoded: %v", err)
		}
		if tx.ID != id || tx.Fee != fee || *tx.TTL != ttl || *tx.ValidityStart != ttl || tx.IsValid != valid ||
			!reflect.DeepEqual(tx.Inputs, b.Inputs) || !tx.Outputs[0].Address.Equal(addr) || tx.Outputs[0].Lovelace != lovelace ||
			tx.Outputs[0].Quantity(policy+hex.EncodeToString(name)) != qty {
			t.Fatalf("decoded %+v from %+v", tx, b)
		}
		if strings.Join(tx.Memo, "") != memo {
			t.Fatalf("memo %q, want %q", tx.Memo, memo)
		}
		if !sameMetadatum(tx.Metadata[label], b.Metadata[label]) {
			t.Fatalf("metadata %#v, want %#v", tx.Metadata[label], b.Metadata[label])
		}
	})
}

// FuzzMetadatumRoundTrip decodes arbitrary CBOR as a metadatum, encodes it and decodes it again.
func FuzzMetadatumRoundTrip(f *testing.F) {
	for _, v := range []any{int64(-1), uint64(1) << 63, []byte{1}, "t", []any{int64(1), "a"},
		MetadataMap{{Key: []any{int64(1)}, Value: MetadataMap{}}}, new(big.Int).Lsh(big.NewInt(-1), 70)} {
		b, err := encodeMetadatum(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x9f, 0x01, 0xff}) // indefinite array: re-encoded definite
	f.Fuzz(func(t *testing.T, data []byte) {
		if decMode.Wellformed(data) != nil {
			return
		}
		v, err := decodeMetadatum(data, 0)
		if err != nil {
			return
		}
		enc, err := encodeMetadatum(v)
		if err != nil {
			t.Fatalf("a decoded metadatum does not encode: %v (%#v)", err, v)
		}
		back, err := decodeMetadatum(enc, 0)
		if err != nil || !sameMetadatum(back, v) {
			t.Fatalf("round trip %#v → %x → %#v (%v)", v, enc, back, err)
		}
	})
}

// sameMetadatum compares metadata values, integers by value whatever their Go type.
func sameMetadatum(a, b any) bool {
	if ai, ok := asBigInt(a); ok {
		bi, ok := asBigInt(b)
		return ok && ai.Cmp(bi) == 0
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameMetadatum(x[i], y[i]) {
				return false
			}
		}
		return true
	case MetadataMap:
		y, ok := b.(MetadataMap)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameMetadatum(x[i].Key, y[i].Key) || !sameMetadatum(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// FuzzNativeScriptCBORRoundTrip: a native script read from CBOR encodes to CBOR that reads back
// the same, and its JSON form parses back the same.
func FuzzNativeScriptCBORRoundTrip(f *testing.F) {
	kh := strings.Repeat("ab", CredentialLength)
	for _, s := range []Script{{Type: ScriptSig, KeyHash: kh}, {Type: ScriptAll, Scripts: []Script{
		{Type: ScriptBefore, Slot: 9}, {Type: ScriptAtLeast, Required: 1, Scripts: []Script{{Type: ScriptAfter, Slot: 1 << 40}}}}}} {
		c, err := s.CBOR()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeNativeScript(data)
		if err != nil {
			return
		}
		c, err := s.CBOR()
		if err != nil {
			t.Fatalf("a decoded script does not encode: %v", err)
		}
		back, err := DecodeNativeScript(c)
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("CBOR round trip: %+v → %+v (%v)", s, back, err)
		}
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := ParseNativeScript(js)
		if err != nil {
			t.Fatalf("JSON form %s does not parse: %v", js, err)
		}
		if h1, _ := s.Hash(); func() string { h2, _ := fromJSON.Hash(); return h2 }() != h1 {
			t.Fatalf("JSON round trip changes the hash: %s", js)
		}
	})
}

// FuzzShelleyAddressRoundTrip: a built address parses back from its text with the same parts.
func FuzzShelleyAddressRoundTrip(f *testing.F) {
	f.Add(AddrBaseKeyKey, NetworkMainnet, bytes.Repeat([]byte{1}, 28), bytes.Repeat([]byte{2}, 28))
	f.Add(AddrEnterpriseScript, NetworkTestnet, bytes.Repeat([]byte{3}, 28), []byte(nil))
	f.Add(AddrRewardScript, 5, []byte(nil), bytes.Repeat([]byte{4}, 28))
	f.Fuzz(func(t *testing.T, typ, network int, payment, stake []byte) {
		a, err := NewShelleyAddress(typ, network, payment, stake)
		if err != nil {
			return
		}
		back, err := ParseAddress(a.Bech32())
		if err != nil || !back.Equal(a) || back.Type != typ || back.Network != network {
			t.Fatalf("%s parses to %+v (%v)", a.Bech32(), back, err)
		}
		if len(payment) > 0 && !bytes.Equal(back.Payment.Hash, payment) {
			t.Fatal("payment credential changed")
		}
		if len(stake) > 0 && (back.Stake == nil || !bytes.Equal(back.Stake.Hash, stake)) {
			t.Fatal("stake credential changed")
		}
	})
}

// FuzzBase58RoundTrip: base58Decode reads back what base58Encode wrote, leading zeros included.
func FuzzBase58RoundTrip(f *testing.F) {
	f.Add([]byte{0, 0, 1})
	f.Add([]byte("hello world"))
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || len(b) > maxBase58Length/2 {
			return
		}
		enc := base58Encode(b)
		back, err := base58Decode(enc)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%x encodes to %q, which decodes to %x (%v)", b, enc, back, err)
		}
	})
}
