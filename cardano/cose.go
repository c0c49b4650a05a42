package cardano

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// ErrSignData wraps every reason a CIP-30 signData answer (CIP-8 message signing) is refused.
var ErrSignData = errors.New("cardano: invalid signed data")

// Limits of a signData answer. Wallets send a few hundred bytes; the payload is our own nonce.
const (
	maxCOSEHex     = 8 << 10
	maxCOSEPayload = 1 << 10
)

// COSE labels and values that CIP-8 uses (RFC 8152).
const (
	coseTagSign1   = 18
	coseAlg        = 1
	coseCrit       = 2
	coseKty        = 1
	coseKeyAlg     = 3
	coseCrv        = -1
	coseX          = -2
	coseAlgEdDSA   = -8
	coseKtyOKP     = 1
	coseCrvEd25519 = 6
)

// VerifySignData checks a CIP-30 signData answer — the COSE_Sign1 and COSE_Key, both hex — as
// proof that the holder of claimed's key signed payload, and returns the credential it proves.
//
// Everything is checked, exactly: the COSE structures, algorithm EdDSA over Ed25519, the
// protected header's "address" equal to claimed, an unhashed payload equal to payload, the
// Ed25519 signature over the Sig_structure, and the key's hash equal to the credential the
// address is controlled by: the payment key of a Shelley payment address, the stake key of a
// reward address. A stake-key signature does not prove a base address (anyone may put another's
// stake credential into an address of their own), and script or Byron addresses prove nothing.
func VerifySignData(signatureHex, keyHex string, claimed Address, payload []byte) (Credential, error) {
	sig, err := decodeSign1(signatureHex)
	if err != nil {
		return Credential{}, err
	}
	pub, err := decodeCOSEKey(keyHex)
	if err != nil {
		return Credential{}, err
	}
	if !bytes.Equal(sig.address, claimed.Raw) {
		return Credential{}, fmt.Errorf("%w: the signed address is not the claimed address", ErrSignData)
	}
	if !bytes.Equal(sig.payload, payload) {
		return Credential{}, fmt.Errorf("%w: the signed payload is not the expected one", ErrSignData)
	}
	if !ed25519.Verify(pub, sig.toBeSigned, sig.signature) {
		return Credential{}, fmt.Errorf("%w: the signature does not verify with the key", ErrSignData)
	}
	cred, err := signingCredential(claimed)
	if err != nil {
		return Credential{}, err
	}
	hash := blake2b224(pub)
	if !bytes.Equal(hash, cred.Hash) {
		return Credential{}, fmt.Errorf("%w: the key is not the one that controls the address", ErrSignData)
	}
	return cred, nil
}

// coseEnc orders map keys bytewise by their encoding (RFC 8949 core deterministic), as the
// reference library writes them.
var coseEnc = func() cbor.EncMode {
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic("cardano: invalid CBOR options: " + err.Error()) // a programming error, caught by any test
	}
	return em
}()

// SignData is the wallet's side of CIP-30 signData: it signs payload for addr with key and
// returns the COSE_Sign1 and COSE_Key hex, as wallets do (unhashed payload, untagged). The dev
// wallet and tests sign in with it.
func SignData(key ed25519.PrivateKey, addr Address, payload []byte) (signatureHex, keyHex string, err error) {
	protected, err := coseEnc.Marshal(map[any]any{coseAlg: coseAlgEdDSA, "address": addr.Raw})
	if err != nil {
		return "", "", err
	}
	tbs, err := cbor.Marshal([]any{"Signature1", protected, []byte{}, payload})
	if err != nil {
		return "", "", err
	}
	msg := coseSign1{Protected: protected, Unprotected: map[any]cbor.RawMessage{"hashed": {0xf4}},
		Payload: payload, Signature: ed25519.Sign(key, tbs)}
	sig, err := coseEnc.Marshal(msg)
	if err != nil {
		return "", "", err
	}
	pub := key.Public().(ed25519.PublicKey)
	k, err := coseEnc.Marshal(map[int]any{coseKty: coseKtyOKP, coseKeyAlg: coseAlgEdDSA, coseCrv: coseCrvEd25519, coseX: []byte(pub)})
	if err != nil {
		return "", "", err
	}
	return hex.EncodeToString(sig), hex.EncodeToString(k), nil
}

