package cardano

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestAddressCIP19Vectors(t *testing.T) {
	var f addressFixture
	loadJSONFixture(t, "addresses.json", &f)
	if len(f.Vectors) != 20 {
		t.Fatalf("addresses.json has %d vectors, want 20", len(f.Vectors))
	}
	seen := map[[2]int]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Bech32[:12], func(t *testing.T) {
			a, err := ParseAddress(v.Bech32)
			if err != nil {
				t.Fatalf("ParseAddress(%s): %v", v.Bech32, err)
			}
			seen[[2]int{v.Type, v.NetworkTag}] = true
			if got := hex.EncodeToString(a.Raw); got != v.Hex {
				t.Errorf("raw %s, want %s", got, v.Hex)
			}
			if hex.EncodeToString(a.Raw[:1]) != v.HeaderHex || a.Type != v.Type || a.Network != v.NetworkTag || len(a.Raw) != v.Length {
				t.Errorf("header: type %d network %d len %d; want %s (type %d network %d len %d)", a.Type, a.Network, len(a.Raw), v.HeaderHex, v.Type, v.NetworkTag, v.Length)
			}
			if a.NetworkName() != v.Network {
				t.Errorf("NetworkName %q, want %q", a.NetworkName(), v.Network)
			}
			if a.Byron {
				t.Error("Byron set on a Shelley address")
			}
			// Payment part.
			switch v.PaymentPart {
			case "PaymentKeyHash", "ScriptHash":
				if a.Payment.Hex() != v.PaymentCred || a.Payment.Script != (v.PaymentPart == "ScriptHash") {
					t.Errorf("payment %s script=%v, want %s %s", a.Payment.Hex(), a.Payment.Script, v.PaymentCred, v.PaymentPart)
				}
				if a.IsScriptPayment() != (v.PaymentPart == "ScriptHash") {
					t.Errorf("IsScriptPayment %v", a.IsScriptPayment())
				}
			case "":
				if len(a.Payment.Hash) != 0 || a.IsScriptPayment() {
					t.Errorf("reward address with a payment part: %+v", a.Payment)
				}
			default:
				t.Fatalf("unexpected payment_part %q", v.PaymentPart)
			}
			// Delegation part.
			stakeHex := v.DelegCred
			if stakeHex == "" {
				stakeHex = v.StakeCred
			}
			switch v.DelegPart {
			case "StakeKeyHash", "ScriptHash":
				if a.Stake == nil {
					t.Fatal("no stake credential")
				}
				if a.Stake.Hex() != stakeHex || a.Stake.Script != (v.DelegPart == "ScriptHash") {
					t.Errorf("stake %s script=%v, want %s %s", a.Stake.Hex(), a.Stake.Script, stakeHex, v.DelegPart)
				}
				key, ok := a.StakeKey()
				want := "stake:" + stakeHex
				if v.DelegPart == "ScriptHash" {
					want = "script-stake:" + stakeHex
				}
				if !ok || key != want {
					t.Errorf("StakeKey = %q, %v; want %q, true", key, ok, want)
				}
				if a.Pointer != nil {
					t.Error("unexpected pointer")
				}
			case "Pointer":
				if a.Stake != nil || a.Pointer == nil || v.Pointer == nil {
					t.Fatalf("pointer address: stake %v pointer %v", a.Stake, a.Pointer)
				}
				if *a.Pointer != (Pointer{v.Pointer.Slot, v.Pointer.TxIndex, v.Pointer.CertIndex}) {
					t.Errorf("pointer %+v, want %+v", *a.Pointer, *v.Pointer)
				}
				if key, ok := a.StakeKey(); ok || key != "pointer:2498243.27.3" {
					t.Errorf("StakeKey = %q, %v", key, ok)
				}
			case "":
				if a.Stake != nil || a.Pointer != nil {
					t.Error("enterprise address with a stake part")
				}
				want := "payment:" + v.PaymentCred
				if v.PaymentPart == "ScriptHash" {
					want = "script-payment:" + v.PaymentCred
				}
				if key, ok := a.StakeKey(); ok || key != want {
					t.Errorf("StakeKey = %q, %v; want %q, false", key, ok, want)
				}
			default:
				t.Fatalf("unexpected delegation_part %q", v.DelegPart)
			}
			if a.IsReward() != (v.Type >= 14) {
				t.Errorf("IsReward %v", a.IsReward())
			}
			// Round trips: text → bytes → text, and hex input.
			if a.Bech32() != v.Bech32 || a.String() != v.Bech32 {
				t.Errorf("Bech32() = %s, want %s", a.Bech32(), v.Bech32)
			}
			b, err := ParseAddress(v.Hex)
			if err != nil || !b.Equal(a) || b.Bech32() != v.Bech32 {
				t.Errorf("ParseAddress(hex) = %s, %v", b.Bech32(), err)
			}
			u, err := ParseAddress(strings.ToUpper(v.Bech32))
			if err != nil || !u.Equal(a) {
				t.Errorf("upper-case bech32: %v", err)
			}
		})
	}
	for _, typ := range []int{0, 1, 2, 3, 4, 5, 6, 7, 14, 15} {
		for net := 0; net <= 1; net++ {
			if !seen[[2]int{typ, net}] {
				t.Errorf("no vector for type %d network %d", typ, net)
			}
		}
	}
}

