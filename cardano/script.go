package cardano

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// Script languages: the byte a script hash is taken over first, and the first element of a
// reference script ([language, script]).
const (
	LanguageNative  = 0
	LanguagePlutus1 = 1
	LanguagePlutus2 = 2
	LanguagePlutus3 = 3
)

// Ledger tags of native script nodes (CDDL native_script).
var nativeTags = map[string]uint64{ScriptSig: 0, ScriptAll: 1, ScriptAny: 2, ScriptAtLeast: 3,
	ScriptAfter: 4, ScriptBefore: 5}

// ScriptHash is the hash a script is known by on chain (a policy id for minting policies, the
// credential of a script address): blake2b-224 over the language byte and the script bytes
// (a native script's CBOR, a Plutus script's flat bytes as the witness carries them).
func ScriptHash(language byte, script []byte) []byte {
	h, _ := blake2b.New(CredentialLength, nil) // fixed valid size: never fails
	h.Write([]byte{language})
	h.Write(script)
	return h.Sum(nil)
}

// CBOR encodes s as the ledger does: sig [0, key hash], all [1, [..]], any [2, [..]],
// atLeast [3, k, [..]], after (invalid_before) [4, slot], before (invalid_hereafter) [5, slot].
func (s Script) CBOR() ([]byte, error) {
	v, err := s.cborValue(0)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(v)
}

func (s Script) cborValue(depth int) ([]any, error) {
	if depth > MaxScriptDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrScript, MaxScriptDepth)
	}
	tag, ok := nativeTags[s.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", ErrScript, s.Type)
	}
	switch s.Type {
	case ScriptSig:
		kh, err := hex.DecodeString(s.KeyHash)
		if err != nil || len(kh) != CredentialLength {
			return nil, fmt.Errorf("%w: keyHash must be %d bytes of hex", ErrScript, CredentialLength)
		}
		return []any{tag, kh}, nil
	case ScriptAfter, ScriptBefore:
		return []any{tag, s.Slot}, nil
	}
	subs := make([]any, 0, len(s.Scripts))
	for _, sub := range s.Scripts {
		v, err := sub.cborValue(depth + 1)
		if err != nil {
			return nil, err
		}
		subs = append(subs, v)
	}
	if s.Type == ScriptAtLeast {
		if s.Required < 0 {
			return nil, fmt.Errorf("%w: atLeast required must be ≥ 0", ErrScript)
		}
		return []any{tag, uint64(s.Required), subs}, nil
	}
	return []any{tag, subs}, nil
}

// Hash is the script hash of s in hex (its policy id when it is a minting policy).
func (s Script) Hash() (string, error) {
	c, err := s.CBOR()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(ScriptHash(LanguageNative, c)), nil
}

// DecodeNativeScript reads a native script from its ledger CBOR (the inverse of Script.CBOR).
func DecodeNativeScript(raw []byte) (Script, error) {
	nodes := 0
	s, err := decodeScriptNode(raw, 0, &nodes)
	if err != nil {
		return Script{}, fmt.Errorf("%w: %v", ErrScript, err)
	}
	return s, nil
}

