package cardano

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// TxBody is an unsigned transaction: what EncodeTxBody, SignTx and EncodeSignedTx write.
// Outputs use their Address, Lovelace and Assets (datums and script references are not
// written).
type TxBody struct {
	Inputs           []Input
	Outputs          []Output
	Fee              uint64
	TTL              *uint64  // body key 3 (invalid_hereafter); nil: none
	ValidityStart    *uint64  // body key 8 (invalid_before); nil: none
	Collateral       []Input  // body key 13; nil: none
	NetworkID        *uint64  // body key 15; nil: none
	CollateralReturn *Output  // body key 16; nil: none
	Memo             []string // CIP-20 (label 674) "msg" lines, each at most 64 bytes
	// Metadata are further labels with values of the types DecodeTx returns (see MetadataMap);
	// label 674 belongs to Memo when Memo is set. Memo and Metadata both nil: no auxiliary data.
	Metadata map[uint64]any
}

// maxMemoLine is CIP-20's limit on one message line (a metadata string), in bytes.
const maxMemoLine = 64

// encMode writes deterministic CBOR (definite lengths, map keys in canonical order), so the same
// body always hashes to the same id.
var encMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("cardano: invalid CBOR encoding options: " + err.Error())
	}
	return em
}()

// MemoLines splits a message into CIP-20 lines of at most 64 bytes, never inside a UTF-8
// character. The empty message has no lines.
func MemoLines(msg string) []string {
	var lines []string
	for len(msg) > maxMemoLine {
		cut := maxMemoLine
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		lines = append(lines, msg[:cut])
		msg = msg[cut:]
	}
	if msg != "" {
		lines = append(lines, msg)
	}
	return lines
}

// EncodeTxBody returns the CBOR of the body (its blake2b-256 is the transaction id) and of the
// auxiliary data (CBOR null without memo and metadata; otherwise the body commits to its hash).
func EncodeTxBody(b TxBody) (body, aux []byte, err error) {
	if len(b.Inputs) == 0 || len(b.Outputs) == 0 {
		return nil, nil, errors.New("cardano: a transaction needs inputs and outputs")
	}
	ins, err := inputSet(b.Inputs)
	if err != nil {
		return nil, nil, fmt.Errorf("cardano: %w", err)
	}
	outs := make([]any, len(b.Outputs))
	for i, o := range b.Outputs {
		enc, err := outputValue(o)
		if err != nil {
			return nil, nil, fmt.Errorf("cardano: output %d: %w", i, err)
		}
		outs[i] = enc
	}
	fields := map[uint64]any{
		bodyInputs:  ins,
		bodyOutputs: outs,
		bodyFee:     b.Fee,
	}
	if err := b.optionalFields(fields); err != nil {
		return nil, nil, err
	}
	if aux, err = b.auxData(); err != nil {
		return nil, nil, err
	}
	if !isNull(aux) {
		sum := blake2b.Sum256(aux)
		fields[bodyAuxDataHash] = sum[:]
	}
	body, err = encMode.Marshal(fields)
	return body, aux, err
}

// optionalFields adds the body keys that are present only when set.
func (b TxBody) optionalFields(fields map[uint64]any) error {
	for key, v := range map[uint64]*uint64{bodyTTL: b.TTL, bodyValidityStart: b.ValidityStart, bodyNetworkID: b.NetworkID} {
		if v != nil {
			fields[key] = *v
		}
	}
	if len(b.Collateral) > 0 {
		ins, err := inputSet(b.Collateral)
		if err != nil {
			return fmt.Errorf("cardano: collateral %w", err)
		}
		fields[bodyCollateral] = ins
	}
	if b.CollateralReturn != nil {
		enc, err := outputValue(*b.CollateralReturn)
		if err != nil {
			return fmt.Errorf("cardano: collateral return: %w", err)
		}
		fields[bodyCollateralReturn] = enc
	}
	return nil
}

// inputSet is a tag-258 set of [tx id, index] pairs.
func inputSet(inputs []Input) (cbor.Tag, error) {
	ins := make([]any, len(inputs))
	for i, in := range inputs {
		id, err := hex.DecodeString(in.TxID)
		if err != nil || len(id) != 32 {
			return cbor.Tag{}, fmt.Errorf("input %d: tx id must be 64 hex characters", i)
		}
		ins[i] = []any{id, uint64(in.Index)}
	}
	return cbor.Tag{Number: tagSet, Content: ins}, nil
}

