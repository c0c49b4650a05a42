package cardano

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// ErrAddress is wrapped by every address parsing error.
var ErrAddress = errors.New("cardano: invalid address")

// CredentialLength is the size of a key hash or script hash (blake2b-224) in bytes.
const CredentialLength = 28

// Address header types (the high nibble of the first address byte, CIP-19).
const (
	AddrBaseKeyKey       = 0  // payment key hash, stake key hash
	AddrBaseScriptKey    = 1  // payment script hash, stake key hash
	AddrBaseKeyScript    = 2  // payment key hash, stake script hash
	AddrBaseScriptScript = 3  // payment script hash, stake script hash
	AddrPointerKey       = 4  // payment key hash, stake pointer
	AddrPointerScript    = 5  // payment script hash, stake pointer
	AddrEnterpriseKey    = 6  // payment key hash, no stake part
	AddrEnterpriseScript = 7  // payment script hash, no stake part
	AddrByron            = 8  // Byron bootstrap address (CBOR, base58 text form)
	AddrRewardKey        = 14 // reward (stake) address, key hash
	AddrRewardScript     = 15 // reward (stake) address, script hash
)

// Network tags of Shelley addresses (the low nibble of the header byte).
const (
	NetworkTestnet = 0
	NetworkMainnet = 1
)

// byronMainnetMagic is the protocol magic of mainnet; Byron addresses carry a magic attribute
// only on other networks.
const byronMainnetMagic = 764824073

// maxByronAddressBytes bounds Byron addresses we accept (real ones are well under 200 bytes).
const maxByronAddressBytes = 1024

// Credential is a payment or stake credential: a 28-byte key hash or script hash.
type Credential struct {
	Hash   []byte // 28 bytes
	Script bool   // true: script hash; false: key hash
}

// Hex returns the credential hash in lower-case hex.
func (c Credential) Hex() string { return hex.EncodeToString(c.Hash) }

// Pointer is the stake reference of a pointer address: the certificate at (slot, tx index,
// certificate index) that registered the stake credential.
type Pointer struct {
	Slot      uint64
	TxIndex   uint64
	CertIndex uint64
}

// Address is a decoded Cardano address.
//
// For Shelley addresses (types 0–7) Payment is set; base addresses (0–3) also have Stake and
// pointer addresses (4–5) have Pointer. Reward addresses (14–15) have only Stake. Byron
// addresses (type 8) have Byron set, no credentials, and Network derived from their protocol
// magic attribute (absent = mainnet).
type Address struct {
	Raw     []byte      // the address bytes as they appear on chain
	Type    int         // header type (high nibble of Raw[0]); 8 for Byron
	Network int         // 0 testnet, 1 mainnet (other nibble values are kept as-is)
	Payment Credential  // payment part (types 0–7)
	Stake   *Credential // stake part of base addresses (0–3) and reward addresses (14–15)
	Pointer *Pointer    // stake pointer (types 4–5)
	Byron   bool
}

// ParseAddress parses an address given as bech32 (prefixes addr, addr_test, stake,
// stake_test), as Byron base58, or as the hex of the raw address bytes.
//
// The bech32 prefix must fit the header type: addr/addr_test carry types 0–7, stake/stake_test
// carry types 14–15 (so CIP-19's "stake1vpu5…" example, an enterprise payload under the stake
// prefix, is rejected). The network is read from the header; a prefix/network disagreement
// (CIP-19's own "addr1vpu5…" example has a testnet header) is tolerated, and Bech32 then
// returns the canonical prefix for the header's network.
func ParseAddress(s string) (Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Address{}, fmt.Errorf("%w: empty", ErrAddress)
	}
	if isHexString(s) {
		raw, err := hex.DecodeString(s)
		if err != nil {
			return Address{}, fmt.Errorf("%w: %v", ErrAddress, err)
		}
		return AddressFromBytes(raw)
	}
	if strings.ContainsRune(s, '1') {
		if hrp, data, err := DecodeBech32(s); err == nil {
			return addressFromBech32(hrp, data)
		} else if strings.HasPrefix(strings.ToLower(s), "addr") || strings.HasPrefix(strings.ToLower(s), "stake") {
			return Address{}, fmt.Errorf("%w: %w", ErrAddress, err)
		}
	}
	raw, err := base58Decode(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: neither bech32, base58 nor hex: %w", ErrAddress, err)
	}
	a, err := AddressFromBytes(raw)
	if err != nil {
		return Address{}, err
	}
	if !a.Byron {
		return Address{}, fmt.Errorf("%w: base58 text is only valid for Byron addresses", ErrAddress)
	}
	return a, nil
}

