package cardano

import (
	"errors"
	"fmt"
)

// errBase58 is wrapped by base58 decoding errors (ParseAddress wraps it in ErrAddress).
var errBase58 = errors.New("cardano: invalid base58")

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// maxBase58Length bounds the (quadratic) base58 conversions. Byron addresses are about 60–130
// characters; the ledger has capped Byron address attributes at 64 bytes since Allegra.
const maxBase58Length = 2048

var base58Rev = func() [256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int16(i)
	}
	return t
}()

// base58Decode decodes Bitcoin-alphabet base58 (as used by Byron addresses). Leading '1's are
// leading zero bytes.
func base58Decode(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", errBase58)
	}
	if len(s) > maxBase58Length {
		return nil, fmt.Errorf("%w: longer than %d characters", errBase58, maxBase58Length)
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// Big-endian base-256 accumulator; log(58)/log(256) < 0.733.
	buf := make([]byte, (len(s)-zeros)*733/1000+1)
	used := 0 // bytes of buf (from the end) holding a non-zero value so far
	for i := zeros; i < len(s); i++ {
		v := base58Rev[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: invalid character %q", errBase58, s[i])
		}
		carry := int(v)
		j := 0
		for k := len(buf) - 1; k >= 0 && (carry != 0 || j < used); k-- {
			carry += 58 * int(buf[k])
			buf[k] = byte(carry)
			carry >>= 8
			j++
		}
		used = j
	}
	start := 0
	for start < len(buf) && buf[start] == 0 {
		start++
	}
	out := make([]byte, zeros+len(buf)-start)
	copy(out[zeros:], buf[start:])
	return out, nil
}

// base58Encode encodes b in the Bitcoin base58 alphabet.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.366.
	buf := make([]byte, (len(b)-zeros)*1366/1000+1)
	used := 0
	for _, x := range b[zeros:] {
		carry := int(x)
		j := 0
		for k := len(buf) - 1; k >= 0 && (carry != 0 || j < used); k-- {
			carry += 256 * int(buf[k])
			buf[k] = byte(carry % 58)
			carry /= 58
			j++
		}
		used = j
	}
	start := 0
	for start < len(buf) && buf[start] == 0 {
		start++
	}
	out := make([]byte, zeros+len(buf)-start)
	for i := 0; i < zeros; i++ {
		out[i] = '1'
	}
	for i, d := range buf[start:] {
		out[zeros+i] = base58Alphabet[d]
	}
	return string(out)
}
