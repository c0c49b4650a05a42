package blockfrostemu

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"golang.org/x/crypto/blake2b"

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

// EncodeTx builds the CBOR of a signed Conway transaction (map-form outputs, tag-258 sets, a
// placeholder vkey witness). Its id is what /tx/submit answers and what the cardano package
// computes; the witness is not a real signature, which the emulator does not check.
func EncodeTx(s Signed) ([]byte, error) {
	if len(s.Outputs) == 0 {
		return nil, errors.New("blockfrostemu: a transaction needs at least one output")
	}
	ins := s.Inputs
	if len(ins) == 0 {
		ins = []Input{{TxHash: fmt.Sprintf("%x", seedHash32("signed/funding/"+s.Seed))}}
	}
	var body fieldMap
	inputs, err := encodeInputs(ins)
	if err != nil {
		return nil, err
	}
	body.add(0, inputs)
	outs := cborAppendHead(nil, 4, uint64(len(s.Outputs)))
	for i, o := range s.Outputs {
		enc, err := encodeOutput(o)
		if err != nil {
			return nil, fmt.Errorf("blockfrostemu: output %d: %w", i, err)
		}
		outs = append(outs, enc...)
	}
	body.add(1, outs)
	fee := s.Fee
	if fee == 0 {
		fee = 200_000
	}
	body.add(2, cborAppendHead(nil, 0, fee))
	for _, slot := range []*int64{s.InvalidHereafter, s.InvalidBefore} {
		if slot != nil && *slot < 0 {
			return nil, errors.New("blockfrostemu: validity slots must be ≥ 0")
		}
	}
	if s.InvalidHereafter != nil {
		body.add(3, cborAppendHead(nil, 0, uint64(*s.InvalidHereafter)))
	}
	aux, err := encodeAux(s.Metadata)
	if err != nil {
		return nil, err
	}
	if len(aux) != 1 || aux[0] != 0xf6 { // not null: the body commits to the metadata
		sum := blake2b.Sum256(aux)
		body.add(7, append(cborAppendHead(nil, 2, 32), sum[:]...))
	}
	if s.InvalidBefore != nil {
		body.add(8, cborAppendHead(nil, 0, uint64(*s.InvalidBefore)))
	}
	if s.CollateralReturn != nil {
		col, _ := encodeInputs([]Input{{TxHash: fmt.Sprintf("%x", seedHash32("signed/collateral/"+s.Seed))}})
		body.add(13, col)
	}
	if s.NetworkID != nil {
		body.add(15, cborAppendHead(nil, 0, *s.NetworkID))
	}
	if s.CollateralReturn != nil {
		enc, err := encodeOutput(*s.CollateralReturn)
		if err != nil {
			return nil, fmt.Errorf("blockfrostemu: collateral return: %w", err)
		}
		body.add(16, enc)
	}
	tx := cborAppendHead(nil, 4, 4)
	tx = append(tx, body.bytes()...)
	tx = append(tx, placeholderWitnesses()...)
	tx = append(tx, map[bool]byte{true: 0xf5, false: 0xf4}[!s.Invalid])
	return append(tx, aux...), nil
}

// fieldMap is a CBOR map with unsigned keys, added in ascending order.
type fieldMap struct {
	n    int
	data []byte
}

func (m *fieldMap) add(key uint64, value []byte) {
	m.n++
	m.data = append(cborAppendHead(m.data, 0, key), value...)
}

func (m *fieldMap) bytes() []byte { return append(cborAppendHead(nil, 5, uint64(m.n)), m.data...) }

func encodeInputs(ins []Input) ([]byte, error) {
	b := cborAppendHead(nil, 6, 258)
	b = cborAppendHead(b, 4, uint64(len(ins)))
	for i, in := range ins {
		if !isHex(in.TxHash, 64) || in.OutputIndex < 0 {
			return nil, fmt.Errorf("blockfrostemu: input %d: want a 64-hex tx hash and an index ≥ 0", i)
		}
		id, _ := hex.DecodeString(in.TxHash)
		b = cborAppendHead(b, 4, 2)
		b = cborAppendBytes(b, id)
		b = cborAppendHead(b, 0, uint64(in.OutputIndex))
	}
	return b, nil
}