func addressFromBech32(hrp string, data []byte) (Address, error) {
	var stake bool
	switch hrp {
	case "addr", "addr_test":
	case "stake", "stake_test":
		stake = true
	default:
		return Address{}, fmt.Errorf("%w: unexpected bech32 prefix %q", ErrAddress, hrp)
	}
	a, err := AddressFromBytes(data)
	if err != nil {
		return Address{}, err
	}
	switch {
	case a.Byron:
		return Address{}, fmt.Errorf("%w: Byron addresses are not bech32", ErrAddress)
	case stake && !a.IsReward():
		return Address{}, fmt.Errorf("%w: prefix %q with header type %d (not a reward address)", ErrAddress, hrp, a.Type)
	case !stake && a.IsReward():
		return Address{}, fmt.Errorf("%w: reward address (type %d) under prefix %q", ErrAddress, a.Type, hrp)
	}
	return a, nil
}

// IsHex reports whether s is a non-empty run of hexadecimal digits (either case), as policy ids,
// asset names, transaction hashes and CBOR are written.
func IsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// isHexString reports whether s is hex of whole bytes.
func isHexString(s string) bool { return len(s)%2 == 0 && IsHex(s) }

// AddressFromBytes decodes raw address bytes (as found in transaction outputs). Raw is a copy.
func AddressFromBytes(b []byte) (Address, error) {
	if len(b) == 0 {
		return Address{}, fmt.Errorf("%w: empty", ErrAddress)
	}
	raw := bytes.Clone(b)
	typ := int(raw[0] >> 4)
	a := Address{Raw: raw, Type: typ, Network: int(raw[0] & 0x0f)}
	cred := func(off int, script bool) Credential {
		return Credential{Hash: raw[off : off+CredentialLength : off+CredentialLength], Script: script}
	}
	switch typ {
	case AddrBaseKeyKey, AddrBaseScriptKey, AddrBaseKeyScript, AddrBaseScriptScript:
		if len(raw) != 1+2*CredentialLength {
			return Address{}, fmt.Errorf("%w: base address must be %d bytes, got %d", ErrAddress, 1+2*CredentialLength, len(raw))
		}
		a.Payment = cred(1, typ&1 == 1)
		st := cred(1+CredentialLength, typ&2 == 2)
		a.Stake = &st
	case AddrPointerKey, AddrPointerScript:
		if len(raw) < 1+CredentialLength+3 {
			return Address{}, fmt.Errorf("%w: pointer address too short (%d bytes)", ErrAddress, len(raw))
		}
		a.Payment = cred(1, typ&1 == 1)
		p, err := decodePointer(raw[1+CredentialLength:])
		if err != nil {
			return Address{}, err
		}
		a.Pointer = &p
	case AddrEnterpriseKey, AddrEnterpriseScript:
		if len(raw) != 1+CredentialLength {
			return Address{}, fmt.Errorf("%w: enterprise address must be %d bytes, got %d", ErrAddress, 1+CredentialLength, len(raw))
		}
		a.Payment = cred(1, typ&1 == 1)
	case AddrRewardKey, AddrRewardScript:
		if len(raw) != 1+CredentialLength {
			return Address{}, fmt.Errorf("%w: reward address must be %d bytes, got %d", ErrAddress, 1+CredentialLength, len(raw))
		}
		st := cred(1, typ&1 == 1)
		a.Stake = &st
	case AddrByron:
		network, err := checkByron(raw)
		if err != nil {
			return Address{}, err
		}
		a.Byron = true
		a.Network = network
	default:
		return Address{}, fmt.Errorf("%w: unknown header type %d", ErrAddress, typ)
	}
	return a, nil
}

