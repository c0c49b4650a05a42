package cardano

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// ErrBech32 is wrapped by every bech32 and asset-fingerprint error.
var ErrBech32 = errors.New("cardano: invalid bech32")

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// maxHRPLength is BIP-173's limit on the human-readable part. The overall 90-character limit of
// BIP-173 is deliberately not applied: Cardano addresses are longer.
const maxHRPLength = 83

// bech32Rev maps a byte to its 5-bit value, or -1.
var bech32Rev = alphabetIndex(bech32Charset)

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, len(hrp)*2+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

func bech32Checksum(hrp string, data []byte) []byte {
	values := append(bech32HRPExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ 1
	out := make([]byte, 6)
	for i := range out {
		out[i] = byte(mod>>uint(5*(5-i))) & 31
	}
	return out
}

// checkHRP validates the human-readable part and returns it in lower case.
func checkHRP(hrp string) (string, error) {
	if hrp == "" {
		return "", fmt.Errorf("%w: empty human-readable part", ErrBech32)
	}
	if len(hrp) > maxHRPLength {
		return "", fmt.Errorf("%w: human-readable part longer than %d characters", ErrBech32, maxHRPLength)
	}
	lower, upper := false, false
	for i := 0; i < len(hrp); i++ {
		c := hrp[i]
		if c < 33 || c > 126 {
			return "", fmt.Errorf("%w: character %q out of range in human-readable part", ErrBech32, c)
		}
		lower = lower || (c >= 'a' && c <= 'z')
		upper = upper || (c >= 'A' && c <= 'Z')
	}
	if lower && upper {
		return "", fmt.Errorf("%w: mixed case", ErrBech32)
	}
	return strings.ToLower(hrp), nil
}

// decodeBech32Groups checks a bech32 string and returns its lower-case human-readable part and
// its data as 5-bit groups (checksum removed).
func decodeBech32Groups(s string) (string, []byte, error) {
	lower, upper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			return "", nil, fmt.Errorf("%w: character %q out of range", ErrBech32, c)
		}
		lower = lower || (c >= 'a' && c <= 'z')
		upper = upper || (c >= 'A' && c <= 'Z')
	}
	if lower && upper {
		return "", nil, fmt.Errorf("%w: mixed case", ErrBech32)
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 0 {
		return "", nil, fmt.Errorf("%w: no separator", ErrBech32)
	}
	if sep == 0 {
		return "", nil, fmt.Errorf("%w: empty human-readable part", ErrBech32)
	}
	if len(s)-sep-1 < 6 {
		return "", nil, fmt.Errorf("%w: checksum too short", ErrBech32)
	}
	hrp := s[:sep]
	if len(hrp) > maxHRPLength {
		return "", nil, fmt.Errorf("%w: human-readable part longer than %d characters", ErrBech32, maxHRPLength)
	}
	data := make([]byte, len(s)-sep-1)
	for i := range data {
		c := s[sep+1+i]
		v := bech32Rev[c]
		if v < 0 {
			return "", nil, fmt.Errorf("%w: invalid data character %q", ErrBech32, c)
		}
		data[i] = byte(v)
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), data...)) != 1 {
		return "", nil, fmt.Errorf("%w: bad checksum", ErrBech32)
	}
	return hrp, data[:len(data)-6], nil
}

// convertBits regroups bits. Without pad, leftover bits must be fewer than fromBits and zero
// (BIP-173's padding rule for 5→8).
func convertBits(data []byte, fromBits, toBits uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<toBits - 1
	out := make([]byte, 0, len(data)*int(fromBits)/int(toBits)+1)
	for _, v := range data {
		if uint32(v)>>fromBits != 0 {
			return nil, fmt.Errorf("%w: value out of range", ErrBech32)
		}
		acc = acc<<fromBits | uint32(v)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte(acc>>bits&maxv))
		}
		acc &= 1<<bits - 1 // keep only the unconsumed bits; avoids overflow on long input
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(toBits-bits)&maxv))
		}
	} else if bits >= fromBits {
		return nil, fmt.Errorf("%w: excess padding", ErrBech32)
	} else if acc<<(toBits-bits)&maxv != 0 {
		return nil, fmt.Errorf("%w: non-zero padding", ErrBech32)
	}
	return out, nil
}

// DecodeBech32 decodes a BIP-173 bech32 string (any length) and returns its lower-case
// human-readable part and its payload as 8-bit bytes. It rejects mixed case, characters outside
// the charset, a bad checksum, an empty human-readable part and invalid padding. Bech32m
// strings are rejected (their checksum constant differs).
func DecodeBech32(s string) (hrp string, data []byte, err error) {
	hrp, groups, err := decodeBech32Groups(s)
	if err != nil {
		return "", nil, err
	}
	data, err = convertBits(groups, 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}

// EncodeBech32 encodes data under the human-readable part hrp (lower-cased; it must be 1–83
// characters in the range 33–126 and not mixed case). The result is lower case.
func EncodeBech32(hrp string, data []byte) (string, error) {
	hrp, err := checkHRP(hrp)
	if err != nil {
		return "", err
	}
	groups, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(groups) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, g := range groups {
		b.WriteByte(bech32Charset[g])
	}
	for _, g := range bech32Checksum(hrp, groups) {
		b.WriteByte(bech32Charset[g])
	}
	return b.String(), nil
}

// mustEncodeBech32 is for callers whose hrp is a constant known to be valid.
func mustEncodeBech32(hrp string, data []byte) string {
	s, err := EncodeBech32(hrp, data)
	if err != nil {
		// Unreachable for the constant prefixes used in this package.
		return ""
	}
	return s
}

// PolicyIDLength is the size of a minting policy id (a blake2b-224 script hash) in bytes.
const PolicyIDLength = 28

// MaxAssetNameLength is the ledger's limit on asset names, in bytes.
const MaxAssetNameLength = 32

// AssetFingerprint returns the CIP-14 fingerprint ("asset1…") of an asset: bech32 under the
// prefix "asset" of blake2b-160(policy id || asset name). policyIDHex must be 28 bytes of hex,
// assetNameHex at most 32 bytes of hex (empty for the policy's nameless asset).
func AssetFingerprint(policyIDHex, assetNameHex string) (string, error) {
	policy, err := hex.DecodeString(policyIDHex)
	if err != nil || len(policy) != PolicyIDLength {
		return "", fmt.Errorf("%w: policy id must be %d bytes of hex", ErrBech32, PolicyIDLength)
	}
	name, err := hex.DecodeString(assetNameHex)
	if err != nil || len(name) > MaxAssetNameLength {
		return "", fmt.Errorf("%w: asset name must be at most %d bytes of hex", ErrBech32, MaxAssetNameLength)
	}
	h, err := blake2b.New(20, nil)
	if err != nil {
		return "", err
	}
	h.Write(policy)
	h.Write(name)
	return EncodeBech32("asset", h.Sum(nil))
}
