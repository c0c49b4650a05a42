package cardano

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
)

// tagEncodedCBOR wraps CBOR carried as a byte string (inline datums, reference scripts).
const tagEncodedCBOR = 24

// Plutus data tags: constructors 0–6 are tags 121–127, 7–127 are tags 1280–1400, any other
// index is tag 102 [index, fields].
const (
	tagConstr0     = 121
	tagConstr7     = 1280
	tagConstrAny   = 102
	maxChunk       = 64 // Plutus data byte strings come in chunks of at most 64 bytes
	maxEncodeDepth = maxMetadataDepth
)

// appendHead appends a definite-length CBOR head in its shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// Constr is a Plutus data constructor application: alternative Index of a data type with its
// Fields (Plutus data values).
type Constr struct {
	Index  uint64
	Fields []any
}

// EncodeData writes a Plutus data value (a datum or redeemer): Constr, integers (int, int64,
// uint64, *big.Int), []byte, []any (lists) and MetadataMap (maps, any data as keys). Byte strings
// longer than 64 bytes are written in 64-byte chunks, as the ledger requires.
func EncodeData(v any) ([]byte, error) { return appendValue(nil, v, true, 0) }

// encodeMetadatum writes a transaction metadata value: the types DecodeTx returns (integers,
// []byte, string, []any, MetadataMap).
func encodeMetadatum(v any) ([]byte, error) { return appendValue(nil, v, false, 0) }

// appendValue appends a metadatum (plutus false) or a Plutus data value (plutus true).
func appendValue(b []byte, v any, plutus bool, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxEncodeDepth)
	}
	switch x := v.(type) {
	case int:
		return appendInt(b, big.NewInt(int64(x))), nil
	case int64:
		return appendInt(b, big.NewInt(x)), nil
	case uint64:
		return appendInt(b, new(big.Int).SetUint64(x)), nil
	case *big.Int:
		if x == nil {
			return nil, errors.New("nil integer")
		}
		return appendInt(b, x), nil
	case []byte:
		return appendChunked(b, majorBytes, x, plutus), nil
	case string:
		if plutus {
			return nil, errors.New("text strings are not Plutus data")
		}
		return append(appendHead(b, majorText, uint64(len(x))), x...), nil
	case []any:
		b = appendHead(b, majorArray, uint64(len(x)))
		return appendValues(b, x, plutus, depth)
	case MetadataMap:
		b = appendHead(b, majorMap, uint64(len(x)))
		var err error
		for _, p := range x {
			if b, err = appendValue(b, p.Key, plutus, depth+1); err != nil {
				return nil, err
			}
			if b, err = appendValue(b, p.Value, plutus, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case Constr:
		if !plutus {
			return nil, errors.New("metadata has no constructors")
		}
		return appendConstr(b, x, depth)
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

func appendValues(b []byte, vs []any, plutus bool, depth int) ([]byte, error) {
	var err error
	for _, v := range vs {
		if b, err = appendValue(b, v, plutus, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendConstr(b []byte, c Constr, depth int) ([]byte, error) {
	switch {
	case c.Index <= 6:
		b = appendHead(b, majorTag, tagConstr0+c.Index)
	case c.Index <= 127:
		b = appendHead(b, majorTag, tagConstr7+c.Index-7)
	default:
		b = appendHead(appendHead(appendHead(b, majorTag, tagConstrAny), majorArray, 2), majorUint, c.Index)
	}
	b = appendHead(b, majorArray, uint64(len(c.Fields)))
	return appendValues(b, c.Fields, true, depth)
}

// appendInt writes an integer: a plain head when it fits 64 bits, else a bignum (tag 2 or 3).
func appendInt(b []byte, n *big.Int) []byte {
	if n.Sign() >= 0 {
		if n.IsUint64() {
			return appendHead(b, majorUint, n.Uint64())
		}
		return appendChunked(appendHead(b, majorTag, 2), majorBytes, n.Bytes(), false)
	}
	m := new(big.Int).Neg(n) // -1 - n = |n| - 1
	m.Sub(m, big.NewInt(1))
	if m.IsUint64() {
		return appendHead(b, majorNegInt, m.Uint64())
	}
	return appendChunked(appendHead(b, majorTag, 3), majorBytes, m.Bytes(), false)
}

// appendChunked writes a byte string, as indefinite-length 64-byte chunks when chunk is set and
// the data is longer than one chunk.
func appendChunked(b []byte, major byte, data []byte, chunk bool) []byte {
	if !chunk || len(data) <= maxChunk {
		return append(appendHead(b, major, uint64(len(data))), data...)
	}
	b = append(b, major<<5|31)
	for c := range slices.Chunk(data, maxChunk) {
		b = append(appendHead(b, major, uint64(len(c))), c...)
	}
	return append(b, 0xff)
}
