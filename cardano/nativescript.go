package cardano

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrScript is wrapped by every native-script parsing error.
var ErrScript = errors.New("cardano: invalid native script")

// Native script node types, as spelled in the JSON form (cardano-cli, Blockfrost
// /scripts/{hash}/json).
const (
	ScriptSig     = "sig"
	ScriptAll     = "all"
	ScriptAny     = "any"
	ScriptAtLeast = "atLeast"
	ScriptBefore  = "before"
	ScriptAfter   = "after"
)

// Limits on native scripts. Real minting policies have a handful of nodes; a script that fits
// in a 16 KiB transaction has at most a few hundred.
const (
	// MaxScriptJSONBytes is the largest JSON document ParseNativeScript accepts.
	MaxScriptJSONBytes = 256 << 10
	// MaxScriptDepth bounds nesting of all/any/atLeast.
	MaxScriptDepth = 64
	// MaxScriptNodes bounds the total number of nodes.
	MaxScriptNodes = 2048
)

// Script is a native (timelock) script. It marshals to the same JSON form ParseNativeScript
// reads.
type Script struct {
	Type     string   // one of the Script* constants
	KeyHash  string   // sig: 28-byte key hash, lower-case hex
	Slot     uint64   // before / after
	Required int      // atLeast
	Scripts  []Script // all / any / atLeast
}

// MarshalJSON writes the cardano-cli / Blockfrost JSON form, with exactly the fields of the
// node's type.
func (s Script) MarshalJSON() ([]byte, error) {
	scripts := s.Scripts
	if scripts == nil {
		scripts = []Script{}
	}
	switch s.Type {
	case ScriptSig:
		return json.Marshal(struct {
			Type    string `json:"type"`
			KeyHash string `json:"keyHash"`
		}{s.Type, s.KeyHash})
	case ScriptBefore, ScriptAfter:
		return json.Marshal(struct {
			Type string `json:"type"`
			Slot uint64 `json:"slot"`
		}{s.Type, s.Slot})
	case ScriptAll, ScriptAny:
		return json.Marshal(struct {
			Type    string   `json:"type"`
			Scripts []Script `json:"scripts"`
		}{s.Type, scripts})
	case ScriptAtLeast:
		return json.Marshal(struct {
			Type     string   `json:"type"`
			Required int      `json:"required"`
			Scripts  []Script `json:"scripts"`
		}{s.Type, s.Required, scripts})
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrScript, s.Type)
	}
}

// ParseNativeScript parses the JSON form of a native script: {"type":"sig","keyHash":…},
// {"type":"all"|"any","scripts":[…]}, {"type":"atLeast","required":n,"scripts":[…]},
// {"type":"before"|"after","slot":n}. Blockfrost's wrapper {"json": …} is accepted too (its
// {"json": null}, returned for Plutus scripts, is an error). Slots and "required" may be JSON
// numbers or decimal strings. Unknown fields are ignored; unknown types are errors.
func ParseNativeScript(data []byte) (Script, error) {
	if len(data) > MaxScriptJSONBytes {
		return Script{}, fmt.Errorf("%w: larger than %d bytes", ErrScript, MaxScriptJSONBytes)
	}
	if !json.Valid(data) {
		return Script{}, fmt.Errorf("%w: not valid JSON", ErrScript)
	}
	// Blockfrost wraps the script: {"json": {...}}.
	var wrapper map[string]json.RawMessage
	if err := json.Unmarshal(data, &wrapper); err == nil {
		if inner, ok := wrapper["json"]; ok {
			if _, hasType := wrapper["type"]; !hasType {
				if bytes.Equal(bytes.TrimSpace(inner), []byte("null")) {
					return Script{}, fmt.Errorf("%w: no JSON form (not a native script)", ErrScript)
				}
				data = inner
			}
		}
	}
	nodes := 0
	return parseScriptNode(data, 0, &nodes)
}

type scriptNodeJSON struct {
	Type     *string           `json:"type"`
	KeyHash  *string           `json:"keyHash"`
	Slot     json.RawMessage   `json:"slot"`
	Required json.RawMessage   `json:"required"`
	Scripts  []json.RawMessage `json:"scripts"`
}

func parseScriptNode(data []byte, depth int, nodes *int) (Script, error) {
	if depth > MaxScriptDepth {
		return Script{}, fmt.Errorf("%w: nested deeper than %d", ErrScript, MaxScriptDepth)
	}
	*nodes++
	if *nodes > MaxScriptNodes {
		return Script{}, fmt.Errorf("%w: more than %d nodes", ErrScript, MaxScriptNodes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Script{}, fmt.Errorf("%w: a script must be a JSON object", ErrScript)
	}
	var n scriptNodeJSON
	if err := json.Unmarshal(data, &n); err != nil {
		return Script{}, fmt.Errorf("%w: %v", ErrScript, err)
	}
	if n.Type == nil {
		return Script{}, fmt.Errorf("%w: missing \"type\"", ErrScript)
	}
	s := Script{Type: *n.Type}
	switch s.Type {
	case ScriptSig:
		if n.KeyHash == nil {
			return Script{}, fmt.Errorf("%w: sig without \"keyHash\"", ErrScript)
		}
		kh := strings.ToLower(*n.KeyHash)
		if b, err := hex.DecodeString(kh); err != nil || len(b) != CredentialLength {
			return Script{}, fmt.Errorf("%w: keyHash must be %d bytes of hex", ErrScript, CredentialLength)
		}
		s.KeyHash = kh
	case ScriptBefore, ScriptAfter:
		slot, err := jsonUint(n.Slot)
		if err != nil {
			return Script{}, fmt.Errorf("%w: %s \"slot\": %v", ErrScript, s.Type, err)
		}
		s.Slot = slot
	case ScriptAll, ScriptAny, ScriptAtLeast:
		if n.Scripts == nil {
			return Script{}, fmt.Errorf("%w: %s without \"scripts\"", ErrScript, s.Type)
		}
		if s.Type == ScriptAtLeast {
			req, err := jsonUint(n.Required)
			if err != nil {
				return Script{}, fmt.Errorf("%w: atLeast \"required\": %v", ErrScript, err)
			}
			// k > n is legal and simply never satisfiable. It is kept as written, never clamped:
			// the script's hash (its policy id) covers it.
			if req > math.MaxInt {
				return Script{}, fmt.Errorf("%w: atLeast \"required\" %d is too large", ErrScript, req)
			}
			s.Required = int(req)
		}
		s.Scripts = make([]Script, 0, len(n.Scripts))
		for _, child := range n.Scripts {
			c, err := parseScriptNode(child, depth+1, nodes)
			if err != nil {
				return Script{}, err
			}
			s.Scripts = append(s.Scripts, c)
		}
	default:
		return Script{}, fmt.Errorf("%w: unknown type %q", ErrScript, s.Type)
	}
	return s, nil
}

// jsonUint reads a non-negative integer given as a JSON number or a decimal string.
func jsonUint(raw json.RawMessage) (uint64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, errors.New("missing")
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, err
		}
	}
	v, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a non-negative 64-bit integer: %s", truncate(text, 40))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