// decodePointer reads three variable-length naturals (7 bits per byte, big-endian, high bit =
// more bytes follow) that must use up b exactly.
func decodePointer(b []byte) (Pointer, error) {
	var vals [3]uint64
	for i := range vals {
		var v uint64
		for {
			if len(b) == 0 {
				return Pointer{}, fmt.Errorf("%w: truncated pointer", ErrAddress)
			}
			c := b[0]
			b = b[1:]
			if v > (1<<64-1)>>7 {
				return Pointer{}, fmt.Errorf("%w: pointer value overflows 64 bits", ErrAddress)
			}
			v = v<<7 | uint64(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		vals[i] = v
	}
	if len(b) != 0 {
		return Pointer{}, fmt.Errorf("%w: %d trailing bytes after pointer", ErrAddress, len(b))
	}
	return Pointer{Slot: vals[0], TxIndex: vals[1], CertIndex: vals[2]}, nil
}

// checkByron validates a Byron address: CBOR [tag 24(bytes payload), crc32(payload)] where the
// payload is [root (28 bytes), attributes map, address type]. It returns the network: testnet
// if the protocol-magic attribute (key 2) names a non-mainnet magic, else mainnet.
func checkByron(raw []byte) (int, error) {
	if len(raw) > maxByronAddressBytes {
		return 0, fmt.Errorf("%w: Byron address longer than %d bytes", ErrAddress, maxByronAddressBytes)
	}
	var outer []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &outer); err != nil || len(outer) != 2 {
		return 0, fmt.Errorf("%w: Byron address is not a 2-element CBOR array", ErrAddress)
	}
	var tagged cbor.RawTag
	if err := decMode.Unmarshal(outer[0], &tagged); err != nil || tagged.Number != 24 {
		return 0, fmt.Errorf("%w: Byron address payload is not tag 24", ErrAddress)
	}
	var payload []byte
	if err := decMode.Unmarshal(tagged.Content, &payload); err != nil {
		return 0, fmt.Errorf("%w: Byron address payload is not a byte string", ErrAddress)
	}
	var crc uint64
	if err := decMode.Unmarshal(outer[1], &crc); err != nil {
		return 0, fmt.Errorf("%w: Byron address checksum is not an integer", ErrAddress)
	}
	if crc != uint64(crc32.ChecksumIEEE(payload)) {
		return 0, fmt.Errorf("%w: Byron address checksum mismatch", ErrAddress)
	}
	var inner []cbor.RawMessage
	if err := decMode.Unmarshal(payload, &inner); err != nil || len(inner) != 3 {
		return 0, fmt.Errorf("%w: Byron address payload is not a 3-element array", ErrAddress)
	}
	var root []byte
	if err := decMode.Unmarshal(inner[0], &root); err != nil || len(root) != CredentialLength {
		return 0, fmt.Errorf("%w: Byron address root must be %d bytes", ErrAddress, CredentialLength)
	}
	var attrs map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(inner[1], &attrs); err != nil {
		return 0, fmt.Errorf("%w: Byron address attributes: %v", ErrAddress, err)
	}
	var kind uint64
	if err := decMode.Unmarshal(inner[2], &kind); err != nil {
		return 0, fmt.Errorf("%w: Byron address type: %v", ErrAddress, err)
	}
	network := NetworkMainnet
	if m, ok := attrs[2]; ok {
		var enc []byte
		var magic uint64
		if err := decMode.Unmarshal(m, &enc); err != nil {
			return 0, fmt.Errorf("%w: Byron protocol magic attribute: %v", ErrAddress, err)
		}
		if err := decMode.Unmarshal(enc, &magic); err != nil {
			return 0, fmt.Errorf("%w: Byron protocol magic attribute: %v", ErrAddress, err)
		}
		if magic != byronMainnetMagic {
			network = NetworkTestnet
		}
	}
	return network, nil
}

// IsReward reports whether a is a reward (stake) address, types 14–15.
func (a Address) IsReward() bool {
	return !a.Byron && (a.Type == AddrRewardKey || a.Type == AddrRewardScript)
}

// IsScriptPayment reports whether the payment part is a script hash (types 1, 3, 5, 7). Reward
// and Byron addresses have no payment credential and report false.
func (a Address) IsScriptPayment() bool {
	return !a.Byron && a.Type >= 0 && a.Type <= AddrEnterpriseScript && a.Payment.Script
}

// StakeKey returns a stable key for grouping holders by stake credential. ok is true when the
// key names a stake credential ("stake:<hex>" for a key hash, "script-stake:<hex>" for a script
// hash — base and reward addresses). Otherwise it falls back, with ok false, to
// "pointer:<slot>.<tx>.<cert>" for pointer addresses (the pointer identifies one stake
// credential, but resolving it needs the chain), to "payment:<hex>" / "script-payment:<hex>"
// for enterprise addresses, and to "byron:<base58>" for Byron addresses.
func (a Address) StakeKey() (string, bool) {
	switch {
	case a.Byron:
		return "byron:" + base58Encode(a.Raw), false
	case a.Stake != nil:
		if a.Stake.Script {
			return "script-stake:" + a.Stake.Hex(), true
		}
		return "stake:" + a.Stake.Hex(), true
	case a.Pointer != nil:
		return "pointer:" + strconv.FormatUint(a.Pointer.Slot, 10) + "." +
			strconv.FormatUint(a.Pointer.TxIndex, 10) + "." + strconv.FormatUint(a.Pointer.CertIndex, 10), false
	case len(a.Payment.Hash) > 0:
		if a.Payment.Script {
			return "script-payment:" + a.Payment.Hex(), false
		}
		return "payment:" + a.Payment.Hex(), false
	default:
		return "raw:" + hex.EncodeToString(a.Raw), false
	}
}

// Bech32 returns the canonical text form: bech32 with the prefix for the address kind and its
// header network (addr/addr_test, stake/stake_test), or base58 for Byron addresses. The zero
// Address yields "".
func (a Address) Bech32() string {
	if len(a.Raw) == 0 {
		return ""
	}
	if a.Byron {
		return base58Encode(a.Raw)
	}
	hrp := "addr"
	if a.IsReward() {
		hrp = "stake"
	}
	if a.Network != NetworkMainnet {
		hrp += "_test"
	}
	return mustEncodeBech32(hrp, a.Raw)
}

// String is Bech32.
func (a Address) String() string { return a.Bech32() }

// Hex returns the raw address bytes in lower-case hex.
func (a Address) Hex() string { return hex.EncodeToString(a.Raw) }

// Equal compares the decoded address bytes (so text forms that differ in case compare equal).
func (a Address) Equal(other Address) bool {
	return len(a.Raw) > 0 && bytes.Equal(a.Raw, other.Raw)
}

// NetworkName returns "mainnet", "testnet" or "unknown".
func (a Address) NetworkName() string {
	switch a.Network {
	case NetworkMainnet:
		return "mainnet"
	case NetworkTestnet:
		return "testnet"
	default:
		return "unknown"
	}
}

// NewShelleyAddress builds a Shelley address of header type typ on network (0 testnet,
// 1 mainnet) from 28-byte credential hashes: base types (0–3) take payment and stake,
// enterprise types (6–7) payment only, reward types (14–15) stake only. Pointer addresses are
// not built.
func NewShelleyAddress(typ, network int, payment, stake []byte) (Address, error) {
	if network < 0 || network > 0x0f {
		return Address{}, fmt.Errorf("%w: network %d does not fit the header", ErrAddress, network)
	}
	var parts [][]byte
	switch typ {
	case AddrBaseKeyKey, AddrBaseScriptKey, AddrBaseKeyScript, AddrBaseScriptScript:
		parts = [][]byte{payment, stake}
	case AddrEnterpriseKey, AddrEnterpriseScript:
		parts = [][]byte{payment}
		if stake != nil {
			return Address{}, fmt.Errorf("%w: an enterprise address has no stake credential", ErrAddress)
		}
	case AddrRewardKey, AddrRewardScript:
		parts = [][]byte{stake}
		if payment != nil {
			return Address{}, fmt.Errorf("%w: a reward address has no payment credential", ErrAddress)
		}
	default:
		return Address{}, fmt.Errorf("%w: cannot build header type %d", ErrAddress, typ)
	}
	raw := []byte{byte(typ<<4 | network)}
	for _, p := range parts {
		if len(p) != CredentialLength {
			return Address{}, fmt.Errorf("%w: credentials must be %d bytes", ErrAddress, CredentialLength)
		}
		raw = append(raw, p...)
	}
	return AddressFromBytes(raw)
}
