package blockfrostemu

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"

	"github.com/tbackend/tbackend/cardano"
)

// Signed describes a transaction for EncodeTx: what a wallet would hand a dapp to pay an invoice.
type Signed struct {
	// Inputs are spent by (TxHash, OutputIndex); the other Input fields are ignored. Without
	// inputs, one funding input derived from Seed is used (the emulator takes unknown inputs as
	// funded, and balances them).
	Inputs           []Input
	Outputs          []Output // Address, Lovelace and Assets are encoded
	CollateralReturn *Output  // adds a collateral input too
	Fee              uint64   // 0 means 200000
	InvalidBefore    *int64
	InvalidHereafter *int64
	NetworkID        *uint64
	// Metadata values are JSON-like: strings, integers (int, int64, uint64, json.Number), []any,
	// []string and map[string]any (CIP20 builds label 674).
	Metadata []Metadata
	Invalid  bool   // is_valid false: the scripts failed, only collateral moves
	Seed     string // varies the funding input, so equal specs get different ids
}

// signer signs every EncodeTx transaction: a fixed key, since the emulator checks no
// signatures; the witness is still a real one, as a wallet would produce.
var signer = ed25519.NewKeyFromSeed(seedHash32("signed/key"))

// EncodeTx builds the CBOR of a signed Conway transaction with the cardano package. Its id is
// what /tx/submit answers and what cardano.DecodeTx computes.
func EncodeTx(s Signed) ([]byte, error) {
	if len(s.Outputs) == 0 {
		return nil, errors.New("blockfrostemu: a transaction needs at least one output")
	}
	body, err := s.body()
	if err != nil {
		return nil, fmt.Errorf("blockfrostemu: %w", err)
	}
	tx, _, err := cardano.EncodeSignedTx(body, signer, !s.Invalid)
	if err != nil {
		return nil, fmt.Errorf("blockfrostemu: %w", err)
	}
	return tx, nil
}

// TxID returns the id of a serialised transaction (hex), or why it does not decode.
func TxID(raw []byte) (string, error) {
	tx, err := cardano.DecodeTx(raw)
	if err != nil {
		return "", err
	}
	return tx.IDHex(), nil
}

func (s Signed) body() (cardano.TxBody, error) {
	ins := s.Inputs
	if len(ins) == 0 {
		ins = []Input{{TxHash: hex.EncodeToString(seedHash32("signed/funding/" + s.Seed))}}
	}
	b := cardano.TxBody{Fee: s.Fee, NetworkID: s.NetworkID}
	if b.Fee == 0 {
		b.Fee = 200_000
	}
	var err error
	if b.Inputs, err = cardanoInputs(ins); err != nil {
		return b, err
	}
	for i, o := range s.Outputs {
		co, err := cardanoOutput(o)
		if err != nil {
			return b, fmt.Errorf("output %d: %w", i, err)
		}
		b.Outputs = append(b.Outputs, co)
	}
	if b.TTL, err = slotOf(s.InvalidHereafter); err != nil {
		return b, err
	}
	if b.ValidityStart, err = slotOf(s.InvalidBefore); err != nil {
		return b, err
	}
	if s.CollateralReturn != nil {
		b.Collateral, _ = cardanoInputs([]Input{{TxHash: hex.EncodeToString(seedHash32("signed/collateral/" + s.Seed))}})
		co, err := cardanoOutput(*s.CollateralReturn)
		if err != nil {
			return b, fmt.Errorf("collateral return: %w", err)
		}
		b.CollateralReturn = &co
	}
	b.Metadata, err = metadataValues(s.Metadata)
	return b, err
}

func slotOf(slot *int64) (*uint64, error) {
	if slot == nil {
		return nil, nil
	}
	if *slot < 0 {
		return nil, errors.New("validity slots must be ≥ 0")
	}
	u := uint64(*slot)
	return &u, nil
}

func cardanoInputs(ins []Input) ([]cardano.Input, error) {
	out := make([]cardano.Input, len(ins))
	for i, in := range ins {
		if !isHex(in.TxHash, 64) || in.OutputIndex < 0 {
			return nil, fmt.Errorf("input %d: want a 64-hex tx hash and an index ≥ 0", i)
		}
		out[i] = cardano.Input{TxID: in.TxHash, Index: uint32(in.OutputIndex)}
	}
	return out, nil
}

func cardanoOutput(o Output) (cardano.Output, error) {
	a, err := cardano.ParseAddress(o.Address)
	if err != nil {
		return cardano.Output{}, err
	}
	out := cardano.Output{Address: a, Lovelace: o.Lovelace}
	for _, as := range o.Assets {
		if len(as.Unit) < 56 || !isHex(as.Unit, -1) {
			return cardano.Output{}, fmt.Errorf("asset unit %q is not policy id + asset name hex", as.Unit)
		}
		if out.Assets == nil {
			out.Assets = map[string]map[string]uint64{}
		}
		p, n := as.Unit[:56], as.Unit[56:]
		if out.Assets[p] == nil {
			out.Assets[p] = map[string]uint64{}
		}
		out.Assets[p][n] += as.Quantity
	}
	return out, nil
}

// metadataValues turns the JSON-like Metadata into the metadatum values cardano encodes.
func metadataValues(md []Metadata) (map[uint64]any, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[uint64]any, len(md))
	for _, m := range md {
		v, err := metadatum(m.JSON)
		if err != nil {
			return nil, fmt.Errorf("metadata label %d: %w", m.Label, err)
		}
		out[m.Label] = v
	}
	return out, nil
}

func metadatum(v any) (any, error) {
	switch x := v.(type) {
	case string, int64, uint64:
		return x, nil
	case int:
		return int64(x), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, nil
		}
		if n, ok := new(big.Int).SetString(string(x), 10); ok && n.IsUint64() {
			return n.Uint64(), nil
		}
		return nil, fmt.Errorf("number %s is not a 64-bit integer", x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = metadatum(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(cardano.MetadataMap, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			e, err := metadatum(x[k])
			if err != nil {
				return nil, err
			}
			out = append(out, cardano.MetadataPair{Key: k, Value: e})
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported metadata value %T", v)
}