// outputValue is the post-Alonzo map form {0: address, 1: coin or [coin, multiasset]}.
func outputValue(o Output) (map[uint64]any, error) {
	if len(o.Address.Raw) == 0 {
		return nil, errors.New("no address")
	}
	out := map[uint64]any{0: o.Address.Raw, 1: o.Lovelace}
	if len(o.Assets) == 0 {
		return out, nil
	}
	ma := map[cbor.ByteString]map[cbor.ByteString]uint64{}
	for policy, names := range o.Assets {
		p, err := hex.DecodeString(policy)
		if err != nil || len(p) != PolicyIDLength {
			return nil, fmt.Errorf("policy id %q is not %d bytes of hex", policy, PolicyIDLength)
		}
		inner := map[cbor.ByteString]uint64{}
		for name, q := range names {
			n, err := hex.DecodeString(name)
			if err != nil || len(n) > MaxAssetNameLength {
				return nil, fmt.Errorf("asset name %q is not hex of at most %d bytes", name, MaxAssetNameLength)
			}
			if q > 0 {
				inner[cbor.ByteString(n)] = q
			}
		}
		if len(inner) > 0 {
			ma[cbor.ByteString(p)] = inner
		}
	}
	if len(ma) > 0 {
		out[1] = []any{o.Lovelace, ma}
	}
	return out, nil
}

// auxData is CBOR null without metadata, else the Alonzo+ auxiliary data tag 259
// {0: {label: metadatum}} with labels in ascending order and the memo under label 674
// ({"msg": [lines]}).
func (b TxBody) auxData() ([]byte, error) {
	if len(b.Memo) == 0 && len(b.Metadata) == 0 {
		return []byte{0xf6}, nil
	}
	md := maps.Clone(b.Metadata)
	if len(b.Memo) > 0 {
		if _, taken := md[CIP20Label]; taken {
			return nil, fmt.Errorf("cardano: label %d holds the memo; do not set it in Metadata too", CIP20Label)
		}
		for i, l := range b.Memo {
			if len(l) > maxMemoLine || !utf8.ValidString(l) {
				return nil, fmt.Errorf("cardano: memo line %d is not UTF-8 of at most %d bytes (see MemoLines)", i, maxMemoLine)
			}
		}
		lines := make([]any, len(b.Memo))
		for i, l := range b.Memo {
			lines[i] = l
		}
		if md == nil {
			md = map[uint64]any{}
		}
		md[CIP20Label] = MetadataMap{{Key: "msg", Value: lines}}
	}
	out := appendHead(appendHead(appendHead(nil, majorTag, tagAuxData), majorMap, 1), majorUint, 0)
	out = appendHead(out, majorMap, uint64(len(md)))
	for _, label := range slices.Sorted(maps.Keys(md)) {
		enc, err := encodeMetadatum(md[label])
		if err != nil {
			return nil, fmt.Errorf("cardano: metadata label %d: %w", label, err)
		}
		out = append(appendHead(out, majorUint, label), enc...)
	}
	return out, nil
}

// SignTx encodes the body and signs its id with key: the Conway transaction
// [body, {0: set of [vkey, signature]}, true, auxiliary data], ready for /tx/submit.
func SignTx(b TxBody, key ed25519.PrivateKey) (tx []byte, id [32]byte, err error) {
	return EncodeSignedTx(b, key, true)
}

// EncodeSignedTx is SignTx with the is_valid flag chosen: false marks a transaction whose
// scripts failed, which the ledger records but of which only the collateral moves.
func EncodeSignedTx(b TxBody, key ed25519.PrivateKey, isValid bool) (tx []byte, id [32]byte, err error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, id, errors.New("cardano: signing key must be an Ed25519 private key")
	}
	body, aux, err := EncodeTxBody(b)
	if err != nil {
		return nil, id, err
	}
	id = blake2b.Sum256(body)
	vkey := key.Public().(ed25519.PublicKey)
	wits := map[uint64]any{0: cbor.Tag{Number: tagSet, Content: []any{[]any{[]byte(vkey), ed25519.Sign(key, id[:])}}}}
	tx, err = encMode.Marshal([]any{cbor.RawMessage(body), wits, isValid, cbor.RawMessage(aux)})
	return tx, id, err
}

// KeyHash is the payment credential of a verification key: its blake2b-224.
func KeyHash(vkey ed25519.PublicKey) []byte {
	h, _ := blake2b.New(CredentialLength, nil) // fixed valid size: never fails
	h.Write(vkey)
	return h.Sum(nil)
}

// EnterpriseAddress is the address of a payment key without a stake part (CIP-19 type 6).
func EnterpriseAddress(vkey ed25519.PublicKey, network int) Address {
	raw := append([]byte{byte(AddrEnterpriseKey<<4) | byte(network&0x0f)}, KeyHash(vkey)...)
	a, _ := AddressFromBytes(raw) // a well-formed type-6 address: never fails
	return a
}
