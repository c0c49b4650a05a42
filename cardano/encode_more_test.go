package cardano

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// The CIP-19 vectors built from their credentials are byte-for-byte the CIP's.
func TestNewShelleyAddressCIP19(t *testing.T) {
	var f addressFixture
	loadJSONFixture(t, "addresses.json", &f)
	built := 0
	for _, v := range f.Vectors {
		pay, _ := hex.DecodeString(v.PaymentCred)
		stake, _ := hex.DecodeString(v.DelegCred)
		switch v.Type {
		case AddrBaseKeyKey, AddrBaseScriptKey, AddrBaseKeyScript, AddrBaseScriptScript:
		case AddrEnterpriseKey, AddrEnterpriseScript:
			stake = nil
		case AddrRewardKey, AddrRewardScript:
			pay = nil
			stake, _ = hex.DecodeString(v.StakeCred)
		default:
			if _, err := NewShelleyAddress(v.Type, v.NetworkTag, pay, stake); err == nil {
				t.Errorf("type %d built; pointer addresses are not", v.Type)
			}
			continue
		}
		a, err := NewShelleyAddress(v.Type, v.NetworkTag, pay, stake)
		if err != nil {
			t.Fatalf("type %d: %v", v.Type, err)
		}
		if a.Bech32() != v.Bech32 || a.Hex() != v.Hex {
			t.Errorf("type %d: %s (%s), want %s (%s)", v.Type, a.Bech32(), a.Hex(), v.Bech32, v.Hex)
		}
		built++
	}
	if built != 16 {
		t.Fatalf("built %d vectors, want 16", built)
	}
	cred := make([]byte, CredentialLength)
	for name, args := range map[string][3]any{
		"base without stake":      {AddrBaseKeyKey, cred, []byte(nil)},
		"enterprise with stake":   {AddrEnterpriseKey, cred, cred},
		"reward with payment":     {AddrRewardKey, cred, cred},
		"short credential":        {AddrEnterpriseKey, cred[:27], []byte(nil)},
		"network beyond a nibble": {AddrEnterpriseKey, cred, []byte(nil)},
	} {
		network := 1
		if name == "network beyond a nibble" {
			network = 16
		}
		if _, err := NewShelleyAddress(args[0].(int), network, args[1].([]byte), args[2].([]byte)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNativeScriptCBOR(t *testing.T) {
	kh := strings.Repeat("ab", CredentialLength)
	s := Script{Type: ScriptAll, Scripts: []Script{
		{Type: ScriptSig, KeyHash: kh},
		{Type: ScriptBefore, Slot: 90915881},
		{Type: ScriptAtLeast, Required: 1, Scripts: []Script{{Type: ScriptAfter, Slot: 5}}},
		{Type: ScriptAny, Scripts: []Script{}},
	}}
	c, err := s.CBOR()
	if err != nil {
		t.Fatal(err)
	}
	// [1, [[0, h'ab…'], [5, 90915881], [3, 1, [[4, 5]]], [2, []]]]
	want := "8201848200581c" + kh + "82051a056b4429830301818204058202" + "80"
	if hex.EncodeToString(c) != want {
		t.Fatalf("CBOR %x\nwant %s", c, want)
	}
	back, err := DecodeNativeScript(c)
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("decoded %+v %v", back, err)
	}
	for name, bad := range map[string]Script{
		"short key hash": {Type: ScriptSig, KeyHash: "00"},
		"unknown type":   {Type: "never"},
		"negative k":     {Type: ScriptAtLeast, Required: -1},
	} {
		if _, err := bad.CBOR(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for name, raw := range map[string]string{
		"not an array": "00", "unknown tag": "820600", "sig of 3 bytes": "820043010203",
		"atLeast without list": "83030100", "extra element": "8304050a",
	} {
		b, _ := hex.DecodeString(raw)
		if _, err := DecodeNativeScript(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestScriptHashIsTheLanguageTaggedBlake224(t *testing.T) {
	// A Plutus V2 script and a native script differ only by the language byte in front.
	script := []byte{0x4e, 0x4d, 0x01, 0x00, 0x00}
	if bytes.Equal(ScriptHash(LanguagePlutus2, script), ScriptHash(LanguageNative, script)) {
		t.Fatal("the language byte does not change the hash")
	}
	if len(ScriptHash(LanguagePlutus3, script)) != CredentialLength {
		t.Fatal("a script hash is 28 bytes")
	}
}

func TestEncodeData(t *testing.T) {
	for name, tc := range map[string]struct {
		v    any
		want string
	}{
		"constr 0":        {Constr{Index: 0, Fields: []any{int64(1), []byte("a")}}, "d8798201" + "4161"},
		"constr 7":        {Constr{Index: 7}, "d9050080"},
		"constr 200":      {Constr{Index: 200}, "d8668218c880"},
		"map":             {MetadataMap{{Key: []byte("k"), Value: int64(-2)}}, "a1416b21"},
		"bignum":          {new(big.Int).Lsh(big.NewInt(1), 64), "c249010000000000000000"},
		"negative bignum": {new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 65)), "c349" + "01ffffffffffffffff"},
		"chunked bytes":   {bytes.Repeat([]byte{7}, 65), "5f5840" + strings.Repeat("07", 64) + "4107ff"},
	} {
		got, err := EncodeData(tc.v)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: %x %v, want %s", name, got, err, tc.want)
		}
	}
	if _, err := EncodeData("text"); err == nil {
		t.Error("Plutus data has no text strings")
	}
	if _, err := encodeMetadatum(Constr{}); err == nil {
		t.Error("metadata has no constructors")
	}
}

// A body with every optional field and general metadata decodes to what was encoded.
func TestEncodeSignedTxRoundTrip(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	addr := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkMainnet)
	ttl, start, net := uint64(1000), uint64(10), uint64(1)
	in := Input{TxID: strings.Repeat("11", 32), Index: 3}
	b := TxBody{
		Inputs:           []Input{in},
		Outputs:          []Output{{Address: addr, Lovelace: 5, Assets: map[string]map[string]uint64{strings.Repeat("cd", 28): {"": 1, "6869": 2}}}},
		Fee:              170_000,
		TTL:              &ttl,
		ValidityStart:    &start,
		NetworkID:        &net,
		Collateral:       []Input{{TxID: strings.Repeat("22", 32)}},
		CollateralReturn: &Output{Address: addr, Lovelace: 4},
		Memo:             []string{"hello"},
		Metadata: map[uint64]any{1: MetadataMap{{Key: "n", Value: int64(-7)}, {Key: []byte{1}, Value: []any{"x", []byte{2}}}},
			721: "nft"},
	}
	raw, id, err := EncodeSignedTx(b, key, false)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tx.ID != id || tx.IsValid || *tx.TTL != ttl || *tx.ValidityStart != start || *tx.NetworkID != net ||
		!reflect.DeepEqual(tx.Inputs, b.Inputs) || !reflect.DeepEqual(tx.Collateral, b.Collateral) ||
		tx.Outputs[0].Quantity(strings.Repeat("cd", 28)+"6869") != 2 || tx.CollateralReturn.Lovelace != 4 ||
		!reflect.DeepEqual(tx.Memo, []string{"hello"}) {
		t.Fatalf("decoded %+v", tx)
	}
	if !reflect.DeepEqual(tx.Metadata[1], b.Metadata[1]) || tx.Metadata[721] != "nft" {
		t.Fatalf("metadata %#v", tx.Metadata)
	}
	b.Metadata[CIP20Label] = "taken"
	if _, _, err := EncodeTxBody(b); err == nil {
		t.Fatal("label 674 in Metadata next to a memo was accepted")
	}
}

// The parts a chain indexer reports: certificates with their coins, withdrawals, donation,
// datums, reference and witness scripts, redeemers.
func TestDecodeTxIndexerParts(t *testing.T) {
	kh := bytes.Repeat([]byte{0xab}, CredentialLength)
	native := Script{Type: ScriptSig, KeyHash: hex.EncodeToString(kh)}
	nc, _ := native.CBOR()
	reward, _ := NewShelleyAddress(AddrRewardKey, NetworkMainnet, nil, kh)
	addr, _ := NewShelleyAddress(AddrEnterpriseKey, NetworkMainnet, kh, nil)
	datum, _ := EncodeData(Constr{Fields: []any{int64(42)}})
	refScript, _ := encMode.Marshal([]any{2, []byte{1, 2, 3}})
	cred := []any{0, kh}
	out := map[uint64]any{0: addr.Raw, 1: 5, 2: []any{1, cbor.Tag{Number: 24, Content: datum}},
		3: cbor.Tag{Number: 24, Content: refScript}}
	body := map[uint64]any{
		0: []any{[]any{bytes.Repeat([]byte{1}, 32), 0}},
		1: []any{out},
		2: 0,
		4: cbor.Tag{Number: 258, Content: []any{[]any{0, cred}, []any{7, cred, 2_000_000},
			[]any{13, cred, bytes.Repeat([]byte{2}, 28), []any{2}, 2_000_000}}},
		5:  map[cbor.ByteString]uint64{cbor.ByteString(reward.Raw): 1000},
		22: 7,
	}
	wits := map[uint64]any{1: []any{cbor.RawMessage(nc)}, 6: []any{[]byte{9, 9, 9}}, 5: []any{[]any{0, 0, 0, []any{1, 1}}, []any{1, 0, 0, []any{1, 1}}}}
	raw, err := encMode.Marshal([]any{body, wits, true, nil})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := tx.Outputs[0]
	if !bytes.Equal(o.InlineDatum, datum) || len(o.DatumHash) != 32 || o.ScriptRef == nil ||
		o.ScriptRef.Language != LanguagePlutus2 || o.ScriptRef.Hash() != hex.EncodeToString(ScriptHash(2, []byte{1, 2, 3})) {
		t.Fatalf("output %+v", o)
	}
	wantCerts := []Certificate{{Kind: 0}, {Kind: 7, Coin: 2_000_000}, {Kind: 13, Coin: 2_000_000}}
	if !reflect.DeepEqual(tx.Certificates, wantCerts) {
		t.Fatalf("certificates %+v", tx.Certificates)
	}
	if len(tx.Withdrawals) != 1 || !tx.Withdrawals[0].Account.Equal(reward) || tx.Withdrawals[0].Lovelace != 1000 || tx.Donation != 7 {
		t.Fatalf("withdrawals %+v donation %d", tx.Withdrawals, tx.Donation)
	}
	nh, _ := native.Hash()
	if len(tx.Scripts) != 2 || tx.Scripts[0].Hash() != nh || tx.Scripts[0].Native == nil ||
		tx.Scripts[1].Language != LanguagePlutus2 || tx.Redeemers != 2 {
		t.Fatalf("scripts %+v redeemers %d", tx.Scripts, tx.Redeemers)
	}
}
