package cardano

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// mainnetFees are mainnet's protocol parameters (Conway): 44 lovelace a byte + 155381, 4310 a
// UTxO byte.
var mainnetFees = FeeParams{MinFeeA: 44, MinFeeB: 155381, CoinsPerUTxOByte: 4310, MaxTxSize: 16384}

func testKey(label string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, label)
	return ed25519.NewKeyFromSeed(seed)
}

func txRef(n int) string { return fmt.Sprintf("%064x", n) }

const payPolicy = "1f2f3f4f5f6f7f8f9fafbfcfdfefff0f1f2f3f4f5f6f7f8f9fafbfcf"

func TestBuildPaymentRoundTrip(t *testing.T) {
	key := testKey("payer")
	wallet := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkMainnet)
	shop := EnterpriseAddress(testKey("shop").Public().(ed25519.PublicKey), NetworkMainnet)
	partner := EnterpriseAddress(testKey("partner").Public().(ed25519.PublicKey), NetworkMainnet)
	ttl := uint64(150_000_000)
	// A memo longer than one line, with a multi-byte character across the 64-byte boundary.
	memo := "T Backend " + strings.Repeat("x", 53) + "é" + " ref-123"
	spec := PaymentSpec{
		From: []UTxO{
			{Input: Input{TxID: txRef(1), Index: 0}, Lovelace: 3_000_000},
			{Input: Input{TxID: txRef(2), Index: 1}, Lovelace: 50_000_000},
		},
		To:     []Output{{Address: shop, Lovelace: 2_000_000}, {Address: partner, Lovelace: 1_000_000}},
		Change: wallet, Memo: memo, TTL: &ttl, Params: mainnetFees, Key: key,
	}
	b, err := BuildPayment(spec)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := DecodeTx(b.CBOR) // also checks the memo against the body's aux-data hash
	if err != nil {
		t.Fatalf("DecodeTx of our own transaction: %v", err)
	}
	if tx.ID != b.ID {
		t.Errorf("id %x, decoder says %x", b.ID, tx.ID)
	}
	if got := strings.Join(tx.Memo, ""); got != memo || len(tx.Memo) != 2 {
		t.Errorf("memo lines %q, want %q in 2 lines", tx.Memo, memo)
	}
	for _, l := range tx.Memo {
		if len(l) > 64 {
			t.Errorf("memo line of %d bytes", len(l))
		}
	}
	if tx.TTL == nil || *tx.TTL != ttl {
		t.Errorf("ttl %v", tx.TTL)
	}
	// The largest output alone pays: one input.
	if !reflect.DeepEqual(tx.Inputs, []Input{{TxID: txRef(2), Index: 1}}) {
		t.Errorf("inputs %+v", tx.Inputs)
	}
	if tx.PaidTo(shop, "lovelace") != 2_000_000 || tx.PaidTo(partner, "lovelace") != 1_000_000 {
		t.Errorf("payments %d, %d", tx.PaidTo(shop, "lovelace"), tx.PaidTo(partner, "lovelace"))
	}
	if min := mainnetFees.MinFee(len(b.CBOR)); tx.Fee < min || tx.Fee > min+44*10 {
		t.Errorf("fee %d for %d bytes, min fee %d", tx.Fee, len(b.CBOR), min)
	}
	if change := tx.PaidTo(wallet, "lovelace"); change != 50_000_000-3_000_000-tx.Fee {
		t.Errorf("change %d, want inputs − payments − fee = %d", change, 50_000_000-3_000_000-tx.Fee)
	}
	checkWitness(t, b.CBOR, tx.ID, key.Public().(ed25519.PublicKey))
}

