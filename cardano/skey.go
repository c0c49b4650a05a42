package cardano

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// SigningKeyType is the text-envelope type of a payment signing key as cardano-cli writes it
// (`cardano-cli address key-gen`).
const SigningKeyType = "PaymentSigningKeyShelley_ed25519"

// ErrSigningKey is wrapped by every signing key parsing error.
var ErrSigningKey = errors.New("cardano: invalid signing key")

// keyEnvelope is cardano-cli's text envelope.
type keyEnvelope struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	CBORHex     string `json:"cborHex"`
}

// ParseSigningKey reads a payment signing key from cardano-cli's text envelope: type
// PaymentSigningKeyShelley_ed25519, cborHex the CBOR byte string of the 32-byte Ed25519 seed
// ("5820" and 64 hex digits). Extended (BIP32) keys are refused: they need a different signer.
func ParseSigningKey(data []byte) (ed25519.PrivateKey, error) {
	var env keyEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: not a cardano-cli text envelope (JSON): %v", ErrSigningKey, err)
	}
	if env.Type != SigningKeyType {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrSigningKey, env.Type, SigningKeyType)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(env.CBORHex))
	if err != nil {
		return nil, fmt.Errorf("%w: cborHex is not hex", ErrSigningKey)
	}
	if len(raw) != 2+ed25519.SeedSize || raw[0] != 0x58 || raw[1] != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: cborHex must be a 32-byte CBOR byte string (5820 and 64 hex digits)", ErrSigningKey)
	}
	return ed25519.NewKeyFromSeed(raw[2:]), nil
}

// SigningKeyEnvelope writes key as cardano-cli's text envelope, which ParseSigningKey and
// cardano-cli read back.
func SigningKeyEnvelope(key ed25519.PrivateKey, description string) []byte {
	env := keyEnvelope{Type: SigningKeyType, Description: description,
		CBORHex: "5820" + hex.EncodeToString(key.Seed())}
	b, _ := json.MarshalIndent(env, "", "    ") // three strings: never fails
	return append(b, '\n')
}
