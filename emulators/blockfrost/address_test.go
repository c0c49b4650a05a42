package blockfrostemu_test

import (
	"testing"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

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
