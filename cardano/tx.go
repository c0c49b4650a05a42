package cardano

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// ErrTx is wrapped by every transaction decoding error.
var ErrTx = errors.New("cardano: invalid transaction")

// Transaction body keys (CDDL, Shelley to Conway) that DecodeTx reads. Other keys (updates,
// script data hash, votes…) are checked for well-formedness only.
const (
	bodyInputs           = 0
	bodyOutputs          = 1
	bodyFee              = 2
	bodyTTL              = 3
	bodyCertificates     = 4
	bodyWithdrawals      = 5
	bodyAuxDataHash      = 7
	bodyValidityStart    = 8
	bodyMint             = 9
	bodyCollateral       = 13
	bodyNetworkID        = 15
	bodyCollateralReturn = 16
	bodyReferenceInputs  = 18
	bodyDonation         = 22
)

// Witness set keys DecodeTx reads: the scripts a transaction reveals and its redeemers.
const (
	witnessNative    = 1
	witnessPlutus1   = 3
	witnessRedeemers = 5
	witnessPlutus2   = 6
	witnessPlutus3   = 7
)

// tagAuxData marks the post-Alonzo auxiliary data map {0: metadata, 1: native scripts, 2–4: Plutus}.
const tagAuxData = 259

// Input is a reference to a transaction output.
type Input struct {
	TxID  string // 32-byte transaction id, lower-case hex
	Index uint32
}

// Output is a transaction output.
type Output struct {
	Address      Address
	Lovelace     uint64
	Assets       map[string]map[string]uint64 // policy id hex → asset name hex → quantity; nil if none
	HasDatum     bool                         // datum hash or inline datum
	HasScriptRef bool                         // reference script (Babbage+)
	DatumHash    []byte                       // the datum's blake2b-256 (for an inline datum too); nil: none
	InlineDatum  []byte                       // the CBOR of an inline datum (Babbage+); nil: none
	ScriptRef    *TxScript                    // the reference script when it decodes (HasScriptRef says one is there)
}

// Quantity returns the amount of unit ("lovelace", or policy id hex followed by asset name hex)
// in the output.
func (o Output) Quantity(unit string) uint64 {
	if unit == "lovelace" {
		return o.Lovelace
	}
	policy, name, ok := splitUnit(unit)
	if !ok {
		return 0
	}
	return o.Assets[policy][name]
}

// splitUnit splits "policy||name" hex into lower-case parts.
func splitUnit(unit string) (policy, name string, ok bool) {
	unit = strings.ToLower(unit)
	if len(unit) < 2*PolicyIDLength || len(unit) > 2*(PolicyIDLength+MaxAssetNameLength) || !isHexString(unit) {
		return "", "", false
	}
	return unit[:2*PolicyIDLength], unit[2*PolicyIDLength:], true
}

// Tx is a decoded signed transaction. Witnesses are checked for well-formedness; of them only
// the scripts and the redeemer count are read, best effort (judging witnesses is the ledger's).
type Tx struct {
	ID               [32]byte // blake2b-256 of the original body bytes
	Inputs           []Input
	Outputs          []Output
	Fee              uint64
	TTL              *uint64 // body key 3: Shelley's ttl / Allegra+'s invalid_hereafter (from Allegra on: valid only in slots < TTL)
	ValidityStart    *uint64 // body key 8: invalid_before (valid only in slots ≥ ValidityStart)
	NetworkID        *uint64
	Mint             map[string]map[string]int64 // policy id hex → asset name hex → minted (negative: burnt); nil if none
	Collateral       []Input
	ReferenceInputs  []Input
	CollateralReturn *Output
	Memo             []string       // CIP-20 (label 674) "msg" lines
	Metadata         map[uint64]any // label → value, see MetadataMap for the value types; nil if none
	IsValid          bool           // false: phase-2 validation failed (4th element false)
	AuxDataHash      []byte         // body key 7: blake2b-256 of the auxiliary data; nil if none
	Certificates     []Certificate  // body key 4, in order
	Withdrawals      []Withdrawal   // body key 5, in wire order
	Donation         uint64         // body key 22: lovelace given to the treasury (Conway)
	Scripts          []TxScript     // the native and Plutus scripts the witnesses reveal (those that decode)
	Redeemers        int            // how many redeemers the witnesses carry
}

