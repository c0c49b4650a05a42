package cardano

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// cip8Vectors are signData answers made by EMURGO's message-signing library
// (testdata/cip8/gen.js; see testdata/cip8/README.md).
type cip8Vectors struct {
	Payload string `json:"payload"`
	Keys    struct {
		PaymentKeyHash string `json:"payment_key_hash"`
		StakeKeyHash   string `json:"stake_key_hash"`
	} `json:"keys"`
	Cases []cip8Case `json:"cases"`
}

type cip8Case struct {
	Name         string `json:"name"`
	Address      string `json:"address"`
	AddressHex   string `json:"address_hex"`
	Signer       string `json:"signer"`
	Valid        bool   `json:"valid"`
	Signature    string `json:"signature"`
	Key          string `json:"key"`
	SigStructure string `json:"sig_structure"`
}

func loadCIP8(t testing.TB) cip8Vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/cip8/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v cip8Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) < 6 {
		t.Fatalf("only %d CIP-8 vectors", len(v.Cases))
	}
	return v
}

func (c cip8Case) addr(t testing.TB) Address {
	t.Helper()
	a, err := ParseAddress(c.Address)
	if err != nil || a.Hex() != c.AddressHex {
		t.Fatalf("%s: address %s: %v", c.Name, c.Address, err)
	}
	return a
}

func TestVerifySignDataVectors(t *testing.T) {
	v := loadCIP8(t)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			cred, err := VerifySignData(c.Signature, c.Key, c.addr(t), []byte(v.Payload))
			if !c.Valid {
				if !errors.Is(err, ErrSignData) {
					t.Fatalf("accepted an answer that proves nothing: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := v.Keys.PaymentKeyHash
			if c.Signer == "stake" {
				want = v.Keys.StakeKeyHash
			}
			if cred.Hex() != want || cred.Script {
				t.Fatalf("proved credential %s, want key hash %s", cred.Hex(), want)
			}
		})
	}
}

// The Sig_structure we rebuild is byte for byte the one the library signed.
func TestSigStructureMatchesLibrary(t *testing.T) {
	for _, c := range loadCIP8(t).Cases {
		if strings.HasSuffix(c.Name, "_hashed") {
			continue // refused before the structure matters
		}
		s, err := decodeSign1(c.Signature)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if got := hex.EncodeToString(s.toBeSigned); got != c.SigStructure {
			t.Fatalf("%s: Sig_structure\n got %s\nwant %s", c.Name, got, c.SigStructure)
		}
	}
}

func TestVerifySignDataRefusals(t *testing.T) {
	v := loadCIP8(t)
	good := v.Cases[0] // base address, payment key
	if good.Name != "base_mainnet_payment_key" {
		t.Fatalf("vectors reordered: %s", good.Name)
	}
	other := findCase(t, v, "reward_mainnet_stake_key")
	testnet := findCase(t, v, "base_testnet_payment_key")
	payload := []byte(v.Payload)

	strangerKey := coseKeyHex(t, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x33}, 32)).Public().(ed25519.PublicKey))
	cases := []struct {
		name          string
		sig, key      string
		addr          Address
		payload       []byte
		wantSubstring string
	}{
		{"wrong key", good.Signature, other.Key, good.addr(t), payload, "does not verify"},
		{"a stranger's key", good.Signature, strangerKey, good.addr(t), payload, "does not verify"},
		{"wrong claimed address", good.Signature, good.Key, testnet.addr(t), payload, "not the claimed address"},
		{"another nonce", good.Signature, good.Key, good.addr(t), []byte("tbackend sign-in nonce other"), "not the expected one"},
		{"tampered payload", resign1(t, good.Signature, func(m *coseSign1) { m.Payload = payload[:len(payload)-1] }), good.Key, good.addr(t), payload[:len(payload)-1], "does not verify"},
		{"tampered signature", resign1(t, good.Signature, func(m *coseSign1) { m.Signature[0] ^= 1 }), good.Key, good.addr(t), payload, "does not verify"},
		{"tampered protected header", resign1(t, good.Signature, func(m *coseSign1) { m.Protected = append(m.Protected[:len(m.Protected):len(m.Protected)], 0) }), good.Key, good.addr(t), payload, "protected header"},
		{"detached payload", resign1(t, good.Signature, func(m *coseSign1) { m.Payload = nil }), good.Key, good.addr(t), payload, "detached"},
		{"short signature", resign1(t, good.Signature, func(m *coseSign1) { m.Signature = m.Signature[:63] }), good.Key, good.addr(t), payload, "64 bytes"},
		{"hashed flag set", resign1(t, good.Signature, func(m *coseSign1) { m.Unprotected = map[any]cbor.RawMessage{"hashed": {0xf5}} }), good.Key, good.addr(t), payload, "hashed"},
		{"other tag", hex.EncodeToString(marshal(t, cbor.Tag{Number: 98, Content: cbor.RawMessage(mustHex(t, good.Signature))})), good.Key, good.addr(t), payload, "tag 98"},
		{"not hex", "zz", good.Key, good.addr(t), payload, "not hex"},
		{"not COSE", "a0", good.Key, good.addr(t), payload, "not a COSE_Sign1"},
		{"oversized", strings.Repeat("00", maxCOSEHex), good.Key, good.addr(t), payload, "over"},
		{"key of another curve", good.Signature, hex.EncodeToString(marshal(t, map[int]any{1: 1, -1: 4, -2: bytes.Repeat([]byte{1}, 32)})), good.addr(t), payload, "curve"},
		{"key not OKP", good.Signature, hex.EncodeToString(marshal(t, map[int]any{1: 2, -1: 6, -2: bytes.Repeat([]byte{1}, 32)})), good.addr(t), payload, "OKP"},
		{"key without x", good.Signature, hex.EncodeToString(marshal(t, map[int]any{1: 1, -1: 6})), good.addr(t), payload, "public key"},
		{"key with another alg", good.Signature, hex.EncodeToString(marshal(t, map[int]any{1: 1, 3: -7, -1: 6, -2: bytes.Repeat([]byte{1}, 32)})), good.addr(t), payload, "alg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifySignData(c.sig, c.key, c.addr, c.payload)
			if !errors.Is(err, ErrSignData) || !strings.Contains(err.Error(), c.wantSubstring) {
				t.Fatalf("err = %v, want ErrSignData mentioning %q", err, c.wantSubstring)
			}
		})
	}
}

