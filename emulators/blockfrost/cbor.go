package blockfrostemu

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// A minimal CBOR (RFC 8949) reader and writer, enough for Cardano transactions: an item-length
// walker (to find the original bytes of a transaction body), a decoder into plain Go values and
// a few encoders for the data set's native scripts and datums.

const cborMaxDepth = 200

var errCBORShort = errors.New("unexpected end of data")

// cborHead reads an item head at off: major type, argument (or length), whether the length is
// indefinite, and the offset after the head.
func cborHead(b []byte, off int) (major byte, arg uint64, indef bool, next int, err error) {
	if off >= len(b) {
		return 0, 0, false, 0, errCBORShort
	}
	ib := b[off]
	major, info := ib>>5, ib&0x1f
	off++
	switch {
	case info < 24:
		return major, uint64(info), false, off, nil
	case info == 24:
		if off+1 > len(b) {
			return 0, 0, false, 0, errCBORShort
		}
		return major, uint64(b[off]), false, off + 1, nil
	case info == 25:
		if off+2 > len(b) {
			return 0, 0, false, 0, errCBORShort
		}
		return major, uint64(binary.BigEndian.Uint16(b[off:])), false, off + 2, nil
	case info == 26:
		if off+4 > len(b) {
			return 0, 0, false, 0, errCBORShort
		}
		return major, uint64(binary.BigEndian.Uint32(b[off:])), false, off + 4, nil
	case info == 27:
		if off+8 > len(b) {
			return 0, 0, false, 0, errCBORShort
		}
		return major, binary.BigEndian.Uint64(b[off:]), false, off + 8, nil
	case info == 31:
		if major == 0 || major == 1 || major == 6 {
			return 0, 0, false, 0, fmt.Errorf("indefinite length not allowed for major type %d", major)
		}
		return major, 0, true, off, nil
	}
	return 0, 0, false, 0, fmt.Errorf("reserved additional information %d", info)
}

// cborItemEnd returns the offset just after the complete data item that starts at off.
func cborItemEnd(b []byte, off int) (int, error) { return cborSkip(b, off, 0) }

func cborSkip(b []byte, off, depth int) (int, error) {
	if depth > cborMaxDepth {
		return 0, errors.New("nesting too deep")
	}
	major, arg, indef, next, err := cborHead(b, off)
	if err != nil {
		return 0, err
	}
	switch major {
	case 0, 1:
		return next, nil
	case 2, 3:
		if indef {
			for {
				if next >= len(b) {
					return 0, errCBORShort
				}
				if b[next] == 0xff {
					return next + 1, nil
				}
				m, _, ind, _, err := cborHead(b, next)
				if err != nil {
					return 0, err
				}
				if m != major || ind {
					return 0, errors.New("invalid chunk in indefinite-length string")
				}
				if next, err = cborSkip(b, next, depth+1); err != nil {
					return 0, err
				}
			}
		}
		if arg > uint64(len(b)-next) {
			return 0, errCBORShort
		}
		return next + int(arg), nil
	case 4, 5:
		per := 1
		if major == 5 {
			per = 2
		}
		if indef {
			for {
				if next >= len(b) {
					return 0, errCBORShort
				}
				if b[next] == 0xff {
					return next + 1, nil
				}
				for i := 0; i < per; i++ {
					if next, err = cborSkip(b, next, depth+1); err != nil {
						return 0, err
					}
				}
			}
		}
		if arg > uint64(len(b)-next) { // every item takes at least one byte
			return 0, errCBORShort
		}
		for i := uint64(0); i < arg*uint64(per); i++ {
			if next, err = cborSkip(b, next, depth+1); err != nil {
				return 0, err
			}
		}
		return next, nil
	case 6:
		return cborSkip(b, next, depth+1)
	default: // 7: simple values and floats; the head already covered their bytes
		if indef {
			return 0, errors.New("unexpected break")
		}
		return next, nil
	}
}

// cborMap keeps a map's entries in wire order (keys may be any CBOR value).
type cborMap struct {
	Keys, Vals []any
}

func (m *cborMap) get(key uint64) (any, bool) {
	for i, k := range m.Keys {
		if u, ok := k.(uint64); ok && u == key {
			return m.Vals[i], true
		}
	}
	return nil, false
}

// cborTag is a tagged item other than bignums (tags 2 and 3 decode to *big.Int).
type cborTag struct {
	Num     uint64
	Content any
	Raw     []byte // the tagged content's original bytes
}

// cborUndefined is CBOR's simple value 23.
type cborUndefined struct{}

// cborDecode decodes one item at off: uint64, int64 or *big.Int for integers, []byte, string,
// []any, *cborMap, cborTag, bool, nil, float64.
func cborDecode(b []byte, off int) (any, int, error) { return cborDec(b, off, 0) }