// Certificate is one certificate of a transaction body: its CDDL kind (0 stake registration,
// 1 deregistration, 2 delegation, 3 pool registration, 4 pool retirement, 5 genesis delegation,
// 6 MIR, 7–13 Conway's registration, deregistration and delegation forms, 14–18 governance).
type Certificate struct {
	Kind uint64
	// Coin is the deposit (kinds 7, 11, 12, 13) or refund (kind 8) a Conway certificate states;
	// 0 for kinds that state none (the older kinds take the protocol's deposit implicitly).
	Coin uint64
}

// Withdrawal takes rewards from a reward account.
type Withdrawal struct {
	Account  Address // a reward address
	Lovelace uint64
}

// IDHex returns the transaction id in lower-case hex.
func (t *Tx) IDHex() string { return hex.EncodeToString(t.ID[:]) }

// PaidTo sums unit ("lovelace", or policy id hex followed by asset name hex) over the outputs
// this transaction actually creates at addr (compared by address bytes): the regular outputs of
// a valid transaction. A phase-2-invalid transaction (IsValid false) creates none of its
// regular outputs — only its collateral return, which is what PaidTo then counts. The sum
// saturates at the maximum uint64.
func (t *Tx) PaidTo(addr Address, unit string) uint64 {
	var outs []Output
	if t.IsValid {
		outs = t.Outputs
	} else if t.CollateralReturn != nil {
		outs = []Output{*t.CollateralReturn}
	}
	var sum uint64
	for _, o := range outs {
		if !o.Address.Equal(addr) {
			continue
		}
		q := o.Quantity(unit)
		if sum > math.MaxUint64-q {
			return math.MaxUint64
		}
		sum += q
	}
	return sum
}

// DecodeTx decodes a signed transaction: the CBOR array [body, witnesses, auxiliary data]
// (Shelley, Allegra, Mary) or [body, witnesses, is_valid, auxiliary data] (Alonzo to Conway).
// The id is blake2b-256 over the body's original bytes (no re-encoding). Input is limited to
// MaxTxBytes; nesting, collection sizes and duplicate map keys are checked before anything is
// allocated.
func DecodeTx(cborBytes []byte) (*Tx, error) {
	if len(cborBytes) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrTx)
	}
	if len(cborBytes) > MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrTx, len(cborBytes), MaxTxBytes)
	}
	if majorOf(cborBytes) != majorArray {
		return nil, fmt.Errorf("%w: not a CBOR array", ErrTx)
	}
	var top []cbor.RawMessage
	if err := decMode.Unmarshal(cborBytes, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTx, err)
	}
	if len(top) != 3 && len(top) != 4 {
		return nil, fmt.Errorf("%w: top-level array has %d elements, want 3 or 4", ErrTx, len(top))
	}
	body := top[0]
	if majorOf(body) != majorMap {
		return nil, fmt.Errorf("%w: transaction body is not a map", ErrTx)
	}
	if majorOf(top[1]) != majorMap {
		return nil, fmt.Errorf("%w: witness set is not a map", ErrTx)
	}
	tx := &Tx{ID: blake2b.Sum256(body), IsValid: true}
	aux := top[2]
	if len(top) == 4 {
		switch {
		case len(top[2]) == 1 && top[2][0] == 0xf5:
			tx.IsValid = true
		case len(top[2]) == 1 && top[2][0] == 0xf4:
			tx.IsValid = false
		default:
			return nil, fmt.Errorf("%w: third element (is_valid) is not a boolean", ErrTx)
		}
		aux = top[3]
	}
	if err := tx.decodeBody(body); err != nil {
		return nil, err
	}
	tx.readWitnesses(top[1])
	if err := tx.decodeAux(aux); err != nil {
		return nil, fmt.Errorf("%w: auxiliary data: %v", ErrTx, err)
	}
	if err := checkAuxHash(tx.AuxDataHash, aux); err != nil {
		return nil, err
	}
	return tx, nil
}

