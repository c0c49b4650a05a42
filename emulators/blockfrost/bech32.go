package blockfrostemu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/tbackend/tbackend/cardano"
)

// bech32Encode encodes data (8-bit bytes) under hrp with the project's Cardano bech32 (no
// length limit).
func bech32Encode(hrp string, data []byte) string {
	s, err := cardano.EncodeBech32(hrp, data)
	if err != nil {
		panic(fmt.Sprintf("blockfrostemu: bech32 of %q: %v", hrp, err)) // our own fixed inputs
	}
	return s
}

// bech32Decode decodes a bech32 string (any length) into its hrp and 8-bit data.
func bech32Decode(s string) (string, []byte, error) { return cardano.DecodeBech32(s) }

// base58Encode encodes b in Bitcoin's base58 alphabet (used by Byron addresses).
func base58Encode(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n := new(big.Int).SetBytes(b)
	radix, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// AddressKind is the CIP-19 Shelley address type: the high nibble of the header byte.
type AddressKind byte

// CIP-19 address types used by the data set and the helpers.
const (
	BaseKeyKey       AddressKind = 0 // payment key hash, stake key hash
	BaseScriptKey    AddressKind = 1 // payment script hash, stake key hash
	BaseKeyScript    AddressKind = 2 // payment key hash, stake script hash
	BaseScriptScript AddressKind = 3 // payment script hash, stake script hash
	EnterpriseKey    AddressKind = 6 // payment key hash, no stake part
	EnterpriseScript AddressKind = 7 // payment script hash, no stake part
	RewardKey        AddressKind = 14
	RewardScript     AddressKind = 15
)

// MakeAddress builds a bech32 Shelley address on network n from 28-byte credentials: the CIP-19
// header (kind << 4 | network id), then the payment credential, then the stake credential
// (base kinds only; nil otherwise). Reward kinds take the stake credential as their only part.
func MakeAddress(n Network, kind AddressKind, payment, stake []byte) (string, error) {
	p, err := paramsFor(n)
	if err != nil {
		return "", err
	}
	header := byte(kind)<<4 | p.networkID
	var raw []byte
	switch kind {
	case BaseKeyKey, BaseScriptKey, BaseKeyScript, BaseScriptScript:
		if len(payment) != 28 || len(stake) != 28 {
			return "", errors.New("blockfrostemu: base addresses need two 28-byte credentials")
		}
		raw = append(append([]byte{header}, payment...), stake...)
	case EnterpriseKey, EnterpriseScript:
		if len(payment) != 28 || stake != nil {
			return "", errors.New("blockfrostemu: enterprise addresses need one 28-byte payment credential")
		}
		raw = append([]byte{header}, payment...)
	case RewardKey, RewardScript:
		if len(stake) != 28 {
			return "", errors.New("blockfrostemu: reward addresses need one 28-byte stake credential")
		}
		raw = append([]byte{header}, stake...)
		hrp := "stake"
		if p.networkID == 0 {
			hrp = "stake_test"
		}
		return bech32Encode(hrp, raw), nil
	default:
		return "", fmt.Errorf("blockfrostemu: unsupported address kind %d", kind)
	}
	return bech32Encode(p.addrHRP(), raw), nil
}

func mustAddress(n Network, kind AddressKind, payment, stake []byte) string {
	a, err := MakeAddress(n, kind, payment, stake)
	if err != nil {
		panic(err)
	}
	return a
}

// addressFromBytes renders raw address bytes as Blockfrost does: bech32 for Shelley types
// (addr/addr_test by the network nibble, stake/stake_test for reward addresses) and base58
// for Byron addresses.
func addressFromBytes(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("empty address")
	}
	typ, netID := raw[0]>>4, raw[0]&0x0f
	switch {
	case typ <= 7:
		if netID == 1 {
			return bech32Encode("addr", raw), nil
		}
		return bech32Encode("addr_test", raw), nil
	case typ == 8:
		return base58Encode(raw), nil
	case typ == 14 || typ == 15:
		if netID == 1 {
			return bech32Encode("stake", raw), nil
		}
		return bech32Encode("stake_test", raw), nil
	}
	return "", fmt.Errorf("unknown address header %#02x", raw[0])
}

// validAddress reports whether s is a bech32 Shelley address of network n (or any Byron-looking
// base58 string, which the emulator accepts without decoding).
func validAddress(n Network, s string) error {
	if strings.HasPrefix(s, "Ae2") || strings.HasPrefix(s, "DdzFF") || strings.HasPrefix(s, "37btj") {
		return nil
	}
	hrp, raw, err := bech32Decode(s)
	if err != nil {
		return err
	}
	p, err := paramsFor(n)
	if err != nil {
		return err
	}
	if hrp != p.addrHRP() {
		return fmt.Errorf("address %s: prefix %q is not %q", s, hrp, p.addrHRP())
	}
	if len(raw) == 0 || raw[0]>>4 > 7 || raw[0]&0x0f != p.networkID {
		return fmt.Errorf("address %s: header does not match a %s Shelley address", s, n)
	}
	return nil
}

// Fingerprint returns the CIP-14 asset fingerprint of policy id + asset name (both hex):
// bech32("asset", blake2b-160(policy || name)).
func Fingerprint(policyID, assetNameHex string) (string, error) {
	p, err := hex.DecodeString(policyID)
	if err != nil || len(p) != 28 {
		return "", errors.New("blockfrostemu: policy id must be 28 bytes of hex")
	}
	nm, err := hex.DecodeString(assetNameHex)
	if err != nil || len(nm) > 32 {
		return "", errors.New("blockfrostemu: asset name must be at most 32 bytes of hex")
	}
	return cardano.AssetFingerprint(policyID, assetNameHex)
}

// blake224 is blake2b with a 28-byte digest (key hashes, script hashes, policy ids).
func blake224(parts ...[]byte) []byte {
	h, _ := blake2b.New(28, nil)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// blake256 is blake2b with a 32-byte digest (tx ids, block hashes, datum hashes).
func blake256(parts ...[]byte) []byte {
	h, _ := blake2b.New256(nil)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// seedHash28 and seedHash32 derive deterministic synthetic hashes from a label.
func seedHash28(label string) []byte { return blake224([]byte("blockfrostemu:" + label)) }
func seedHash32(label string) []byte { return blake256([]byte("blockfrostemu:" + label)) }