func cborDec(b []byte, off, depth int) (any, int, error) {
	if depth > cborMaxDepth {
		return nil, 0, errors.New("nesting too deep")
	}
	major, arg, indef, next, err := cborHead(b, off)
	if err != nil {
		return nil, 0, err
	}
	switch major {
	case 0:
		return arg, next, nil
	case 1:
		if arg <= math.MaxInt64 {
			return -1 - int64(arg), next, nil
		}
		n := new(big.Int).SetUint64(arg)
		return n.Neg(n.Add(n, big.NewInt(1))), next, nil
	case 2, 3:
		var data []byte
		if indef {
			for {
				if next >= len(b) {
					return nil, 0, errCBORShort
				}
				if b[next] == 0xff {
					next++
					break
				}
				chunk, end, err := cborDec(b, next, depth+1)
				if err != nil {
					return nil, 0, err
				}
				switch c := chunk.(type) {
				case []byte:
					data = append(data, c...)
				case string:
					data = append(data, c...)
				}
				next = end
			}
		} else {
			if arg > uint64(len(b)-next) {
				return nil, 0, errCBORShort
			}
			data = b[next : next+int(arg)]
			next += int(arg)
		}
		if major == 3 {
			return string(data), next, nil
		}
		return append([]byte(nil), data...), next, nil
	case 4:
		var out []any
		for i := uint64(0); indef || i < arg; i++ {
			if indef {
				if next >= len(b) {
					return nil, 0, errCBORShort
				}
				if b[next] == 0xff {
					next++
					break
				}
			} else if next >= len(b) {
				return nil, 0, errCBORShort
			}
			v, end, err := cborDec(b, next, depth+1)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, v)
			next = end
		}
		if out == nil {
			out = []any{}
		}
		return out, next, nil
	case 5:
		m := &cborMap{}
		for i := uint64(0); indef || i < arg; i++ {
			if indef {
				if next >= len(b) {
					return nil, 0, errCBORShort
				}
				if b[next] == 0xff {
					next++
					break
				}
			}
			k, end, err := cborDec(b, next, depth+1)
			if err != nil {
				return nil, 0, err
			}
			v, end2, err := cborDec(b, end, depth+1)
			if err != nil {
				return nil, 0, err
			}
			m.Keys, m.Vals = append(m.Keys, k), append(m.Vals, v)
			next = end2
		}
		return m, next, nil
	case 6:
		v, end, err := cborDec(b, next, depth+1)
		if err != nil {
			return nil, 0, err
		}
		if arg == 2 || arg == 3 {
			raw, ok := v.([]byte)
			if !ok {
				return nil, 0, errors.New("bignum tag without a byte string")
			}
			n := new(big.Int).SetBytes(raw)
			if arg == 3 {
				n.Neg(n.Add(n, big.NewInt(1)))
			}
			return n, end, nil
		}
		return cborTag{Num: arg, Content: v, Raw: b[next:end]}, end, nil
	default:
		info := b[off] & 0x1f
		switch {
		case info == 20:
			return false, next, nil
		case info == 21:
			return true, next, nil
		case info == 22:
			return nil, next, nil
		case info == 23:
			return cborUndefined{}, next, nil
		case info == 25:
			return halfToFloat(uint16(arg)), next, nil
		case info == 26:
			return float64(math.Float32frombits(uint32(arg))), next, nil
		case info == 27:
			return math.Float64frombits(arg), next, nil
		case indef:
			return nil, 0, errors.New("unexpected break")
		}
		return arg, next, nil // other simple values: keep the number
	}
}

func halfToFloat(h uint16) float64 {
	exp := (h >> 10) & 0x1f
	mant := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0:
		v = mant * math.Pow(2, -24)
	case 31:
		if mant == 0 {
			v = math.Inf(1)
		} else {
			v = math.NaN()
		}
	default:
		v = (1 + mant/1024) * math.Pow(2, float64(exp)-15)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// TxID returns the id of a serialised transaction: blake2b-256 over the original bytes of the
// transaction body, the first element of the top-level CBOR array. The whole input must be
// exactly one well-formed CBOR array of 3 (Shelley to Mary) or 4 (Alonzo on) elements.
func TxID(tx []byte) (string, error) {
	start, end, err := txBodyRange(tx)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(blake256(tx[start:end])), nil
}

// txBodyRange finds [start, end) of the body inside a serialised transaction.
func txBodyRange(tx []byte) (int, int, error) {
	major, n, indef, next, err := cborHead(tx, 0)
	if err != nil {
		return 0, 0, err
	}
	if major != 4 {
		return 0, 0, fmt.Errorf("expected list len or indef, found major type %d", major)
	}
	if !indef && n != 3 && n != 4 {
		return 0, 0, fmt.Errorf("transaction has %d elements, expected 3 or 4", n)
	}
	end, err := cborItemEnd(tx, 0)
	if err != nil {
		return 0, 0, err
	}
	if end != len(tx) {
		return 0, 0, fmt.Errorf("%d trailing bytes after the transaction", len(tx)-end)
	}
	bodyEnd, err := cborItemEnd(tx, next)
	if err != nil {
		return 0, 0, err
	}
	if m, _, _, _, _ := cborHead(tx, next); m != 5 {
		return 0, 0, errors.New("transaction body is not a map")
	}
	return next, bodyEnd, nil
}

// --- encoding ---------------------------------------------------------------------------

func cborAppendHead(b []byte, major byte, n uint64) []byte {
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

func cborAppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return cborAppendHead(b, 0, uint64(v))
	}
	return cborAppendHead(b, 1, uint64(-1-v))
}

func cborAppendBytes(b, data []byte) []byte {
	return append(cborAppendHead(b, 2, uint64(len(data))), data...)
}

func cborAppendText(b []byte, s string) []byte {
	return append(cborAppendHead(b, 3, uint64(len(s))), s...)
}
