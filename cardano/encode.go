package cardano

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// TxBody is an unsigned payment transaction: what EncodeTx and SignTx write. Outputs use their
// Address, Lovelace and Assets (datums and script references are not written).
type TxBody struct {
	Inputs  []Input
	Outputs []Output
	Fee     uint64
	TTL     *uint64  // body key 3 (invalid_hereafter); nil: none
	Memo    []string // CIP-20 (label 674) "msg" lines, each at most 64 bytes; nil: no auxiliary data
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
// auxiliary data (CBOR null when there is no memo; otherwise the body commits to its hash).
func EncodeTxBody(b TxBody) (body, aux []byte, err error) {
	if len(b.Inputs) == 0 || len(b.Outputs) == 0 {
		return nil, nil, errors.New("cardano: a transaction needs inputs and outputs")
	}
	ins := make([]any, len(b.Inputs))
	for i, in := range b.Inputs {
		id, err := hex.DecodeString(in.TxID)
		if err != nil || len(id) != 32 {
			return nil, nil, fmt.Errorf("cardano: input %d: tx id must be 64 hex characters", i)
		}
		ins[i] = []any{id, uint64(in.Index)}
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
		bodyInputs:  cbor.Tag{Number: tagSet, Content: ins},
		bodyOutputs: outs,
		bodyFee:     b.Fee,
	}
	if b.TTL != nil {
		fields[bodyTTL] = *b.TTL
	}
	aux = []byte{0xf6}
	if len(b.Memo) > 0 {
		if aux, err = memoAux(b.Memo); err != nil {
			return nil, nil, err
		}
		sum := blake2b.Sum256(aux)
		fields[bodyAuxDataHash] = sum[:]
	}
	body, err = encMode.Marshal(fields)
	return body, aux, err
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

// memoAux is the Alonzo+ auxiliary data tag 259 {0: {674: {"msg": [lines]}}}.
func memoAux(lines []string) ([]byte, error) {
	for i, l := range lines {
		if len(l) > maxMemoLine || !utf8.ValidString(l) {
			return nil, fmt.Errorf("cardano: memo line %d is not UTF-8 of at most %d bytes (see MemoLines)", i, maxMemoLine)
		}
	}
	md := map[uint64]any{CIP20Label: map[string]any{"msg": lines}}
	return encMode.Marshal(cbor.Tag{Number: tagAuxData, Content: map[uint64]any{0: md}})
}

// SignTx encodes the body and signs its id with key: the Conway transaction
// [body, {0: set of [vkey, signature]}, true, auxiliary data], ready for /tx/submit.
func SignTx(b TxBody, key ed25519.PrivateKey) (tx []byte, id [32]byte, err error) {
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
	tx, err = encMode.Marshal([]any{cbor.RawMessage(body), wits, true, cbor.RawMessage(aux)})
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