func (t *Tx) decodeBody(body cbor.RawMessage) error {
	var fields map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("%w: body: %v", ErrTx, err)
	}
	for _, k := range []uint64{bodyInputs, bodyOutputs, bodyFee} {
		if _, ok := fields[k]; !ok {
			return fmt.Errorf("%w: body has no key %d", ErrTx, k)
		}
	}
	var err error
	fail := func(key int, what string, err error) error {
		return fmt.Errorf("%w: body key %d (%s): %v", ErrTx, key, what, err)
	}
	if t.Inputs, err = decodeInputs(fields[bodyInputs]); err != nil {
		return fail(bodyInputs, "inputs", err)
	}
	outs, err := arrayItems(fields[bodyOutputs])
	if err != nil {
		return fail(bodyOutputs, "outputs", err)
	}
	t.Outputs = make([]Output, 0, len(outs))
	for i, raw := range outs {
		o, err := decodeOutput(raw)
		if err != nil {
			return fail(bodyOutputs, "outputs", fmt.Errorf("output %d: %w", i, err))
		}
		t.Outputs = append(t.Outputs, o)
	}
	if t.Fee, err = decodeUint(fields[bodyFee]); err != nil {
		return fail(bodyFee, "fee", err)
	}
	optUint := func(key int, what string, dst **uint64) error {
		raw, ok := fields[uint64(key)]
		if !ok {
			return nil
		}
		v, err := decodeUint(raw)
		if err != nil {
			return fail(key, what, err)
		}
		*dst = &v
		return nil
	}
	if err := optUint(bodyTTL, "ttl", &t.TTL); err != nil {
		return err
	}
	if err := optUint(bodyValidityStart, "validity start", &t.ValidityStart); err != nil {
		return err
	}
	if err := optUint(bodyNetworkID, "network id", &t.NetworkID); err != nil {
		return err
	}
	if raw, ok := fields[bodyAuxDataHash]; ok {
		var h []byte
		if err := decMode.Unmarshal(raw, &h); err != nil || len(h) != 32 {
			return fail(bodyAuxDataHash, "auxiliary data hash", fmt.Errorf("not a 32-byte string"))
		}
		t.AuxDataHash = h
	}
	if raw, ok := fields[bodyMint]; ok {
		if t.Mint, err = decodeMint(raw); err != nil {
			return fail(bodyMint, "mint", err)
		}
	}
	if raw, ok := fields[bodyCollateral]; ok {
		if t.Collateral, err = decodeInputs(raw); err != nil {
			return fail(bodyCollateral, "collateral inputs", err)
		}
	}
	if raw, ok := fields[bodyReferenceInputs]; ok {
		if t.ReferenceInputs, err = decodeInputs(raw); err != nil {
			return fail(bodyReferenceInputs, "reference inputs", err)
		}
	}
	if raw, ok := fields[bodyCertificates]; ok {
		if t.Certificates, err = decodeCertificates(raw); err != nil {
			return fail(bodyCertificates, "certificates", err)
		}
	}
	if raw, ok := fields[bodyWithdrawals]; ok {
		if t.Withdrawals, err = decodeWithdrawals(raw); err != nil {
			return fail(bodyWithdrawals, "withdrawals", err)
		}
	}
	if raw, ok := fields[bodyDonation]; ok {
		if t.Donation, err = decodeUint(raw); err != nil {
			return fail(bodyDonation, "treasury donation", err)
		}
	}
	if raw, ok := fields[bodyCollateralReturn]; ok {
		o, err := decodeOutput(raw)
		if err != nil {
			return fail(bodyCollateralReturn, "collateral return", err)
		}
		t.CollateralReturn = &o
	}
	return nil
}

func decodeUint(raw cbor.RawMessage) (uint64, error) {
	if majorOf(raw) != majorUint {
		return 0, errors.New("expected an unsigned integer")
	}
	var v uint64
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v, nil
}

