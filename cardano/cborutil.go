package cardano

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Resource limits for CBOR input. A mainnet transaction is at most 16 KiB (protocol parameter
// maxTxSize = 16384); MaxTxBytes leaves headroom for a future increase.
const (
	// MaxTxBytes is the largest transaction DecodeTx accepts.
	MaxTxBytes = 64 << 10
	// maxCBORNesting bounds arrays/maps/tags nesting anywhere in a transaction. Plutus data in
	// witnesses and inline datums can nest deeply, so this is generous; it also bounds the
	// validator's recursion.
	maxCBORNesting = 256
	// maxCBORItems bounds the element count of any single array or map.
	maxCBORItems = 65536
	// maxMetadataDepth bounds our own recursion when converting metadata.
	maxMetadataDepth = 64
)

// CBOR major types.
const (
	majorUint   = 0
	majorNegInt = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

// tagSet is the CBOR tag Conway uses for sets (inputs, required signers, witnesses...).
const tagSet = 258

// decMode is the only CBOR decoder configuration in this package.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  maxCBORNesting,
		MaxArrayElements: maxCBORItems,
		MaxMapPairs:      maxCBORItems,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsAllowed,
		UTF8:             cbor.UTF8RejectInvalid,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic("cardano: invalid CBOR options: " + err.Error()) // a programming error, caught by any test
	}
	return dm
}()

// cborHead reads the initial byte and argument of the CBOR item at the start of b. For
// indefinite-length items indef is true and arg is 0. n is the number of bytes the head uses.
func cborHead(b []byte) (major byte, arg uint64, indef bool, n int, err error) {
	if len(b) == 0 {
		return 0, 0, false, 0, errors.New("cbor: unexpected end of data")
	}
	major = b[0] >> 5
	ai := b[0] & 0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), false, 1, nil
	case ai == 24:
		if len(b) < 2 {
			break
		}
		return major, uint64(b[1]), false, 2, nil
	case ai == 25:
		if len(b) < 3 {
			break
		}
		return major, uint64(binary.BigEndian.Uint16(b[1:3])), false, 3, nil
	case ai == 26:
		if len(b) < 5 {
			break
		}
		return major, uint64(binary.BigEndian.Uint32(b[1:5])), false, 5, nil
	case ai == 27:
		if len(b) < 9 {
			break
		}
		return major, binary.BigEndian.Uint64(b[1:9]), false, 9, nil
	case ai == 31:
		return major, 0, true, 1, nil
	default:
		return 0, 0, false, 0, fmt.Errorf("cbor: reserved additional information %d", ai)
	}
	return 0, 0, false, 0, errors.New("cbor: unexpected end of data")
}

// majorOf returns the major type of a (non-empty) raw item, or 0xff for empty input.
func majorOf(raw []byte) byte {
	if len(raw) == 0 {
		return 0xff
	}
	return raw[0] >> 5
}

// isNull reports whether raw is CBOR null or undefined.
func isNull(raw []byte) bool {
	return len(raw) == 1 && (raw[0] == 0xf6 || raw[0] == 0xf7)
}

// setItems returns the items of an array or of a tag-258 set (Conway) of one.
func setItems(raw cbor.RawMessage) ([]cbor.RawMessage, error) {
	if majorOf(raw) == majorTag {
		var t cbor.RawTag
		if err := decMode.Unmarshal(raw, &t); err != nil {
			return nil, err
		}
		if t.Number != tagSet {
			return nil, fmt.Errorf("unexpected tag %d (want a set, tag 258)", t.Number)
		}
		raw = t.Content
	}
	if majorOf(raw) != majorArray {
		return nil, errors.New("expected an array or a tag-258 set")
	}
	return arrayItems(raw)
}

// arrayItems splits a CBOR array (definite or indefinite) into its raw elements.
func arrayItems(raw cbor.RawMessage) ([]cbor.RawMessage, error) {
	if majorOf(raw) != majorArray {
		return nil, errors.New("expected an array")
	}
	var items []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// mapPair is one key/value pair of a CBOR map, in wire order.
type mapPair struct{ key, value cbor.RawMessage }

// mapPairs splits a CBOR map (definite or indefinite) into raw pairs, keeping wire order and
// any key type (metadata keys may be arrays or maps, which Go maps cannot hold).
func mapPairs(raw cbor.RawMessage) ([]mapPair, error) {
	major, count, indef, n, err := cborHead(raw)
	if err != nil {
		return nil, err
	}
	if major != majorMap {
		return nil, errors.New("expected a map")
	}
	if !indef && count > maxCBORItems {
		return nil, fmt.Errorf("map of %d pairs exceeds the limit", count)
	}
	rest := []byte(raw[n:])
	var pairs []mapPair
	for i := uint64(0); indef || i < count; i++ {
		if indef {
			if len(rest) == 0 {
				return nil, errors.New("cbor: unexpected end of data")
			}
			if rest[0] == 0xff {
				break
			}
			if i >= maxCBORItems {
				return nil, errors.New("map exceeds the pair limit")
			}
		}
		var k, v cbor.RawMessage
		if rest, err = decMode.UnmarshalFirst(rest, &k); err != nil {
			return nil, err
		}
		if rest, err = decMode.UnmarshalFirst(rest, &v); err != nil {
			return nil, err
		}
		pairs = append(pairs, mapPair{k, v})
	}
	return pairs, nil
}