func decodeScriptNode(raw cbor.RawMessage, depth int, nodes *int) (Script, error) {
	if depth > MaxScriptDepth {
		return Script{}, fmt.Errorf("nested deeper than %d", MaxScriptDepth)
	}
	if *nodes++; *nodes > MaxScriptNodes {
		return Script{}, fmt.Errorf("more than %d nodes", MaxScriptNodes)
	}
	items, err := arrayItems(raw)
	if err != nil || len(items) < 2 {
		return Script{}, errors.New("a native script node is an array [tag, …]")
	}
	tag, err := decodeUint(items[0])
	if err != nil {
		return Script{}, fmt.Errorf("node tag: %w", err)
	}
	want := map[uint64]int{0: 2, 1: 2, 2: 2, 3: 3, 4: 2, 5: 2}[tag]
	if want == 0 || len(items) != want {
		return Script{}, fmt.Errorf("node tag %d with %d elements", tag, len(items))
	}
	switch tag {
	case 0:
		kh, err := decodeBytes(items[1])
		if err != nil || len(kh) != CredentialLength {
			return Script{}, fmt.Errorf("sig key hash must be %d bytes", CredentialLength)
		}
		return Script{Type: ScriptSig, KeyHash: hex.EncodeToString(kh)}, nil
	case 4, 5:
		slot, err := decodeUint(items[1])
		if err != nil {
			return Script{}, fmt.Errorf("slot: %w", err)
		}
		return Script{Type: map[uint64]string{4: ScriptAfter, 5: ScriptBefore}[tag], Slot: slot}, nil
	}
	s := Script{Type: map[uint64]string{1: ScriptAll, 2: ScriptAny, 3: ScriptAtLeast}[tag]}
	list := items[1]
	if tag == 3 {
		k, err := decodeUint(items[1])
		if err != nil || k > MaxScriptNodes {
			return Script{}, errors.New("atLeast required must be a small unsigned integer")
		}
		s.Required, list = int(k), items[2]
	}
	subs, err := arrayItems(list)
	if err != nil {
		return Script{}, fmt.Errorf("sub-scripts: %w", err)
	}
	s.Scripts = make([]Script, 0, len(subs))
	for _, sub := range subs {
		c, err := decodeScriptNode(sub, depth+1, nodes)
		if err != nil {
			return Script{}, err
		}
		s.Scripts = append(s.Scripts, c)
	}
	return s, nil
}

// TxScript is a script a transaction reveals in its witnesses or as an output's reference
// script: a native script (Language 0) or a Plutus script (Language 1–3).
type TxScript struct {
	Language byte
	Native   *Script // Language 0: the decoded script
	Bytes    []byte  // the bytes the hash is taken over: a native script's CBOR as on chain, a Plutus script
}

// Hash is the script's hash, in hex.
func (s TxScript) Hash() string { return hex.EncodeToString(ScriptHash(s.Language, s.Bytes)) }

// nativeTxScript decodes a native script keeping its bytes as they appear on chain, which its
// hash is taken over (a re-encoding could differ).
func nativeTxScript(raw cbor.RawMessage) (TxScript, error) {
	s, err := DecodeNativeScript(raw)
	if err != nil {
		return TxScript{}, err
	}
	return TxScript{Language: LanguageNative, Native: &s, Bytes: append([]byte(nil), raw...)}, nil
}

// decodeScriptRef reads an output's reference script: tag 24 around the CBOR of
// [0, native script] or [1|2|3, Plutus bytes].
func decodeScriptRef(raw cbor.RawMessage) (TxScript, error) {
	inner, err := decodeTag24(raw)
	if err != nil {
		return TxScript{}, err
	}
	pair, err := arrayItems(inner)
	if err != nil || len(pair) != 2 {
		return TxScript{}, errors.New("reference script is not [language, script]")
	}
	lang, err := decodeUint(pair[0])
	if err != nil || lang > LanguagePlutus3 {
		return TxScript{}, errors.New("reference script language must be 0–3")
	}
	if lang == LanguageNative {
		return nativeTxScript(pair[1])
	}
	b, err := decodeBytes(pair[1])
	if err != nil {
		return TxScript{}, fmt.Errorf("plutus script: %w", err)
	}
	return TxScript{Language: byte(lang), Bytes: b}, nil
}

// decodeTag24 unwraps CBOR-in-CBOR (tag 24 around a byte string) and checks that the bytes
// are one well-formed item.
func decodeTag24(raw cbor.RawMessage) (cbor.RawMessage, error) {
	var t cbor.RawTag
	if majorOf(raw) != majorTag {
		return nil, errors.New("expected tag 24 (encoded CBOR)")
	}
	if err := decMode.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.Number != tagEncodedCBOR {
		return nil, fmt.Errorf("unexpected tag %d (want 24)", t.Number)
	}
	b, err := decodeBytes(t.Content)
	if err != nil {
		return nil, err
	}
	if err := decMode.Wellformed(b); err != nil {
		return nil, fmt.Errorf("encoded CBOR: %w", err)
	}
	return b, nil
}