func decodeBytes(raw cbor.RawMessage) ([]byte, error) {
	if majorOf(raw) != majorBytes {
		return nil, errors.New("expected a byte string")
	}
	var b []byte
	if err := decMode.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeInputs reads an array or tag-258 set of [tx id, index].
func decodeInputs(raw cbor.RawMessage) ([]Input, error) {
	items, err := setItems(raw)
	if err != nil {
		return nil, err
	}
	ins := make([]Input, 0, len(items))
	for i, it := range items {
		pair, err := arrayItems(it)
		if err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("input %d is not [tx id, index]", i)
		}
		id, err := decodeBytes(pair[0])
		if err != nil || len(id) != 32 {
			return nil, fmt.Errorf("input %d: tx id must be 32 bytes", i)
		}
		idx, err := decodeUint(pair[1])
		if err != nil || idx > math.MaxUint32 {
			return nil, fmt.Errorf("input %d: index must be an unsigned 32-bit integer", i)
		}
		ins = append(ins, Input{TxID: hex.EncodeToString(id), Index: uint32(idx)})
	}
	return ins, nil
}

// decodeOutput reads a legacy array output [address, value, ? datum hash] or a post-Alonzo
// map output {0: address, 1: value, ? 2: datum option, ? 3: script ref}.
func decodeOutput(raw cbor.RawMessage) (Output, error) {
	var addrRaw, valueRaw cbor.RawMessage
	var o Output
	switch majorOf(raw) {
	case majorArray:
		items, err := arrayItems(raw)
		if err != nil {
			return Output{}, err
		}
		if len(items) != 2 && len(items) != 3 {
			return Output{}, fmt.Errorf("array output has %d elements, want 2 or 3", len(items))
		}
		addrRaw, valueRaw = items[0], items[1]
		if len(items) == 3 {
			h, err := decodeBytes(items[2])
			if err != nil || len(h) != 32 {
				return Output{}, errors.New("datum hash must be 32 bytes")
			}
			o.HasDatum, o.DatumHash = true, h
		}
	case majorMap:
		var fields map[uint64]cbor.RawMessage
		if err := decMode.Unmarshal(raw, &fields); err != nil {
			return Output{}, err
		}
		var ok bool
		if addrRaw, ok = fields[0]; !ok {
			return Output{}, errors.New("map output without address (key 0)")
		}
		if valueRaw, ok = fields[1]; !ok {
			return Output{}, errors.New("map output without value (key 1)")
		}
		if d, ok := fields[2]; ok {
			if err := o.decodeDatumOption(d); err != nil {
				return Output{}, err
			}
		}
		if ref, ok := fields[3]; ok {
			o.HasScriptRef = true
			if s, err := decodeScriptRef(ref); err == nil {
				o.ScriptRef = &s
			}
		}
	default:
		return Output{}, errors.New("output is neither an array nor a map")
	}
	ab, err := decodeBytes(addrRaw)
	if err != nil {
		return Output{}, fmt.Errorf("address: %w", err)
	}
	if o.Address, err = AddressFromBytes(ab); err != nil {
		return Output{}, err
	}
	if o.Lovelace, o.Assets, err = decodeValue(valueRaw); err != nil {
		return Output{}, fmt.Errorf("value: %w", err)
	}
	return o, nil
}

// decodeValue reads coin or [coin, multiasset].
func decodeValue(raw cbor.RawMessage) (uint64, map[string]map[string]uint64, error) {
	switch majorOf(raw) {
	case majorUint:
		v, err := decodeUint(raw)
		return v, nil, err
	case majorArray:
		items, err := arrayItems(raw)
		if err != nil {
			return 0, nil, err
		}
		if len(items) != 2 {
			return 0, nil, errors.New("value array must be [coin, multiasset]")
		}
		coin, err := decodeUint(items[0])
		if err != nil {
			return 0, nil, fmt.Errorf("coin: %w", err)
		}
		if majorOf(items[1]) != majorMap {
			return 0, nil, errors.New("multiasset is not a map")
		}
		assets, err := decodeMultiAsset(items[1], decodeUint)
		if err != nil {
			return 0, nil, fmt.Errorf("multiasset: %w", err)
		}
		return coin, assets, nil
	default:
		return 0, nil, errors.New("value is neither a coin nor [coin, multiasset]")
	}
}

func decodeMint(raw cbor.RawMessage) (map[string]map[string]int64, error) {
	return decodeMultiAsset(raw, decodeInt)
}