// SignDataPayload returns the payload of a signData answer without verifying anything: the
// caller uses it to find the challenge it answers, then verifies with VerifySignData.
func SignDataPayload(signatureHex string) ([]byte, error) {
	sig, err := decodeSign1(signatureHex)
	if err != nil {
		return nil, err
	}
	return sig.payload, nil
}

// signingCredential is the key credential whose key signs for addr.
func signingCredential(addr Address) (Credential, error) {
	switch {
	case addr.Byron:
		return Credential{}, fmt.Errorf("%w: Byron addresses cannot sign messages", ErrSignData)
	case addr.IsReward():
		if addr.Stake == nil || addr.Stake.Script {
			return Credential{}, fmt.Errorf("%w: a script stake address has no key", ErrSignData)
		}
		return *addr.Stake, nil
	case addr.Type >= 0 && addr.Type <= AddrEnterpriseScript:
		if addr.Payment.Script {
			return Credential{}, fmt.Errorf("%w: a script address has no key", ErrSignData)
		}
		return addr.Payment, nil
	}
	return Credential{}, fmt.Errorf("%w: address type %d cannot sign messages", ErrSignData, addr.Type)
}

func blake2b224(b []byte) []byte {
	h, _ := blake2b.New(28, nil) // a valid size never fails
	h.Write(b)
	return h.Sum(nil)
}

// sign1 is a decoded COSE_Sign1 with what its signature covers.
type sign1 struct {
	address    []byte
	payload    []byte
	signature  []byte
	toBeSigned []byte // the encoded Sig_structure
}

// coseSign1 is the wire form: [protected: bstr, unprotected: map, payload: bstr / nil, signature: bstr].
type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected map[any]cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

func decodeSign1(s string) (sign1, error) {
	raw, err := coseBytes(s, "signature")
	if err != nil {
		return sign1{}, err
	}
	var tag cbor.RawTag
	if decMode.Unmarshal(raw, &tag) == nil {
		if tag.Number != coseTagSign1 {
			return sign1{}, fmt.Errorf("%w: signature has CBOR tag %d, not COSE_Sign1's 18", ErrSignData, tag.Number)
		}
		raw = tag.Content
	}
	var msg coseSign1
	if err := decMode.Unmarshal(raw, &msg); err != nil {
		return sign1{}, fmt.Errorf("%w: signature is not a COSE_Sign1: %v", ErrSignData, err)
	}
	if msg.Payload == nil {
		return sign1{}, fmt.Errorf("%w: the payload is detached", ErrSignData)
	}
	if len(msg.Payload) > maxCOSEPayload {
		return sign1{}, fmt.Errorf("%w: payload over %d bytes", ErrSignData, maxCOSEPayload)
	}
	if len(msg.Signature) != ed25519.SignatureSize {
		return sign1{}, fmt.Errorf("%w: an Ed25519 signature has %d bytes, not %d", ErrSignData, ed25519.SignatureSize, len(msg.Signature))
	}
	if err := checkUnprotected(msg.Unprotected); err != nil {
		return sign1{}, err
	}
	addr, err := protectedAddress(msg.Protected)
	if err != nil {
		return sign1{}, err
	}
	tbs, err := cbor.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		return sign1{}, fmt.Errorf("%w: %v", ErrSignData, err)
	}
	return sign1{address: addr, payload: msg.Payload, signature: msg.Signature, toBeSigned: tbs}, nil
}

