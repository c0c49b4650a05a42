package blockfrostemu_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/internal/testfiles"
)

// The CIP-19 test vectors: addresses built from their credentials are byte-for-byte the CIP's.
func TestCIP19Vectors(t *testing.T) {
	t.Parallel()
	raw := testfiles.Read(t, "cardano", "addresses.json")
	var doc struct {
		Vectors []struct {
			Network    string `json:"network"`
			Type       int    `json:"type"`
			Bech32     string `json:"bech32"`
			Payment    string `json:"payment_credential_hex"`
			Delegation string `json:"delegation_credential_hex"`
			Stake      string `json:"stake_credential_hex"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range doc.Vectors {
		n := blockfrostemu.Mainnet
		if v.Network != "mainnet" {
			n = blockfrostemu.Preprod
		}
		pay, _ := hex.DecodeString(v.Payment)
		stake, _ := hex.DecodeString(v.Delegation)
		kind := blockfrostemu.AddressKind(v.Type)
		switch v.Type {
		case 0, 1, 2, 3:
		case 6, 7:
			stake = nil
		case 14, 15:
			pay = nil
			stake, _ = hex.DecodeString(v.Stake)
		default:
			continue // pointer addresses are not built by the emulator
		}
		got, err := blockfrostemu.MakeAddress(n, kind, pay, stake)
		if err != nil {
			t.Fatalf("type %d %s: %v", v.Type, v.Network, err)
		}
		if got != v.Bech32 {
			t.Errorf("type %d %s: %s, want %s", v.Type, v.Network, got, v.Bech32)
		}
		checked++
	}
	if checked != 16 {
		t.Fatalf("checked %d vectors, want 16", checked)
	}
	if _, err := blockfrostemu.MakeAddress(blockfrostemu.Mainnet, blockfrostemu.BaseKeyKey, make([]byte, 28), nil); err == nil {
		t.Fatal("a base address without stake credential")
	}
	if _, err := blockfrostemu.MakeAddress("testnet", blockfrostemu.EnterpriseKey, make([]byte, 28), nil); err == nil {
		t.Fatal("an unknown network")
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ policy, name, want string }{
		// CIP-14's first vector, and SNEK as cardanoscan shows it.
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "", "asset1rjklcrnsdzqp65wjgrg55sy9723kw09mlgvlc3"},
		{"279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f", "534e454b", "asset108xu02ckwrfc8qs9d97mgyh4kn8gdu9w8f5sxk"},
	} {
		got, err := blockfrostemu.Fingerprint(tc.policy, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("%s.%s: %s %v, want %s", tc.policy, tc.name, got, err, tc.want)
		}
	}
	if _, err := blockfrostemu.Fingerprint("00", ""); err == nil {
		t.Fatal("short policy accepted")
	}
}

func TestParseNetwork(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]blockfrostemu.Network{"mainnet": blockfrostemu.Mainnet, "Preprod": blockfrostemu.Preprod, " preview ": blockfrostemu.Preview} {
		if got, err := blockfrostemu.ParseNetwork(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := blockfrostemu.ParseNetwork("testnet"); err == nil {
		t.Fatal("testnet accepted")
	}
}