func decodeInt(raw cbor.RawMessage) (int64, error) {
	if m := majorOf(raw); m != majorUint && m != majorNegInt {
		return 0, errors.New("expected an integer")
	}
	var v int64
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// decodeMultiAsset reads policy id → asset name → quantity, returning hex keys (nil if empty).
// Duplicate keys, wrong key sizes and non-integer quantities are errors.
func decodeMultiAsset[Q uint64 | int64](raw cbor.RawMessage, quantity func(cbor.RawMessage) (Q, error)) (map[string]map[string]Q, error) {
	if majorOf(raw) != majorMap {
		return nil, errors.New("not a map")
	}
	var m map[cbor.ByteString]cbor.RawMessage
	if err := decMode.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]map[string]Q, len(m))
	for policy, namesRaw := range m {
		if len(policy) != PolicyIDLength {
			return nil, fmt.Errorf("policy id must be %d bytes, got %d", PolicyIDLength, len(policy))
		}
		if majorOf(namesRaw) != majorMap {
			return nil, errors.New("assets of a policy are not a map")
		}
		var names map[cbor.ByteString]cbor.RawMessage
		if err := decMode.Unmarshal(namesRaw, &names); err != nil {
			return nil, err
		}
		inner := make(map[string]Q, len(names))
		for name, qRaw := range names {
			if len(name) > MaxAssetNameLength {
				return nil, fmt.Errorf("asset name longer than %d bytes", MaxAssetNameLength)
			}
			q, err := quantity(qRaw)
			if err != nil {
				return nil, fmt.Errorf("quantity: %w", err)
			}
			inner[hex.EncodeToString([]byte(name))] = q
		}
		out[hex.EncodeToString([]byte(policy))] = inner
	}
	return out, nil
}

// decodeAux reads auxiliary data: null, a Shelley metadata map, the Allegra/Mary array
// [metadata, native scripts], or the Alonzo+ tag-259 map {0: metadata, …}.
func (t *Tx) decodeAux(raw cbor.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var mdRaw cbor.RawMessage
	switch majorOf(raw) {
	case majorMap:
		mdRaw = raw
	case majorArray:
		items, err := arrayItems(raw)
		if err != nil {
			return err
		}
		if len(items) != 2 {
			return fmt.Errorf("array form has %d elements, want [metadata, scripts]", len(items))
		}
		if majorOf(items[1]) != majorArray {
			return errors.New("array form: scripts are not an array")
		}
		mdRaw = items[0]
	case majorTag:
		var tag cbor.RawTag
		if err := decMode.Unmarshal(raw, &tag); err != nil {
			return err
		}
		if tag.Number != tagAuxData {
			return fmt.Errorf("unexpected tag %d (want 259)", tag.Number)
		}
		if majorOf(tag.Content) != majorMap {
			return errors.New("tag 259 content is not a map")
		}
		var fields map[uint64]cbor.RawMessage
		if err := decMode.Unmarshal(tag.Content, &fields); err != nil {
			return err
		}
		md, ok := fields[0]
		if !ok {
			return nil
		}
		mdRaw = md
	default:
		return errors.New("neither null, a metadata map, [metadata, scripts] nor tag 259")
	}
	if isNull(mdRaw) {
		return nil
	}
	md, err := decodeMetadata(mdRaw)
	if err != nil {
		return err
	}
	if len(md) > 0 {
		t.Metadata = md
		t.Memo = cip20Memo(md)
	}
	return nil
}

// checkAuxHash holds the auxiliary data (where the memo lives) to the hash the body commits to,
// as the ledger does: metadata that is not the signed one must not pass for it.
func checkAuxHash(want []byte, aux cbor.RawMessage) error {
	null := len(aux) == 1 && aux[0] == 0xf6
	switch {
	case want == nil && null:
		return nil
	case want == nil:
		return fmt.Errorf("%w: auxiliary data present but the body has no hash of it (key 7)", ErrTx)
	case null:
		return fmt.Errorf("%w: the body names auxiliary data (key 7) that the transaction lacks", ErrTx)
	}
	if got := blake2b.Sum256(aux); !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: auxiliary data does not match its hash in the body (key 7)", ErrTx)
	}
	return nil
}
