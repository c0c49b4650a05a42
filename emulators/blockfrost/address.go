package blockfrostemu

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/tbackend/tbackend/cardano"
)

// mustAddress builds the bech32 text of a Shelley address (a cardano.Addr* header type) on
// network n from the data set's own credentials, which are always well-formed.
func mustAddress(n Network, typ int, payment, stake []byte) string {
	p, err := paramsFor(n)
	if err != nil {
		panic(err)
	}
	a, err := cardano.NewShelleyAddress(typ, int(p.networkID), payment, stake)
	if err != nil {
		panic(fmt.Sprintf("blockfrostemu: address type %d: %v", typ, err))
	}
	return a.Bech32()
}

// validAddress reports whether s is a bech32 Shelley payment address of network n (or any
// Byron-looking base58 string, which the emulator accepts without decoding).
func validAddress(n Network, s string) error {
	if strings.HasPrefix(s, "Ae2") || strings.HasPrefix(s, "DdzFF") || strings.HasPrefix(s, "37btj") {
		return nil
	}
	p, err := paramsFor(n)
	if err != nil {
		return err
	}
	a, err := cardano.ParseAddress(s)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(s, p.addrHRP()+"1") {
		return fmt.Errorf("address %s: prefix is not %q", s, p.addrHRP())
	}
	if a.Byron || a.IsReward() || a.Network != int(p.networkID) {
		return fmt.Errorf("address %s: header does not match a %s Shelley address", s, n)
	}
	return nil
}

// mustBech32 encodes the data set's own values under a fixed prefix, which cannot fail.
func mustBech32(hrp string, data []byte) string {
	s, err := cardano.EncodeBech32(hrp, data)
	if err != nil {
		panic(fmt.Sprintf("blockfrostemu: bech32 of %q: %v", hrp, err))
	}
	return s
}

// blake256 is blake2b with a 32-byte digest (block hashes, the data set's synthetic hashes).
func blake256(b []byte) []byte {
	sum := blake2b.Sum256(b)
	return sum[:]
}

// seedHash28 and seedHash32 derive deterministic synthetic hashes from a label.
func seedHash28(label string) []byte {
	h, _ := blake2b.New(cardano.CredentialLength, nil) // fixed valid size: never fails
	h.Write([]byte("blockfrostemu:" + label))
	return h.Sum(nil)
}

func seedHash32(label string) []byte { return blake256([]byte("blockfrostemu:" + label)) }