// checkUnprotected refuses a hashed payload: the nonce must be what was signed, not its hash.
func checkUnprotected(h map[any]cbor.RawMessage) error {
	v, ok := h["hashed"]
	if !ok {
		return nil
	}
	var hashed bool
	if err := decMode.Unmarshal(v, &hashed); err != nil {
		return fmt.Errorf("%w: the \"hashed\" header is not a boolean", ErrSignData)
	}
	if hashed {
		return fmt.Errorf("%w: the payload was hashed; sign it unhashed", ErrSignData)
	}
	return nil
}

// protectedAddress checks the protected header (alg EdDSA, no critical extensions) and returns
// its "address" bytes.
func protectedAddress(protected []byte) ([]byte, error) {
	var h map[any]cbor.RawMessage
	if err := decMode.Unmarshal(protected, &h); err != nil {
		return nil, fmt.Errorf("%w: the protected header is not a map: %v", ErrSignData, err)
	}
	if alg, err := intLabel(h, coseAlg); err != nil || alg != coseAlgEdDSA {
		return nil, fmt.Errorf("%w: the protected header's alg is not EdDSA", ErrSignData)
	}
	if _, ok := labelled(h, coseCrit); ok {
		return nil, fmt.Errorf("%w: critical header parameters are not supported", ErrSignData)
	}
	var addr []byte
	if err := decMode.Unmarshal(h["address"], &addr); err != nil || len(addr) == 0 {
		return nil, fmt.Errorf("%w: the protected header has no address", ErrSignData)
	}
	return addr, nil
}

// decodeCOSEKey returns the Ed25519 public key of an OKP COSE_Key.
func decodeCOSEKey(s string) (ed25519.PublicKey, error) {
	raw, err := coseBytes(s, "key")
	if err != nil {
		return nil, err
	}
	var k map[any]cbor.RawMessage
	if err := decMode.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("%w: key is not a COSE_Key: %v", ErrSignData, err)
	}
	if kty, err := intLabel(k, coseKty); err != nil || kty != coseKtyOKP {
		return nil, fmt.Errorf("%w: the key type is not OKP", ErrSignData)
	}
	if _, ok := labelled(k, coseKeyAlg); ok {
		if alg, err := intLabel(k, coseKeyAlg); err != nil || alg != coseAlgEdDSA {
			return nil, fmt.Errorf("%w: the key's alg is not EdDSA", ErrSignData)
		}
	}
	if crv, err := intLabel(k, coseCrv); err != nil || crv != coseCrvEd25519 {
		return nil, fmt.Errorf("%w: the key's curve is not Ed25519", ErrSignData)
	}
	x, _ := labelled(k, coseX)
	var pub []byte
	if err := decMode.Unmarshal(x, &pub); err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the key has no 32-byte Ed25519 public key", ErrSignData)
	}
	return ed25519.PublicKey(pub), nil
}

func coseBytes(s, what string) ([]byte, error) {
	if len(s) > maxCOSEHex {
		return nil, fmt.Errorf("%w: %s over %d hex characters", ErrSignData, what, maxCOSEHex)
	}
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%w: %s is not hex", ErrSignData, what)
	}
	return raw, nil
}

// labelled finds an integer label in a decoded COSE map. The decoder gives non-negative integer
// keys as uint64 and negative ones as int64.
func labelled(m map[any]cbor.RawMessage, label int64) (cbor.RawMessage, bool) {
	var v cbor.RawMessage
	var ok bool
	if label >= 0 {
		v, ok = m[uint64(label)]
	} else {
		v, ok = m[label]
	}
	return v, ok
}

func intLabel(m map[any]cbor.RawMessage, label int64) (int64, error) {
	v, ok := labelled(m, label)
	if !ok {
		return 0, fmt.Errorf("%w: label %d missing", ErrSignData, label)
	}
	var n int64
	if err := decMode.Unmarshal(v, &n); err != nil {
		return 0, fmt.Errorf("%w: label %d is not an integer", ErrSignData, label)
	}
	return n, nil
}
