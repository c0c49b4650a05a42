package cardano

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTxFixtures(t *testing.T) {
	for _, f := range loadTxFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			raw := mustHex(t, f.CBORHex)
			tx, err := DecodeTx(raw)
			if err != nil {
				t.Fatalf("DecodeTx: %v", err)
			}
			// Id: computed over the original body bytes, equal to the stated and computed ids.
			if tx.IDHex() != f.TxIDComputed {
				t.Errorf("id %s, want computed %s", tx.IDHex(), f.TxIDComputed)
			}
			if f.TxID != nil && tx.IDHex() != *f.TxID {
				t.Errorf("id %s, want stated %s", tx.IDHex(), *f.TxID)
			}
			if blake2b.Sum256(raw[f.BodyOffset[0]:f.BodyOffset[1]]) != tx.ID {
				t.Error("id is not the hash of the body slice recorded in body_offset")
			}
			wantValid := true
			if f.IsValid != nil {
				wantValid = *f.IsValid
			}
			if tx.IsValid != wantValid {
				t.Errorf("IsValid %v", tx.IsValid)
			}
			// Inputs, fee, ttl.
			if len(tx.Inputs) != len(f.Inputs) {
				t.Fatalf("%d inputs, want %d", len(tx.Inputs), len(f.Inputs))
			}
			for i, in := range f.Inputs {
				if tx.Inputs[i] != (Input{TxID: in.TxID, Index: in.Index}) {
					t.Errorf("input %d: %+v, want %+v", i, tx.Inputs[i], in)
				}
			}
			if tx.Fee != f.Fee {
				t.Errorf("fee %d, want %d", tx.Fee, f.Fee)
			}
			if (tx.TTL == nil) != (f.TTL == nil) || (tx.TTL != nil && *tx.TTL != *f.TTL) {
				t.Errorf("ttl %v, want %v", tx.TTL, f.TTL)
			}
			// Mint.
			var wantMint map[string]map[string]int64
			for _, m := range f.Mint {
				if wantMint == nil {
					wantMint = map[string]map[string]int64{}
				}
				if wantMint[m.PolicyID] == nil {
					wantMint[m.PolicyID] = map[string]int64{}
				}
				wantMint[m.PolicyID][m.AssetNameHex] = m.Quantity
			}
			if !reflect.DeepEqual(tx.Mint, wantMint) {
				t.Errorf("mint %v, want %v", tx.Mint, wantMint)
			}
			// Outputs.
			if len(tx.Outputs) != len(f.Outputs) {
				t.Fatalf("%d outputs, want %d", len(tx.Outputs), len(f.Outputs))
			}
			for i, fo := range f.Outputs {
				o := tx.Outputs[i]
				if o.Address.Hex() != fo.AddressHex || o.Address.Bech32() != fo.Address || o.Address.Type != fo.HeaderType {
					t.Errorf("output %d address %s (%s, type %d), want %s (%s, type %d)", i, o.Address.Bech32(), o.Address.Hex(), o.Address.Type, fo.Address, fo.AddressHex, fo.HeaderType)
				}
				if o.Lovelace != fo.Lovelace {
					t.Errorf("output %d lovelace %d, want %d", i, o.Lovelace, fo.Lovelace)
				}
				var wantAssets map[string]map[string]uint64
				for _, a := range fo.Assets {
					if wantAssets == nil {
						wantAssets = map[string]map[string]uint64{}
					}
					if wantAssets[a.PolicyID] == nil {
						wantAssets[a.PolicyID] = map[string]uint64{}
					}
					wantAssets[a.PolicyID][a.AssetNameHex] = uint64(a.Quantity)
					if q := o.Quantity(a.Unit); q != uint64(a.Quantity) {
						t.Errorf("output %d Quantity(%s) = %d, want %d", i, a.Unit, q, a.Quantity)
					}
				}
				if !reflect.DeepEqual(o.Assets, wantAssets) {
					t.Errorf("output %d assets %v, want %v", i, o.Assets, wantAssets)
				}
				if o.HasDatum != (fo.DatumOption != "") || o.HasScriptRef != (fo.ScriptRef != nil) {
					t.Errorf("output %d datum %v script ref %v, want %q %v", i, o.HasDatum, o.HasScriptRef, fo.DatumOption, fo.ScriptRef)
				}
			}
			// PaidTo sums the outputs per address and unit.
			for _, fo := range f.Outputs {
				addr, err := ParseAddress(fo.Address)
				if err != nil {
					t.Fatal(err)
				}
				var lovelace uint64
				units := map[string]uint64{}
				for _, other := range f.Outputs {
					if other.AddressHex == fo.AddressHex {
						lovelace += other.Lovelace
						for _, a := range other.Assets {
							units[a.Unit] += uint64(a.Quantity)
						}
					}
				}
				if got := tx.PaidTo(addr, "lovelace"); got != lovelace {
					t.Errorf("PaidTo(%s, lovelace) = %d, want %d", fo.Address, got, lovelace)
				}
				for unit, q := range units {
					if got := tx.PaidTo(addr, strings.ToUpper(unit)); got != q {
						t.Errorf("PaidTo(%s, %s) = %d, want %d", fo.Address, unit, got, q)
					}
				}
			}
			// Auxiliary data.
			if f.AuxiliaryData == nil {
				if tx.Metadata != nil || tx.Memo != nil {
					t.Errorf("metadata %v memo %v, want none", tx.Metadata, tx.Memo)
				}
			} else {
				var labels []uint64
				for l := range tx.Metadata {
					labels = append(labels, l)
				}
				slices.Sort(labels)
				if !reflect.DeepEqual(labels, f.AuxiliaryData.MetadataLabels) {
					t.Errorf("metadata labels %v, want %v", labels, f.AuxiliaryData.MetadataLabels)
				}
				if !reflect.DeepEqual(tx.Memo, f.AuxiliaryData.CIP20Msg) {
					t.Errorf("memo %q, want %q", tx.Memo, f.AuxiliaryData.CIP20Msg)
				}
			}
		})
	}
}