func TestAddressCIP19Examples(t *testing.T) {
	var f addressFixture
	loadJSONFixture(t, "addresses.json", &f)
	found := 0
	for _, ex := range f.Examples {
		switch ex.Kind {
		case "byron":
			found++
			a, err := ParseAddress(ex.Text)
			if err != nil {
				t.Fatalf("Byron: %v", err)
			}
			if !a.Byron || a.Type != 8 || a.Type != ex.HeaderType || a.Hex() != ex.Hex {
				t.Errorf("Byron: %+v", a)
			}
			if a.Bech32() != ex.Text {
				t.Errorf("Byron text round trip: %s", a.Bech32())
			}
			// The example carries protocol magic 1097911063 (the old testnet), so testnet.
			if a.NetworkName() != "testnet" {
				t.Errorf("Byron network %s", a.NetworkName())
			}
			if len(a.Payment.Hash) != 0 || a.Stake != nil || a.Pointer != nil || a.IsScriptPayment() || a.IsReward() {
				t.Errorf("Byron address with credentials: %+v", a)
			}
			if key, ok := a.StakeKey(); ok || key != "byron:"+ex.Text {
				t.Errorf("Byron StakeKey %q %v", key, ok)
			}
			b, err := ParseAddress(ex.Hex)
			if err != nil || !b.Equal(a) {
				t.Errorf("Byron from hex: %v", err)
			}
		case "shelley":
			found++
			// Header 0x60 (testnet enterprise) under the mainnet prefix: parsed by its header.
			a, err := ParseAddress(ex.Text)
			if err != nil {
				t.Fatalf("%s: %v", ex.Text, err)
			}
			if a.Hex() != ex.Hex || a.Type != ex.HeaderType || ex.NetworkTag == nil || a.Network != *ex.NetworkTag {
				t.Errorf("%s: %+v", ex.Text, a)
			}
			if want := "addr_test1" + ex.Text[len("addr1"):len(ex.Text)-6]; !strings.HasPrefix(a.Bech32(), want) {
				t.Errorf("canonical text %s, want the testnet prefix", a.Bech32())
			}
		case "stake":
			found++
			// Flagged in the fixture: the stake prefix over a type-6 payload is not a reward
			// address, so it must be rejected.
			if !strings.Contains(ex.Note, "NOT a valid type-14/15") {
				t.Fatalf("fixture note changed: %q", ex.Note)
			}
			if _, err := ParseAddress(ex.Text); !errors.Is(err, ErrAddress) {
				t.Errorf("%s: got %v, want ErrAddress", ex.Text, err)
			}
			// The bech32 itself is fine.
			if hrp, data, err := DecodeBech32(ex.Text); err != nil || hrp != "stake" || hex.EncodeToString(data) != ex.Hex {
				t.Errorf("bech32 of the example: %s %x %v", hrp, data, err)
			}
		}
	}
	if found != 3 {
		t.Fatalf("found %d of the 3 examples", found)
	}
}