// encodeOutput writes the post-Alonzo map form {0: address, 1: value}.
func encodeOutput(o Output) ([]byte, error) {
	a, err := cardano.ParseAddress(o.Address)
	if err != nil {
		return nil, err
	}
	b := cborAppendHead(nil, 5, 2)
	b = cborAppendHead(b, 0, 0)
	b = cborAppendBytes(b, a.Raw)
	b = cborAppendHead(b, 0, 1)
	if len(o.Assets) == 0 {
		return cborAppendHead(b, 0, o.Lovelace), nil
	}
	policies := map[string]map[string]uint64{}
	for _, as := range o.Assets {
		if len(as.Unit) < 56 || !isHex(as.Unit, -1) || len(as.Unit)%2 != 0 {
			return nil, fmt.Errorf("asset unit %q is not policy id + asset name hex", as.Unit)
		}
		p, n := as.Unit[:56], as.Unit[56:]
		if policies[p] == nil {
			policies[p] = map[string]uint64{}
		}
		policies[p][n] += as.Quantity
	}
	b = cborAppendHead(b, 4, 2)
	b = cborAppendHead(b, 0, o.Lovelace)
	b = cborAppendHead(b, 5, uint64(len(policies)))
	for _, p := range sortedKeys(policies) {
		b = cborAppendBytes(b, mustHex(p))
		names := policies[p]
		b = cborAppendHead(b, 5, uint64(len(names)))
		for _, n := range sortedKeys(names) {
			b = cborAppendBytes(b, mustHex(n))
			b = cborAppendHead(b, 0, names[n])
		}
	}
	return b, nil
}

// placeholderWitnesses is {0: set of one [vkey, signature]} with zero bytes.
func placeholderWitnesses() []byte {
	b := cborAppendHead(nil, 5, 1)
	b = cborAppendHead(b, 0, 0)
	b = cborAppendHead(b, 6, 258)
	b = cborAppendHead(b, 4, 1)
	b = cborAppendHead(b, 4, 2)
	b = cborAppendBytes(b, make([]byte, 32))
	return cborAppendBytes(b, make([]byte, 64))
}

// encodeAux writes null, or tag 259 {0: {label: metadatum}}.
func encodeAux(md []Metadata) ([]byte, error) {
	if len(md) == 0 {
		return []byte{0xf6}, nil
	}
	b := cborAppendHead(nil, 6, 259)
	b = cborAppendHead(b, 5, 1)
	b = cborAppendHead(b, 0, 0)
	b = cborAppendHead(b, 5, uint64(len(md)))
	for _, m := range md {
		b = cborAppendHead(b, 0, m.Label)
		var err error
		if b, err = appendMetadatum(b, m.JSON); err != nil {
			return nil, fmt.Errorf("blockfrostemu: metadata label %d: %w", m.Label, err)
		}
	}
	return b, nil
}

func appendMetadatum(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return cborAppendText(b, x), nil
	case int:
		return cborAppendInt(b, int64(x)), nil
	case int64:
		return cborAppendInt(b, x), nil
	case uint64:
		return cborAppendHead(b, 0, x), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return cborAppendInt(b, n), nil
		}
		if n, ok := new(big.Int).SetString(string(x), 10); ok && n.IsUint64() {
			return cborAppendHead(b, 0, n.Uint64()), nil
		}
		return nil, fmt.Errorf("number %s is not a 64-bit integer", x)
	case []string:
		b = cborAppendHead(b, 4, uint64(len(x)))
		for _, s := range x {
			b = cborAppendText(b, s)
		}
		return b, nil
	case []any:
		b = cborAppendHead(b, 4, uint64(len(x)))
		for _, e := range x {
			var err error
			if b, err = appendMetadatum(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		b = cborAppendHead(b, 5, uint64(len(x)))
		for _, k := range sortedKeys(x) {
			b = cborAppendText(b, k)
			var err error
			if b, err = appendMetadatum(b, x[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported metadata value %T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mustHex decodes hex that was checked already.
func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}