func TestDecodeTxFixtureDetails(t *testing.T) {
	byName := map[string]txFixture{}
	for _, f := range loadTxFixtures(t) {
		byName[f.Name] = f
	}
	decode := func(name string) (*Tx, []byte) {
		f, ok := byName[name]
		if !ok {
			t.Fatalf("fixture %s missing", name)
		}
		raw := mustHex(t, f.CBORHex)
		tx, err := DecodeTx(raw)
		if err != nil {
			t.Fatal(err)
		}
		return tx, raw
	}

	// babbage5: the CIP-20 message and the full 674 value.
	tx, _ := decode("babbage5_mainnet_cip20_674")
	if !reflect.DeepEqual(tx.Memo, []string{"Minswap: Withdraw liquidity"}) {
		t.Errorf("memo %q", tx.Memo)
	}
	want674 := MetadataMap{{Key: "extraData", Value: []any{}}, {Key: "msg", Value: []any{"Minswap: Withdraw liquidity"}}}
	got674, ok := tx.Metadata[CIP20Label].(MetadataMap)
	if !ok || !reflect.DeepEqual(sortedPairs(got674), sortedPairs(want674)) {
		t.Errorf("label 674 = %#v", tx.Metadata[CIP20Label])
	}
	if tx.Mint["d195ca7db29f0f13a00cac7fca70426ff60bad4e1e87d3757fae8484"]["323738333331333737"] != -1 {
		t.Error("burn of -1 not decoded")
	}
	if len(tx.Collateral) == 0 {
		t.Error("babbage5 has collateral inputs (key 13)")
	}

	// alonzo3: aux data in the [metadata, scripts] form with a CIP-25 (721) map.
	tx, _ = decode("alonzo3_mint_cip25_metadata")
	nft, ok := tx.Metadata[721].(MetadataMap)
	if !ok || len(nft) == 0 {
		t.Fatalf("label 721 = %#v", tx.Metadata[721])
	}
	if _, ok := nft.Get("91073759dc9eaff922791f6204d42749541e25d2c3e2d301925e8ffd"); !ok {
		t.Errorf("721 has no entry for the minting policy: %#v", nft)
	}

	// conway5: collateral, collateral return and reference inputs.
	tx, _ = decode("conway5_mainnet_tag258_plutus_v3")
	if len(tx.Collateral) == 0 || tx.CollateralReturn == nil || len(tx.ReferenceInputs) == 0 {
		t.Errorf("collateral %v return %v reference %v", tx.Collateral, tx.CollateralReturn, tx.ReferenceInputs)
	}

	// hydra-init: inline datums in map outputs.
	tx, _ = decode("hydra_init_conway_map_outputs_tag258")
	if !tx.Outputs[0].HasDatum || tx.Outputs[2].HasDatum {
		t.Error("datum flags of hydra-init outputs")
	}
}