func TestAddressRejects(t *testing.T) {
	enc := func(hrp, hexBytes string) string {
		b, _ := hex.DecodeString(hexBytes)
		s, err := EncodeBech32(hrp, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cred := strings.Repeat("ab", 28)
	for name, s := range map[string]string{
		"empty":                   "",
		"spaces":                  "   ",
		"bad checksum":            "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl9",
		"mixed case":              "addr1Vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8",
		"unknown prefix":          enc("pool", "61"+cred),
		"reward under addr":       enc("addr", "e1"+cred),
		"base under stake":        enc("stake", "01"+cred+cred),
		"short base":              enc("addr", "01"+cred),
		"long enterprise":         enc("addr", "61"+cred+"00"),
		"short reward":            enc("stake", "e1"+cred[:54]),
		"header type 9":           "91" + cred,
		"header type 12":          "c1" + cred,
		"pointer truncated":       "41" + cred + "8198bd43",
		"pointer trailing":        "41" + cred + "8198bd431b0300",
		"pointer overflow":        "41" + cred + strings.Repeat("ff", 10) + "7f0101",
		"pointer missing":         "41" + cred,
		"odd hex":                 "6" + cred,
		"base58 of shelley":       base58Encode(append([]byte{0x61}, make([]byte, 28)...)),
		"base58 garbage":          "0OIl",
		"byron bad crc":           "82d818584983581c7e9ee4a9527dea9091e2d580edd6716888c42f75d96276290f98fe0ba201581e581c0cdf39b531d1ac0963cbd183f63e43d895d16a9c567c95e1056e28bd02451a4170cb17001a53249b68",
		"byron not tag 24":        "82d819584983581c7e9ee4a9527dea9091e2d580edd6716888c42f75d96276290f98fe0ba201581e581c0cdf39b531d1ac0963cbd183f63e43d895d16a9c567c95e1056e28bd02451a4170cb17001a53249b67",
		"byron short":             "82",
		"byron trailing":          "82d818584983581c7e9ee4a9527dea9091e2d580edd6716888c42f75d96276290f98fe0ba201581e581c0cdf39b531d1ac0963cbd183f63e43d895d16a9c567c95e1056e28bd02451a4170cb17001a53249b6700",
		"byron under bech32":      enc("addr", "82d818584983581c7e9ee4a9527dea9091e2d580edd6716888c42f75d96276290f98fe0ba201581e581c0cdf39b531d1ac0963cbd183f63e43d895d16a9c567c95e1056e28bd02451a4170cb17001a53249b67"),
		"bech32 asset not addr":   "asset1rjklcrnsdzqp65wjgrg55sy9723kw09mlgvlc3",
		"addr prefix, bad bech32": "addr1qqqq",
	} {
		if a, err := ParseAddress(s); !errors.Is(err, ErrAddress) {
			t.Errorf("%s (%q): got %+v, %v; want ErrAddress", name, s, a, err)
		}
	}
}

func TestAddressEqualAndHelpers(t *testing.T) {
	a, err := ParseAddress("addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseAddress("619493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e")
	c, _ := ParseAddress("addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerspjrlsz")
	if !a.Equal(b) || a.Equal(c) || a.Equal(Address{}) || (Address{}).Equal(Address{}) {
		t.Error("Equal compares address bytes; the zero Address equals nothing")
	}
	if (Address{}).Bech32() != "" {
		t.Error("zero Address text")
	}
	// Raw is a copy of the input.
	raw, _ := hex.DecodeString("619493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e")
	d, err := AddressFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[1] ^= 0xff
	if !d.Equal(a) {
		t.Error("AddressFromBytes aliases its input")
	}
	if (Address{Network: 5, Raw: []byte{0x65}}).NetworkName() != "unknown" {
		t.Error("NetworkName of an unknown network tag")
	}
	// Pointer values wider than one byte and a zero pointer.
	p, err := AddressFromBytes(append(append([]byte{0x41}, make([]byte, 28)...), 0x00, 0x00, 0x00))
	if err != nil || *p.Pointer != (Pointer{}) {
		t.Errorf("zero pointer: %+v %v", p.Pointer, err)
	}
}
