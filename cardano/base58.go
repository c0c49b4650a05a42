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

var base58Rev = alphabetIndex(base58Alphabet)

// alphabetIndex maps every byte to its digit in alphabet, or -1 when it is not in it.
func alphabetIndex(alphabet string) [256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int16(i)
	}
	return t
}

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
	digits := make([]byte, len(s)-zeros)
	for i := zeros; i < len(s); i++ {
		v := base58Rev[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: invalid character %q", errBase58, s[i])
		}
		digits[i-zeros] = byte(v)
	}
	// log(58)/log(256) < 0.733.
	b := rebase(digits, 58, 256, len(digits)*733/1000+1)
	out := make([]byte, zeros+len(b))
	copy(out[zeros:], b)
	return out, nil
}

// base58Encode encodes b in the Bitcoin base58 alphabet.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.366.
	digits := rebase(b[zeros:], 256, 58, (len(b)-zeros)*1366/1000+1)
	out := make([]byte, zeros+len(digits))
	for i := 0; i < zeros; i++ {
		out[i] = '1'
	}
	for i, d := range digits {
		out[zeros+i] = base58Alphabet[d]
	}
	return string(out)
}

// rebase converts a big-endian number from base from to base to (both at most 256); size is
// the most digits the result can have. It returns the digits without leading zeros: leading
// zeros of the input, which base58 spells one for one, are the caller's.
func rebase(digits []byte, from, to, size int) []byte {
	buf := make([]byte, size)
	used := 0 // digits of buf (from the end) touched so far
	for _, d := range digits {
		carry := int(d)
		j := 0
		for k := len(buf) - 1; k >= 0 && (carry != 0 || j < used); k-- {
			carry += from * int(buf[k])
			buf[k] = byte(carry % to)
			carry /= to
			j++
		}
		used = j
	}
	start := 0
	for start < len(buf) && buf[start] == 0 {
		start++
	}
	return buf[start:]
}
