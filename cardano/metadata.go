package cardano

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/fxamacker/cbor/v2"
)

// CIP20Label is the metadata label of CIP-20 transaction messages.
const CIP20Label = 674

// MetadataPair is one entry of a metadata map.
type MetadataPair struct {
	Key   any `json:"k"`
	Value any `json:"v"`
}

// MetadataMap is a metadata map in wire order. Keys may be of any metadatum type (including
// bytes, lists and maps), which is why it is not a Go map.
type MetadataMap []MetadataPair

// Get returns the value of the first entry whose key equals key. Integer keys match across Go
// integer types (int, int64, uint64, *big.Int); []byte keys match by content; strings by value.
func (m MetadataMap) Get(key any) (any, bool) {
	for _, p := range m {
		if metadatumKeyEqual(p.Key, key) {
			return p.Value, true
		}
	}
	return nil, false
}

func metadatumKeyEqual(a, b any) bool {
	if ai, ok := asBigInt(a); ok {
		bi, ok := asBigInt(b)
		return ok && ai.Cmp(bi) == 0
	}
	switch av := a.(type) {
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case []byte:
		bv, ok := b.([]byte)
		return ok && bytes.Equal(av, bv)
	}
	return false
}

func asBigInt(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case int:
		return big.NewInt(int64(x)), true
	case int64:
		return big.NewInt(x), true
	case uint64:
		return new(big.Int).SetUint64(x), true
	case *big.Int:
		if x == nil {
			return nil, false
		}
		return x, true
	}
	return nil, false
}

// decodeMetadata decodes transaction metadata: a map from uint labels to metadata values.
//
// Values are converted to: int64 (integers that fit), uint64 (larger positive integers),
// *big.Int (more negative integers, and CBOR bignums), []byte, string, []any (lists) and
// MetadataMap (maps).
func decodeMetadata(raw cbor.RawMessage) (map[uint64]any, error) {
	pairs, err := mapPairs(raw)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	md := make(map[uint64]any, len(pairs))
	for _, p := range pairs {
		if majorOf(p.key) != majorUint {
			return nil, errors.New("metadata: label is not an unsigned integer")
		}
		var label uint64
		if err := decMode.Unmarshal(p.key, &label); err != nil {
			return nil, fmt.Errorf("metadata label: %w", err)
		}
		if _, dup := md[label]; dup {
			return nil, fmt.Errorf("metadata: duplicate label %d", label)
		}
		v, err := decodeMetadatum(p.value, 0)
		if err != nil {
			return nil, fmt.Errorf("metadata label %d: %w", label, err)
		}
		md[label] = v
	}
	return md, nil
}

func decodeMetadatum(raw cbor.RawMessage, depth int) (any, error) {
	if depth > maxMetadataDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxMetadataDepth)
	}
	major, arg, indef, _, err := cborHead(raw)
	if err != nil {
		return nil, err
	}
	switch major {
	case majorUint:
		if indef {
			return nil, errors.New("malformed integer")
		}
		if arg <= math.MaxInt64 {
			return int64(arg), nil
		}
		return arg, nil
	case majorNegInt:
		if indef {
			return nil, errors.New("malformed integer")
		}
		if arg <= math.MaxInt64 {
			return -1 - int64(arg), nil
		}
		n := new(big.Int).SetUint64(arg)
		return n.Neg(n).Sub(n, big.NewInt(1)), nil
	case majorBytes:
		var b []byte
		if err := decMode.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		return b, nil
	case majorText:
		var s string
		if err := decMode.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return s, nil
	case majorArray:
		items, err := arrayItems(raw)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(items))
		for _, it := range items {
			v, err := decodeMetadatum(it, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case majorMap:
		pairs, err := mapPairs(raw)
		if err != nil {
			return nil, err
		}
		out := make(MetadataMap, 0, len(pairs))
		for _, p := range pairs {
			k, err := decodeMetadatum(p.key, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := decodeMetadatum(p.value, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, MetadataPair{Key: k, Value: v})
		}
		return out, nil
	case majorTag:
		if arg == 2 || arg == 3 {
			var n big.Int
			if err := decMode.Unmarshal(raw, &n); err != nil {
				return nil, err
			}
			return &n, nil
		}
		return nil, fmt.Errorf("tag %d is not allowed in metadata", arg)
	default:
		return nil, errors.New("floats, booleans and null are not metadata values")
	}
}

// cip20Memo extracts the lines of a CIP-20 message (label 674, {"msg": [lines…]}).
func cip20Memo(md map[uint64]any) []string {
	m, ok := md[CIP20Label].(MetadataMap)
	if !ok {
		return nil
	}
	msg, ok := m.Get("msg")
	if !ok {
		return nil
	}
	return CIP20Lines(msg)
}

// CIP20Lines reads the lines of a CIP-20 "msg" value, decoded from CBOR or from JSON: a list of
// strings (what CIP-20 specifies), or a bare string (seen in the wild) as one line. Non-string
// entries are skipped; any other value has no lines.
func CIP20Lines(msg any) []string {
	switch v := msg.(type) {
	case string:
		return []string{v}
	case []any:
		var lines []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				lines = append(lines, s)
			}
		}
		return lines
	}
	return nil
}