// checkWitness decodes the witness set and verifies its one signature over the id.
func checkWitness(t *testing.T, raw []byte, id [32]byte, vkey ed25519.PublicKey) {
	t.Helper()
	var top []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	var wits map[uint64]cbor.Tag
	if err := decMode.Unmarshal(top[1], &wits); err != nil {
		t.Fatalf("witness set: %v", err)
	}
	set, ok := wits[0].Content.([]any)
	if wits[0].Number != tagSet || !ok || len(set) != 1 {
		t.Fatalf("vkey witnesses %+v", wits[0])
	}
	pair := set[0].([]any)
	if !reflect.DeepEqual(pair[0], []byte(vkey)) || !ed25519.Verify(vkey, id[:], pair[1].([]byte)) {
		t.Error("the witness is not the key's signature of the id")
	}
}

func TestBuildPaymentAssetsAndMinAda(t *testing.T) {
	key := testKey("payer")
	wallet := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkTestnet)
	shop := EnterpriseAddress(testKey("shop").Public().(ed25519.PublicKey), NetworkTestnet)
	const name = "534e454b"
	spec := PaymentSpec{
		From: []UTxO{
			{Input: Input{TxID: txRef(1)}, Lovelace: 100_000_000},
			{Input: Input{TxID: txRef(2)}, Lovelace: 2_000_000, Assets: map[string]map[string]uint64{payPolicy: {name: 1000, "": 5}}},
		},
		To:     []Output{{Address: shop, Assets: map[string]map[string]uint64{payPolicy: {name: 400}}}},
		Change: wallet, Params: mainnetFees, Key: key,
	}
	b, err := BuildPayment(spec)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := DecodeTx(b.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.Inputs) != 2 {
		t.Fatalf("the asset output alone cannot carry its min ada and the fee: want 2 inputs, got %+v", tx.Inputs)
	}
	pay := tx.Outputs[0]
	if pay.Quantity(payPolicy+name) != 400 || pay.Lovelace < mainnetFees.MinLovelace(spec.To[0]) {
		t.Errorf("payment %+v: 400 tokens and at least its minimum ada %d", pay, mainnetFees.MinLovelace(spec.To[0]))
	}
	change := tx.Outputs[1]
	if change.Quantity(payPolicy+name) != 600 || change.Assets[payPolicy][""] != 5 {
		t.Errorf("change assets %+v", change.Assets)
	}
	if sum := pay.Lovelace + change.Lovelace + tx.Fee; sum != 102_000_000 {
		t.Errorf("outputs + fee = %d, inputs 102000000", sum)
	}
}

func TestBuildPaymentDustGoesToFee(t *testing.T) {
	key := testKey("payer")
	wallet := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkMainnet)
	shop := EnterpriseAddress(testKey("shop").Public().(ed25519.PublicKey), NetworkMainnet)
	spec := PaymentSpec{From: []UTxO{{Input: Input{TxID: txRef(1)}, Lovelace: 2_300_000}},
		To: []Output{{Address: shop, Lovelace: 2_000_000}}, Change: wallet, Params: mainnetFees, Key: key}
	b, err := BuildPayment(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Outputs) != 1 || b.Fee != 300_000 {
		t.Errorf("outputs %+v fee %d: 300000 − fee is below an output's minimum, so it all goes to the fee", b.Outputs, b.Fee)
	}
}

func TestBuildPaymentInsufficientFunds(t *testing.T) {
	key := testKey("payer")
	wallet := EnterpriseAddress(key.Public().(ed25519.PublicKey), NetworkMainnet)
	shop := EnterpriseAddress(testKey("shop").Public().(ed25519.PublicKey), NetworkMainnet)
	base := PaymentSpec{To: []Output{{Address: shop, Lovelace: 5_000_000}}, Change: wallet, Params: mainnetFees, Key: key}
	for name, from := range map[string][]UTxO{
		"empty wallet":   nil,
		"short":          {{Input: Input{TxID: txRef(1)}, Lovelace: 3_000_000}, {Input: Input{TxID: txRef(2)}, Lovelace: 1_000_000}},
		"no room to fee": {{Input: Input{TxID: txRef(1)}, Lovelace: 5_000_000}},
	} {
		s := base
		s.From = from
		if _, err := BuildPayment(s); !errors.Is(err, ErrInsufficientFunds) {
			t.Errorf("%s: err %v, want ErrInsufficientFunds", name, err)
		}
	}
	s := base
	s.From = []UTxO{{Input: Input{TxID: txRef(1)}, Lovelace: 90_000_000}}
	s.To = []Output{{Address: shop, Lovelace: 2_000_000, Assets: map[string]map[string]uint64{payPolicy: {"": 1}}}}
	_, err := BuildPayment(s)
	if !errors.Is(err, ErrInsufficientFunds) || !strings.Contains(err.Error(), "asset") {
		t.Errorf("missing token: %v", err)
	}
}

func TestMemoLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"inv_abc", []string{"inv_abc"}},
		{strings.Repeat("a", 64), []string{strings.Repeat("a", 64)}},
		{strings.Repeat("a", 63) + "éb", []string{strings.Repeat("a", 63), "éb"}},
	} {
		if got := MemoLines(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MemoLines(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, _, err := EncodeTxBody(TxBody{Inputs: []Input{{TxID: txRef(1)}}, Outputs: []Output{{Address: EnterpriseAddress(testKey("x").Public().(ed25519.PublicKey), 1), Lovelace: 1}},
		Memo: []string{strings.Repeat("a", 65)}}); err == nil {
		t.Error("a 65-byte memo line was encoded")
	}
}

func TestSigningKeyEnvelope(t *testing.T) {
	key := testKey("wallet")
	env := SigningKeyEnvelope(key, "dev wallet")
	got, err := ParseSigningKey(env)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Error("the key read back differs")
	}
	if !strings.Contains(string(env), `"cborHex": "5820`) || !strings.Contains(string(env), SigningKeyType) {
		t.Errorf("envelope %s", env)
	}
	seed := "5820" + strings.Repeat("ab", 32)
	for name, text := range map[string]string{
		"not json":       `PaymentSigningKeyShelley_ed25519`,
		"bad type":       `{"type":"PaymentExtendedSigningKeyShelley_ed25519_bip32","cborHex":"` + seed + `"}`,
		"stake key":      `{"type":"StakeSigningKeyShelley_ed25519","cborHex":"` + seed + `"}`,
		"bad cbor head":  `{"type":"PaymentSigningKeyShelley_ed25519","cborHex":"5840` + strings.Repeat("ab", 32) + `"}`,
		"short":          `{"type":"PaymentSigningKeyShelley_ed25519","cborHex":"5820abab"}`,
		"no cbor prefix": `{"type":"PaymentSigningKeyShelley_ed25519","cborHex":"` + strings.Repeat("ab", 34) + `"}`,
		"not hex":        `{"type":"PaymentSigningKeyShelley_ed25519","cborHex":"5820zz"}`,
	} {
		if _, err := ParseSigningKey([]byte(text)); !errors.Is(err, ErrSigningKey) {
			t.Errorf("%s: err %v, want ErrSigningKey", name, err)
		}
	}
}

// Input and output totals add lovelace and assets alike, and say which side overflowed.
func TestSumValues(t *testing.T) {
	policy := strings.Repeat("ab", 28)
	us := []UTxO{{Lovelace: 5, Assets: map[string]map[string]uint64{policy: {"01": 2}}},
		{Lovelace: 7, Assets: map[string]map[string]uint64{policy: {"01": 3, "02": 1}}}}
	l, a, err := sumValues(us, "input", func(u UTxO) (uint64, map[string]map[string]uint64) { return u.Lovelace, u.Assets })
	if err != nil || l != 12 || !reflect.DeepEqual(a, map[string]map[string]uint64{policy: {"01": 5, "02": 1}}) {
		t.Fatalf("sum = %d %v %v", l, a, err)
	}
	for _, side := range []string{"input", "output"} {
		huge := []Output{{Lovelace: 1 << 63}, {Lovelace: 1 << 63}}
		_, _, err := sumValues(huge, side, func(o Output) (uint64, map[string]map[string]uint64) { return o.Lovelace, o.Assets })
		if err == nil || !strings.Contains(err.Error(), side+" amounts overflow") {
			t.Errorf("%s overflow: %v", side, err)
		}
	}
}