func sortedPairs(m MetadataMap) map[string]any {
	out := map[string]any{}
	for _, p := range m {
		if k, ok := p.Key.(string); ok {
			out[k] = p.Value
		}
	}
	return out
}

// splitTop splits a fixture into its top-level raw elements.
func splitTop(t testing.TB, raw []byte) []cbor.RawMessage {
	t.Helper()
	var top []cbor.RawMessage
	if err := cbor.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	return top
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTxEnvelopes(t *testing.T) {
	var shelley1 txFixture
	var conway5 txFixture
	for _, f := range loadTxFixtures(t) {
		switch f.Name {
		case "shelley1_mainnet_simple":
			shelley1 = f
		case "conway5_mainnet_tag258_plutus_v3":
			conway5 = f
		}
	}
	top := splitTop(t, mustHex(t, shelley1.CBORHex))
	// The genuine Shelley wire form: [body, witnesses, metadata|null].
	three := marshal(t, []cbor.RawMessage{top[0], top[1], cbor.RawMessage{0xf6}})
	tx, err := DecodeTx(three)
	if err != nil || tx.IDHex() != shelley1.TxIDComputed || !tx.IsValid {
		t.Fatalf("3-element: %v %+v", err, tx)
	}
	// Phase-2 invalid: regular outputs are not created, PaidTo counts nothing.
	invalid := marshal(t, []cbor.RawMessage{top[0], top[1], cbor.RawMessage{0xf4}, cbor.RawMessage{0xf6}})
	tx, err = DecodeTx(invalid)
	if err != nil || tx.IsValid || tx.IDHex() != shelley1.TxIDComputed {
		t.Fatalf("is_valid false: %v", err)
	}
	addr, _ := ParseAddress(shelley1.Outputs[1].Address)
	if tx.PaidTo(addr, "lovelace") != 0 {
		t.Error("PaidTo counts outputs of a phase-2-invalid transaction")
	}
	// ...but does count the collateral return, which such a transaction does create.
	ctop := splitTop(t, mustHex(t, conway5.CBORHex))
	tx, err = DecodeTx(marshal(t, []cbor.RawMessage{ctop[0], ctop[1], cbor.RawMessage{0xf4}, ctop[3]}))
	if err != nil || tx.CollateralReturn == nil {
		t.Fatalf("conway5 invalid: %v", err)
	}
	if got := tx.PaidTo(tx.CollateralReturn.Address, "lovelace"); got != tx.CollateralReturn.Lovelace {
		t.Errorf("PaidTo of collateral return = %d, want %d", got, tx.CollateralReturn.Lovelace)
	}
	tx.IsValid = true
	if got := tx.PaidTo(tx.CollateralReturn.Address, "lovelace"); got != conway5.Outputs[0].Lovelace {
		t.Errorf("valid tx: PaidTo = %d, want only the regular output %d", got, conway5.Outputs[0].Lovelace)
	}
	for name, bad := range map[string][]cbor.RawMessage{
		"two elements":       {top[0], top[1]},
		"five elements":      {top[0], top[1], {0xf5}, {0xf6}, {0xf6}},
		"is_valid null":      {top[0], top[1], {0xf6}, {0xf6}},
		"is_valid int":       {top[0], top[1], {0x01}, {0xf6}},
		"body not a map":     {{0x80}, top[1], {0xf5}, {0xf6}},
		"witnesses not map":  {top[0], {0x80}, {0xf5}, {0xf6}},
		"aux is an int":      {top[0], top[1], {0xf5}, {0x01}},
		"aux wrong tag":      {top[0], top[1], {0xf5}, marshal(t, cbor.Tag{Number: 258, Content: map[uint64]any{}})},
		"aux array of three": {top[0], top[1], {0xf5}, marshal(t, []any{map[uint64]any{}, []any{}, 1})},
	} {
		if _, err := DecodeTx(marshal(t, bad)); !errors.Is(err, ErrTx) {
			t.Errorf("%s: got %v, want ErrTx", name, err)
		}
	}
}

// minimal transaction parts for constructed tests.
var (
	testTxID   = bytes.Repeat([]byte{0x11}, 32)
	testAddr   = append([]byte{0x61}, bytes.Repeat([]byte{0x22}, 28)...)
	testPolicy = bytes.Repeat([]byte{0x33}, 28)
)

func buildTx(t testing.TB, body map[uint64]any, aux any) []byte {
	t.Helper()
	if _, set := body[7]; aux != nil && !set {
		// The body commits to its auxiliary data, as every real transaction's does. Encoded once:
		// map order may differ between two encodings.
		raw := cbor.RawMessage(marshal(t, aux))
		sum := blake2b.Sum256(raw)
		body[7] = sum[:]
		aux = raw
	}
	return marshal(t, []any{body, map[uint64]any{}, true, aux})
}

func TestDecodeTxHoldsMetadataToItsHash(t *testing.T) {
	memo := func(text string) any {
		return cbor.Tag{Number: 259, Content: map[uint64]any{0: map[uint64]any{674: map[string]any{"msg": []any{text}}}}}
	}
	signed := baseBody()
	good := cbor.RawMessage(marshal(t, memo("inv_signed")))
	sum := blake2b.Sum256(good)
	signed[7] = sum[:]
	for name, raw := range map[string][]byte{
		"swapped memo":      buildTx(t, signed, memo("inv_other")),
		"memo without hash": marshal(t, []any{baseBody(), map[uint64]any{}, true, memo("inv_x")}),
		"hash without memo": marshal(t, []any{signed, map[uint64]any{}, true, nil}),
	} {
		if _, err := DecodeTx(raw); !errors.Is(err, ErrTx) || !strings.Contains(err.Error(), "key 7") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeTx(buildTx(t, signed, good)); err != nil {
		t.Fatalf("the signed memo: %v", err)
	}
}

func baseBody() map[uint64]any {
	return map[uint64]any{
		0: cbor.Tag{Number: 258, Content: []any{[]any{testTxID, 7}}},
		1: []any{
			[]any{testAddr, uint64(1_500_000)},
			map[uint64]any{0: testAddr, 1: []any{uint64(2_000_000), map[cbor.ByteString]map[cbor.ByteString]uint64{cbor.ByteString(testPolicy): {"": 5, "TOK": 7}}}, 2: []any{0, bytes.Repeat([]byte{1}, 32)}, 3: cbor.Tag{Number: 24, Content: []byte{0x82, 0x00, 0x40}}},
		},
		2:  uint64(170_000),
		8:  uint64(100),
		15: uint64(1),
	}
}

func TestDecodeTxConstructed(t *testing.T) {
	body := baseBody()
	body[9] = map[cbor.ByteString]map[cbor.ByteString]int64{cbor.ByteString(testPolicy): {"TOK": -3}}
	aux := cbor.Tag{Number: 259, Content: map[uint64]any{
		0: map[uint64]any{
			674: map[string]any{"msg": []any{strings.Repeat("x", 64), "second line"}},
			1:   []any{int64(-5), uint64(math.MaxUint64), []byte{1, 2}, map[any]any{uint64(1): "one"}},
			2:   cbor.Tag{Number: 3, Content: []byte{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
		},
		1: []any{},
	}}
	tx, err := DecodeTx(buildTx(t, body, aux))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tx.Inputs, []Input{{TxID: hex.EncodeToString(testTxID), Index: 7}}) {
		t.Errorf("inputs %+v", tx.Inputs)
	}
	if tx.ValidityStart == nil || *tx.ValidityStart != 100 || tx.TTL != nil || tx.NetworkID == nil || *tx.NetworkID != 1 {
		t.Errorf("validity start %v ttl %v network %v", tx.ValidityStart, tx.TTL, tx.NetworkID)
	}
	o := tx.Outputs[1]
	if !o.HasDatum || !o.HasScriptRef || tx.Outputs[0].HasDatum || tx.Outputs[0].HasScriptRef {
		t.Errorf("datum/script ref flags: %+v", tx.Outputs)
	}
	unit := hex.EncodeToString(testPolicy) + hex.EncodeToString([]byte("TOK"))
	addr, _ := AddressFromBytes(testAddr)
	if tx.PaidTo(addr, "lovelace") != 3_500_000 || tx.PaidTo(addr, unit) != 7 || tx.PaidTo(addr, hex.EncodeToString(testPolicy)) != 5 {
		t.Errorf("PaidTo: %d %d %d", tx.PaidTo(addr, "lovelace"), tx.PaidTo(addr, unit), tx.PaidTo(addr, hex.EncodeToString(testPolicy)))
	}
	if tx.PaidTo(addr, "lovelac") != 0 || tx.PaidTo(addr, "zz") != 0 || tx.PaidTo(Address{}, "lovelace") != 0 {
		t.Error("PaidTo of a bad unit or the zero address")
	}
	if tx.Mint[hex.EncodeToString(testPolicy)][hex.EncodeToString([]byte("TOK"))] != -3 {
		t.Errorf("mint %v", tx.Mint)
	}
	if !reflect.DeepEqual(tx.Memo, []string{strings.Repeat("x", 64), "second line"}) {
		t.Errorf("memo %q", tx.Memo)
	}
	l1, _ := tx.Metadata[1].([]any)
	if len(l1) != 4 || l1[0] != int64(-5) || l1[1] != uint64(math.MaxUint64) || !bytes.Equal(l1[2].([]byte), []byte{1, 2}) {
		t.Errorf("label 1 = %#v", tx.Metadata[1])
	}
	if m, ok := l1[3].(MetadataMap); !ok {
		t.Errorf("nested map %#v", l1[3])
	} else if v, ok := m.Get(1); !ok || v != "one" {
		t.Errorf("Get(1) = %v %v", v, ok)
	}
	want := new(big.Int).Lsh(big.NewInt(1), 64)
	want.Neg(want).Sub(want, big.NewInt(1)) // tag 3 of 2^64 is -1 - 2^64
	if b, ok := tx.Metadata[2].(*big.Int); !ok || b.Cmp(want) != 0 {
		t.Errorf("bignum metadata %v", tx.Metadata[2])
	}

	// Other aux-data forms: plain map (Shelley), [metadata, scripts] (Allegra/Mary), a bare msg
	// string, tag 259 without metadata, null metadata.
	for name, c := range map[string]struct {
		aux  any
		memo []string
	}{
		"shelley map":    {map[uint64]any{674: map[string]any{"msg": []any{"a", "b"}}}, []string{"a", "b"}},
		"allegra array":  {[]any{map[uint64]any{674: map[string]any{"msg": []any{"c"}}}, []any{}}, []string{"c"}},
		"msg string":     {map[uint64]any{674: map[string]any{"msg": "only"}}, []string{"only"}},
		"msg non-string": {map[uint64]any{674: map[string]any{"msg": []any{1, "ok"}}}, []string{"ok"}},
		"674 not a map":  {map[uint64]any{674: "msg"}, nil},
		"tag 259 empty":  {cbor.Tag{Number: 259, Content: map[uint64]any{}}, nil},
		"null metadata":  {[]any{nil, []any{}}, nil},
	} {
		tx, err := DecodeTx(buildTx(t, baseBody(), c.aux))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(tx.Memo, c.memo) {
			t.Errorf("%s: memo %q, want %q", name, tx.Memo, c.memo)
		}
	}
}

func TestDecodeTxIndefiniteLengths(t *testing.T) {
	// [ {_ 0: [_ [h'11…', 0]], 1: [_ [addr, 5]], 2: 1 }, {}, true, null ] with indefinite items.
	var b bytes.Buffer
	b.WriteByte(0x84)
	b.WriteByte(0xbf) // body: indefinite map
	b.Write([]byte{0x00, 0x9f, 0x82, 0x58, 0x20})
	b.Write(testTxID)
	b.Write([]byte{0x00, 0xff})
	b.Write([]byte{0x01, 0x9f, 0x82, 0x58, 0x1d})
	b.Write(testAddr)
	b.Write([]byte{0x05, 0xff})
	b.Write([]byte{0x02, 0x01})
	b.WriteByte(0xff)
	b.Write([]byte{0xa0, 0xf5, 0xf6})
	tx, err := DecodeTx(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.Inputs) != 1 || len(tx.Outputs) != 1 || tx.Outputs[0].Lovelace != 5 || tx.Fee != 1 {
		t.Errorf("%+v", tx)
	}
	body := b.Bytes()[1 : b.Len()-3]
	if tx.ID != blake2b.Sum256(body) {
		t.Error("id must hash the indefinite-length body bytes as sent")
	}
}

func TestDecodeTxMalformed(t *testing.T) {
	cases := map[string][]byte{
		"empty":           nil,
		"not array":       {0xa0},
		"null":            {0xf6},
		"too large":       append([]byte{0x84}, make([]byte, MaxTxBytes)...),
		"huge array":      {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge array 2^32": {0x9a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"huge bytes":      {0x84, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge map":        {0x84, 0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
		"deep nesting":    append(bytes.Repeat([]byte{0x81}, maxCBORNesting+10), 0x00),
		"reserved ai":     {0x84, 0x1c},
		"break outside":   {0x84, 0xff},
		"trailing bytes":  append(buildTx(t, baseBody(), nil), 0x00),
	}
	mutate := func(name string, f func(map[uint64]any)) {
		body := baseBody()
		f(body)
		cases[name] = buildTx(t, body, nil)
	}
	mutate("no inputs", func(b map[uint64]any) { delete(b, 0) })
	mutate("no outputs", func(b map[uint64]any) { delete(b, 1) })
	mutate("no fee", func(b map[uint64]any) { delete(b, 2) })
	mutate("negative fee", func(b map[uint64]any) { b[2] = -1 })
	mutate("text fee", func(b map[uint64]any) { b[2] = "1" })
	mutate("null fee", func(b map[uint64]any) { b[2] = nil })
	mutate("bignum fee", func(b map[uint64]any) { b[2] = new(big.Int).Lsh(big.NewInt(1), 70) })
	mutate("ttl text", func(b map[uint64]any) { b[3] = "x" })
	mutate("inputs map", func(b map[uint64]any) { b[0] = map[uint64]any{} })
	mutate("inputs wrong tag", func(b map[uint64]any) { b[0] = cbor.Tag{Number: 259, Content: []any{}} })
	mutate("input short id", func(b map[uint64]any) { b[0] = []any{[]any{testTxID[:31], 0}} })
	mutate("input index too big", func(b map[uint64]any) { b[0] = []any{[]any{testTxID, uint64(1) << 32}} })
	mutate("input one element", func(b map[uint64]any) { b[0] = []any{[]any{testTxID}} })
	mutate("outputs tag", func(b map[uint64]any) { b[1] = cbor.Tag{Number: 258, Content: []any{}} })
	mutate("output int", func(b map[uint64]any) { b[1] = []any{1} })
	mutate("output 4 elements", func(b map[uint64]any) { b[1] = []any{[]any{testAddr, 1, testTxID, 1}} })
	mutate("output bad datum hash", func(b map[uint64]any) { b[1] = []any{[]any{testAddr, 1, []byte{1}}} })
	mutate("output bad address", func(b map[uint64]any) { b[1] = []any{[]any{[]byte{0x61, 1}, 1}} })
	mutate("output address text", func(b map[uint64]any) { b[1] = []any{[]any{"addr1", 1}} })
	mutate("output negative coin", func(b map[uint64]any) { b[1] = []any{[]any{testAddr, -1}} })
	mutate("output value 3 elems", func(b map[uint64]any) { b[1] = []any{[]any{testAddr, []any{1, map[uint64]any{}, 1}}} })
	mutate("output multiasset array", func(b map[uint64]any) { b[1] = []any{[]any{testAddr, []any{1, []any{}}}} })
	mutate("output short policy", func(b map[uint64]any) {
		b[1] = []any{[]any{testAddr, []any{1, map[cbor.ByteString]map[cbor.ByteString]uint64{"abc": {"": 1}}}}}
	})
	mutate("output long asset name", func(b map[uint64]any) {
		b[1] = []any{[]any{testAddr, []any{1, map[cbor.ByteString]map[cbor.ByteString]uint64{cbor.ByteString(testPolicy): {cbor.ByteString(strings.Repeat("n", 33)): 1}}}}}
	})
	mutate("output text policy", func(b map[uint64]any) {
		b[1] = []any{[]any{testAddr, []any{1, map[string]map[string]uint64{string(testPolicy): {"": 1}}}}}
	})
	mutate("output negative asset", func(b map[uint64]any) {
		b[1] = []any{[]any{testAddr, []any{1, map[cbor.ByteString]map[cbor.ByteString]int64{cbor.ByteString(testPolicy): {"": -1}}}}}
	})
	mutate("output null quantity", func(b map[uint64]any) {
		b[1] = []any{[]any{testAddr, []any{1, map[cbor.ByteString]map[cbor.ByteString]any{cbor.ByteString(testPolicy): {"": nil}}}}}
	})
	mutate("map output no address", func(b map[uint64]any) { b[1] = []any{map[uint64]any{1: 1}} })
	mutate("map output no value", func(b map[uint64]any) { b[1] = []any{map[uint64]any{0: testAddr}} })
	mutate("map output bad datum", func(b map[uint64]any) { b[1] = []any{map[uint64]any{0: testAddr, 1: 1, 2: 5}} })
	mutate("mint array", func(b map[uint64]any) { b[9] = []any{} })
	mutate("mint too big", func(b map[uint64]any) {
		b[9] = map[cbor.ByteString]map[cbor.ByteString]uint64{cbor.ByteString(testPolicy): {"": math.MaxUint64}}
	})
	mutate("collateral text", func(b map[uint64]any) { b[13] = "x" })
	mutate("reference inputs bad", func(b map[uint64]any) { b[18] = []any{1} })
	mutate("collateral return bad", func(b map[uint64]any) { b[16] = []any{} })
	cases["body text key"] = marshal(t, []any{map[any]any{uint64(0): []any{}, uint64(1): []any{}, uint64(2): 0, "x": 1}, map[uint64]any{}, true, nil})
	for name, aux := range map[string]any{
		"metadata text label":  map[string]any{"674": "x"},
		"metadata float":       map[uint64]any{1: 1.5},
		"metadata bool":        map[uint64]any{1: true},
		"metadata null":        map[uint64]any{1: nil},
		"metadata other tag":   map[uint64]any{1: cbor.Tag{Number: 24, Content: []byte{}}},
		"metadata deep":        map[uint64]any{1: deepList(maxMetadataDepth + 2)},
		"tag 259 not map":      cbor.Tag{Number: 259, Content: []any{}},
		"tag 259 md not map":   cbor.Tag{Number: 259, Content: map[uint64]any{0: []any{}}},
		"array scripts no arr": []any{map[uint64]any{}, 1},
	} {
		cases[name] = buildTx(t, baseBody(), aux)
	}
	// Duplicate body key: [{0: [], 0: [], 1: [], 2: 0}, {}, true, null].
	cases["duplicate body key"] = []byte{0x84, 0xa4, 0x00, 0x80, 0x00, 0x80, 0x01, 0x80, 0x02, 0x00, 0xa0, 0xf5, 0xf6}
	if _, err := DecodeTx([]byte{0x84, 0xa3, 0x00, 0x80, 0x01, 0x80, 0x02, 0x00, 0xa0, 0xf5, 0xf6}); err != nil {
		t.Errorf("the same transaction without the duplicate key: %v", err)
	}

	for name, in := range cases {
		tx, err := DecodeTx(in)
		if err == nil || !errors.Is(err, ErrTx) {
			t.Errorf("%s: got %+v, %v; want ErrTx", name, tx, err)
		}
	}
}

func deepList(n int) any {
	var v any = int64(1)
	for i := 0; i < n; i++ {
		v = []any{v}
	}
	return v
}

func TestDecodeTxTruncationsAndNoise(t *testing.T) {
	for _, f := range loadTxFixtures(t) {
		raw := mustHex(t, f.CBORHex)
		for i := 0; i < len(raw); i++ {
			if _, err := DecodeTx(raw[:i]); !errors.Is(err, ErrTx) {
				t.Fatalf("%s truncated to %d bytes: %v", f.Name, i, err)
			}
		}
		// Single-byte corruptions must never panic (most fail, some still decode).
		rng := rand.New(rand.NewSource(int64(len(raw))))
		for i := 0; i < 2000; i++ {
			c := bytes.Clone(raw)
			c[rng.Intn(len(c))] ^= byte(1 + rng.Intn(255))
			if tx, err := DecodeTx(c); err == nil && tx == nil {
				t.Fatal("nil tx without error")
			}
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5000; i++ {
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		if i%2 == 0 && len(b) > 0 {
			b[0] = 0x84
		}
		if _, err := DecodeTx(b); err == nil {
			t.Logf("random input %x decoded", b)
		}
	}
}

// A CIP-20 message reads the same from CBOR metadata and from Blockfrost's JSON.
func TestCIP20Lines(t *testing.T) {
	for _, tc := range []struct {
		msg  any
		want []string
	}{
		{[]any{"pay inv_1", "second"}, []string{"pay inv_1", "second"}},
		{"a bare string", []string{"a bare string"}},
		{[]any{"kept", 7, map[string]any{}, "also"}, []string{"kept", "also"}},
		{42, nil},
		{nil, nil},
	} {
		if got := CIP20Lines(tc.msg); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CIP20Lines(%#v) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}
