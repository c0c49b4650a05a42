package cardano

import (
	"testing"
	"time"
)

func TestNetworkNames(t *testing.T) {
	for _, n := range []Network{Mainnet, Preprod, Preview} {
		if got, err := ParseNetwork(n.String()); err != nil || got != n {
			t.Errorf("ParseNetwork(%q) = %q, %v", n, got, err)
		}
		for _, name := range []string{n.Chain(), n.CAIP2(), "CARDANO-" + string(n)} {
			if got, ok := ParseChain(name); !ok || got != n {
				t.Errorf("ParseChain(%q) = %q, %v", name, got, ok)
			}
		}
	}
	for _, bad := range []string{"", "testnet", "Mainnet", "cardano"} {
		if _, err := ParseNetwork(bad); err == nil {
			t.Errorf("ParseNetwork(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "mainnet", "cardano", "cardano-testnet", "cardano:", "ethereum:mainnet", "cardano-cardano-mainnet"} {
		if n, ok := ParseChain(bad); ok {
			t.Errorf("ParseChain(%q) = %q", bad, n)
		}
	}
	if Mainnet.Chain() != "cardano-mainnet" || Preview.CAIP2() != "cardano:preview" {
		t.Error("chain names")
	}
	if Mainnet.AnalysisName() != "cardano" || Preprod.AnalysisName() != "cardano-preprod" {
		t.Error("analysis names")
	}
}

func TestNetworkOwnsItsAddresses(t *testing.T) {
	key := make([]byte, 32)
	for _, n := range []Network{Mainnet, Preprod, Preview} {
		a := EnterpriseAddress(key, n.AddressNetwork())
		if !n.Owns(a) {
			t.Errorf("%s does not own its own address %s", n, a.Bech32())
		}
		if (n == Mainnet) != (a.NetworkName() == "mainnet") {
			t.Errorf("%s address %s is a %s address", n, a.Bech32(), a.NetworkName())
		}
	}
	if Mainnet.Owns(EnterpriseAddress(key, NetworkTestnet)) || Preprod.Owns(EnterpriseAddress(key, NetworkMainnet)) {
		t.Error("a network owns another network's address")
	}
}

func TestSlotAt(t *testing.T) {
	// Mainnet's Shelley era began at slot 4492800 (2020-07-29 21:44:51 UTC).
	if s, ok := Mainnet.SlotAt(time.Unix(1596059091+100, 0)); !ok || s != 4492900 {
		t.Errorf("mainnet slot %d %v", s, ok)
	}
	if s, ok := Preview.SlotAt(time.Unix(1666656000+5, 0)); !ok || s != 5 {
		t.Errorf("preview slot %d %v", s, ok)
	}
	if _, ok := Network("testnet").SlotAt(time.Now()); ok {
		t.Error("an unknown network has slots")
	}
}
