package blockfrostemu

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// NativeScript is a timelock script in the JSON form Blockfrost serves at
// /scripts/{hash}/json (cardano-cli's simple-script format):
//
//	{"type":"sig","keyHash":"…"}
//	{"type":"before","slot":N}   // valid only before slot N (invalid_hereafter)
//	{"type":"after","slot":N}    // valid only from slot N on (invalid_before)
//	{"type":"all"|"any","scripts":[…]}
//	{"type":"atLeast","required":K,"scripts":[…]}
type NativeScript struct {
	Type     string         `json:"type"`
	KeyHash  string         `json:"keyHash,omitempty"`
	Slot     *int64         `json:"slot,omitempty"`
	Required *int           `json:"required,omitempty"`
	Scripts  []NativeScript `json:"scripts,omitempty"`
}

// Sig, Before, After, All, Any and AtLeast build native scripts.
func Sig(keyHash []byte) NativeScript {
	return NativeScript{Type: "sig", KeyHash: hex.EncodeToString(keyHash)}
}

// Before is valid only in slots < slot.
func Before(slot int64) NativeScript { return NativeScript{Type: "before", Slot: &slot} }

// After is valid only in slots >= slot.
func After(slot int64) NativeScript { return NativeScript{Type: "after", Slot: &slot} }

// All requires every sub-script.
func All(s ...NativeScript) NativeScript { return NativeScript{Type: "all", Scripts: s} }

// Any requires one sub-script.
func Any(s ...NativeScript) NativeScript { return NativeScript{Type: "any", Scripts: s} }

// AtLeast requires k sub-scripts.
func AtLeast(k int, s ...NativeScript) NativeScript {
	return NativeScript{Type: "atLeast", Required: &k, Scripts: s}
}

// CBOR encodes the script as the ledger does: sig [0, keyhash], all [1, [..]], any [2, [..]],
// atLeast [3, k, [..]], after (invalid_before) [4, slot], before (invalid_hereafter) [5, slot].
func (s NativeScript) CBOR() ([]byte, error) { return s.appendCBOR(nil) }

func (s NativeScript) appendCBOR(b []byte) ([]byte, error) {
	var err error
	switch s.Type {
	case "sig":
		kh, herr := hex.DecodeString(s.KeyHash)
		if herr != nil || len(kh) != 28 {
			return nil, errors.New("sig: keyHash must be 28 bytes of hex")
		}
		b = cborAppendHead(b, 4, 2)
		b = cborAppendInt(b, 0)
		return cborAppendBytes(b, kh), nil
	case "all", "any":
		b = cborAppendHead(b, 4, 2)
		if s.Type == "all" {
			b = cborAppendInt(b, 1)
		} else {
			b = cborAppendInt(b, 2)
		}
		b = cborAppendHead(b, 4, uint64(len(s.Scripts)))
	case "atLeast":
		if s.Required == nil {
			return nil, errors.New("atLeast: required missing")
		}
		b = cborAppendHead(b, 4, 3)
		b = cborAppendInt(b, 3)
		b = cborAppendInt(b, int64(*s.Required))
		b = cborAppendHead(b, 4, uint64(len(s.Scripts)))
	case "after", "before":
		if s.Slot == nil {
			return nil, fmt.Errorf("%s: slot missing", s.Type)
		}
		b = cborAppendHead(b, 4, 2)
		if s.Type == "after" {
			b = cborAppendInt(b, 4)
		} else {
			b = cborAppendInt(b, 5)
		}
		return cborAppendInt(b, *s.Slot), nil
	default:
		return nil, fmt.Errorf("unknown native script type %q", s.Type)
	}
	for _, sub := range s.Scripts {
		if b, err = sub.appendCBOR(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Hash is the script hash (= policy id when used as a minting policy): blake2b-224 over the
// language tag 0x00 followed by the script's CBOR.
func (s NativeScript) Hash() (string, error) {
	c, err := s.CBOR()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(blake224([]byte{0}, c)), nil
}

// nativeScriptFromCBOR decodes a ledger native script into its JSON form.
func nativeScriptFromCBOR(v any) (NativeScript, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return NativeScript{}, errors.New("native script is not an array")
	}
	tag, ok := arr[0].(uint64)
	if !ok {
		return NativeScript{}, errors.New("native script tag")
	}
	subs := func(x any) ([]NativeScript, error) {
		l, ok := x.([]any)
		if !ok {
			return nil, errors.New("native script list")
		}
		out := make([]NativeScript, 0, len(l))
		for _, e := range l {
			s, err := nativeScriptFromCBOR(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	switch tag {
	case 0:
		kh, ok := arr[1].([]byte)
		if !ok {
			return NativeScript{}, errors.New("sig key hash")
		}
		return Sig(kh), nil
	case 1, 2:
		l, err := subs(arr[1])
		if err != nil {
			return NativeScript{}, err
		}
		if tag == 1 {
			return All(l...), nil
		}
		return Any(l...), nil
	case 3:
		k, ok := arr[1].(uint64)
		if !ok || len(arr) < 3 {
			return NativeScript{}, errors.New("atLeast required")
		}
		l, err := subs(arr[2])
		if err != nil {
			return NativeScript{}, err
		}
		return AtLeast(int(k), l...), nil
	case 4, 5:
		slot, ok := arr[1].(uint64)
		if !ok {
			return NativeScript{}, errors.New("timelock slot")
		}
		if tag == 4 {
			return After(int64(slot)), nil
		}
		return Before(int64(slot)), nil
	}
	return NativeScript{}, fmt.Errorf("unknown native script tag %d", tag)
}

// scriptRec is a script known to the chain.
type scriptRec struct {
	hash   string
	typ    string        // timelock, plutusV1, plutusV2, plutusV3
	native *NativeScript // timelock only
	size   int           // serialised size of Plutus scripts
}

// plutusScriptHash hashes a Plutus script: blake2b-224 over the language tag (1 = V1,
// 2 = V2, 3 = V3) followed by the script bytes.
func plutusScriptHash(version int, script []byte) string {
	return hex.EncodeToString(blake224([]byte{byte(version)}, script))
}