// A signature made over a base address with its stake key verifies cryptographically, but must
// not prove the address: its payment credential is another key's.
func TestStakeKeyDoesNotProveBaseAddress(t *testing.T) {
	v := loadCIP8(t)
	c := findCase(t, v, "base_mainnet_stake_key")
	s, err := decodeSign1(c.Signature)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := decodeCOSEKey(c.Key)
	if err != nil || !ed25519.Verify(pub, s.toBeSigned, s.signature) {
		t.Fatalf("the vector's signature should verify on its own: %v", err)
	}
	if _, err := VerifySignData(c.Signature, c.Key, c.addr(t), []byte(v.Payload)); err == nil ||
		!strings.Contains(err.Error(), "not the one that controls") {
		t.Fatalf("err = %v", err)
	}
}

// Script and Byron addresses have no key to sign with.
func TestSigningCredentialRefusesKeylessAddresses(t *testing.T) {
	for _, s := range []string{
		"addr1z8phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gten0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgs9yc0hh",            // script payment
		"stake178phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gtcccycj5",                                                        // script stake
		"37btjrVyb4KDXBNC4haBVPCrro8AQPHwvCMp3RFhhSVWwfFmZ6wwzSK6JK1hY6wHNmtrpTf1kdbva8TCneM2YsiXT7mrzT21EacHnPpz5YyUdj64na", // Byron (CIP-19 example)
	} {
		a, err := ParseAddress(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if _, err := signingCredential(a); !errors.Is(err, ErrSignData) {
			t.Fatalf("%s: err = %v", s, err)
		}
	}
}

func findCase(t testing.TB, v cip8Vectors, name string) cip8Case {
	t.Helper()
	for _, c := range v.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no CIP-8 vector %s", name)
	return cip8Case{}
}

// resign1 re-encodes a COSE_Sign1 after changing it (the signature is not recomputed).
func resign1(t testing.TB, sigHex string, change func(*coseSign1)) string {
	t.Helper()
	var m coseSign1
	if err := decMode.Unmarshal(mustHex(t, sigHex), &m); err != nil {
		t.Fatal(err)
	}
	change(&m)
	return hex.EncodeToString(marshal(t, m))
}

func coseKeyHex(t testing.TB, pub ed25519.PublicKey) string {
	return hex.EncodeToString(marshal(t, map[int]any{1: 1, 3: -8, -1: 6, -2: []byte(pub)}))
}

// RFC 8152 allows the COSE_Sign1 tag (18); wallets mostly leave it out. Both verify.
func TestVerifySignDataTagged(t *testing.T) {
	v := loadCIP8(t)
	c := v.Cases[0]
	tagged := hex.EncodeToString(marshal(t, cbor.Tag{Number: coseTagSign1, Content: cbor.RawMessage(mustHex(t, c.Signature))}))
	if _, err := VerifySignData(tagged, c.Key, c.addr(t), []byte(v.Payload)); err != nil {
		t.Fatal(err)
	}
}

func FuzzVerifySignData(f *testing.F) {
	v := loadCIP8(f)
	for _, c := range v.Cases {
		f.Add(mustHex(f, c.Signature), mustHex(f, c.Key))
	}
	good := v.Cases[0]
	addr, err := ParseAddress(good.Address)
	if err != nil {
		f.Fatal(err)
	}
	payload := []byte(v.Payload)
	f.Fuzz(func(t *testing.T, sig, key []byte) {
		cred, err := VerifySignData(hex.EncodeToString(sig), hex.EncodeToString(key), addr, payload)
		if err != nil {
			if !errors.Is(err, ErrSignData) {
				t.Fatalf("error outside ErrSignData: %v", err)
			}
			return
		}
		// Whatever verifies must be the vector's own key signing this address and payload.
		if cred.Hex() != v.Keys.PaymentKeyHash {
			t.Fatalf("verified a signature by key hash %s", cred.Hex())
		}
	})
}

func TestSignDataPayload(t *testing.T) {
	v := loadCIP8(t)
	got, err := SignDataPayload(v.Cases[0].Signature)
	if err != nil || string(got) != v.Payload {
		t.Fatalf("payload %q, %v", got, err)
	}
	if _, err := SignDataPayload("a0"); !errors.Is(err, ErrSignData) {
		t.Fatalf("err = %v", err)
	}
}

// Our wallet side signs byte for byte as EMURGO's library does for the same key.
func TestSignDataMatchesLibrary(t *testing.T) {
	v := loadCIP8(t)
	seeds := map[string]byte{"payment": 0x11, "stake": 0x22}
	for _, c := range v.Cases {
		if strings.HasSuffix(c.Name, "_hashed") {
			continue // we never hash
		}
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seeds[c.Signer]}, 32))
		sig, k, err := SignData(key, c.addr(t), []byte(v.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if sig != c.Signature || k != c.Key {
			t.Fatalf("%s:\n got sig %s\nwant sig %s\n got key %s\nwant key %s", c.Name, sig, c.Signature, k, c.Key)
		}
	}
}
