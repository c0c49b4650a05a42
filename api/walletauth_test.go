package api

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
)

// The CIP-8 vectors' keys (cardano/testdata/cip8): a base address with payment key 32×0x11 and
// stake key 32×0x22.
const (
	signInAddress = "addr1q9dwryatu622vp6nrcs0shvrtzk7nfr55n69438pt6tzmg0g4rwcmvvnlvlsctqa7h9egcsvmp47g0jwq4fel3nckx6ss9yeyk"
	signInKeyHash = "5ae193abe694a607531e20f85d8358ade9a474a4f45ac4e15e962da1"
)

var (
	signInPaymentKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x11}, 32))
	signInStakeKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x22}, 32))
)

func newWalletHarness(t *testing.T) *harness {
	t.Helper()
	raw, err := os.ReadFile("../payments/testdata/payments.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := payments.Parse(raw, ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	keys := storage.NewKeys("")
	h.srv.deps.Payments = cfg
	h.srv.deps.Ledger = ledger.New(h.rdb, keys, time.Now)
	h.srv.deps.Wallets = storage.NewWalletAuth(h.rdb, keys)
	return h
}

// signIn asks for a challenge for address and answers it with key; it returns the verify
// response.
func (h *harness) signIn(address string, key ed25519.PrivateKey, partner string) response {
	h.t.Helper()
	body := `{"address":"` + address + `"}`
	if partner != "" {
		body = `{"address":"` + address + `","partner":"` + partner + `"}`
	}
	res := h.do("POST", "/auth/wallet/challenge", body)
	if res.Status != 201 {
		h.t.Fatalf("challenge: %d %s", res.Status, res.Body)
	}
	var ch challengeBody
	if err := json.Unmarshal(res.Body, &ch); err != nil {
		h.t.Fatal(err)
	}
	return h.answer(address, key, ch)
}

func (h *harness) answer(address string, key ed25519.PrivateKey, ch challengeBody) response {
	h.t.Helper()
	sig, k := signChallenge(h.t, key, address, ch)
	return h.do("POST", "/auth/wallet/verify", verifyBody(address, sig, k))
}

func signChallenge(t *testing.T, key ed25519.PrivateKey, address string, ch challengeBody) (string, string) {
	t.Helper()
	payload, err := hex.DecodeString(ch.Payload)
	if err != nil || string(payload) != ch.Message {
		t.Fatalf("payload %q is not the hex of the message", ch.Payload)
	}
	addr, err := cardano.ParseAddress(address)
	if err != nil {
		t.Fatal(err)
	}
	sig, k, err := cardano.SignData(key, addr, payload)
	if err != nil {
		t.Fatal(err)
	}
	return sig, k
}

func verifyBody(address, sig, key string) string {
	return `{"address":"` + address + `","signature":"` + sig + `","key":"` + key + `"}`
}

func TestWalletSignIn(t *testing.T) {
	h := newWalletHarness(t)
	res := h.signIn(signInAddress, signInPaymentKey, "acme")
	if res.Status != 200 {
		t.Fatalf("verify: %d %s", res.Status, res.Body)
	}
	var tok walletTokenBody
	if err := json.Unmarshal(res.Body, &tok); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "tbw_") || tok.Credential != signInKeyHash || tok.Address != signInAddress ||
		tok.Partner == nil || *tok.Partner != "acme" || tok.TokenType != "Bearer" {
		t.Fatalf("token body %+v", tok)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("a token answer may be cached")
	}

	me := h.do("GET", "/auth/wallet/me", "", "Authorization", "Bearer "+tok.Token)
	if me.Status != 200 || me.json(t)["credential"] != signInKeyHash || me.json(t)["token"] != nil {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
	for _, auth := range []string{"", "Bearer", "Bearer tbw_nope", "Basic " + tok.Token, tok.Token} {
		res := h.do("GET", "/auth/wallet/me", "", "Authorization", auth)
		if res.Status != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("Authorization %q: %d %s", auth, res.Status, res.Body)
		}
	}

	if res := h.do("POST", "/auth/wallet/revoke", "", "Authorization", "Bearer "+tok.Token); res.Status != 204 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if res := h.do("GET", "/auth/wallet/me", "", "Authorization", "Bearer "+tok.Token); res.Status != 401 {
		t.Fatalf("revoked token still works: %d", res.Status)
	}
}

func TestWalletRevokeAll(t *testing.T) {
	h := newWalletHarness(t)
	var tokens []string
	for range 2 {
		res := h.signIn(signInAddress, signInPaymentKey, "")
		tokens = append(tokens, res.json(t)["token"].(string))
	}
	if res := h.do("POST", "/auth/wallet/revoke", `{"all":"yes"}`, "Authorization", "Bearer "+tokens[0]); res.Status != 422 {
		t.Fatalf("revoke with a malformed body: %d %s", res.Status, res.Body)
	}
	if res := h.do("POST", "/auth/wallet/revoke", `{"all":true}`, "Authorization", "Bearer "+tokens[0]); res.Status != 204 {
		t.Fatalf("revoke all: %d %s", res.Status, res.Body)
	}
	if res := h.do("GET", "/auth/wallet/me", "", "Authorization", "Bearer "+tokens[1]); res.Status != 401 {
		t.Fatalf("the wallet's other token survived revoke-all: %d", res.Status)
	}
}

// Every way of answering a challenge that does not prove the address is refused, and a refused
// attempt spends the challenge.
func TestWalletSignInRefusals(t *testing.T) {
	h := newWalletHarness(t)
	challenge := func(address string) challengeBody {
		res := h.do("POST", "/auth/wallet/challenge", `{"address":"`+address+`"}`)
		if res.Status != 201 {
			t.Fatalf("challenge: %d %s", res.Status, res.Body)
		}
		var ch challengeBody
		_ = json.Unmarshal(res.Body, &ch)
		return ch
	}
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x33}, 32))

	t.Run("wrong key", func(t *testing.T) {
		if res := h.answer(signInAddress, stranger, challenge(signInAddress)); res.Status != 401 ||
			!strings.Contains(res.json(t)["detail"].(string), "not the one that controls") {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("stake key for a base address", func(t *testing.T) {
		if res := h.answer(signInAddress, signInStakeKey, challenge(signInAddress)); res.Status != 401 {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("replayed challenge", func(t *testing.T) {
		ch := challenge(signInAddress)
		sig, k := signChallenge(t, signInPaymentKey, signInAddress, ch)
		if res := h.do("POST", "/auth/wallet/verify", verifyBody(signInAddress, sig, k)); res.Status != 200 {
			t.Fatalf("first use: %d %s", res.Status, res.Body)
		}
		if res := h.do("POST", "/auth/wallet/verify", verifyBody(signInAddress, sig, k)); res.Status != 401 ||
			!strings.Contains(res.json(t)["detail"].(string), "challenge") {
			t.Fatalf("replay: %d %s", res.Status, res.Body)
		}
	})
	t.Run("a failed attempt spends the challenge", func(t *testing.T) {
		ch := challenge(signInAddress)
		h.answer(signInAddress, stranger, ch)
		if res := h.answer(signInAddress, signInPaymentKey, ch); res.Status != 401 {
			t.Fatalf("second attempt on one challenge: %d %s", res.Status, res.Body)
		}
	})
	t.Run("challenge of another address", func(t *testing.T) {
		other := "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
		ch := challenge(other)
		sig, k := signChallenge(t, signInPaymentKey, signInAddress, ch)
		if res := h.do("POST", "/auth/wallet/verify", verifyBody(signInAddress, sig, k)); res.Status != 401 ||
			!strings.Contains(res.json(t)["detail"].(string), "another address") {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("tampered message", func(t *testing.T) {
		ch := challenge(signInAddress)
		ch.Message += "\nAdmin: yes"
		ch.Payload = hex.EncodeToString([]byte(ch.Message))
		if res := h.answer(signInAddress, signInPaymentKey, ch); res.Status != 401 {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for body, want := range map[string]int{
			`{"address":"nope"}`: 400,
			`{"address":"addr_test1qpdwryatu622vp6nrcs0shvrtzk7nfr55n69438pt6tzmg0g4rwcmvvnlvlsctqa7h9egcsvmp47g0jwq4fel3nckx6snneegf"}`: 400,
			`{"address":"` + signInAddress + `","partner":"nobody"}`:                                                                     400,
			`{}`: 422,
		} {
			if res := h.do("POST", "/auth/wallet/challenge", body); res.Status != want {
				t.Errorf("challenge %s: %d %s", body, res.Status, res.Body)
			}
		}
		if res := h.do("POST", "/auth/wallet/verify", verifyBody(signInAddress, "a0", "a0")); res.Status != 400 {
			t.Errorf("verify with junk: %d %s", res.Status, res.Body)
		}
		if res := h.do("POST", "/auth/wallet/verify", `{"address":"`+signInAddress+`"}`); res.Status != 422 {
			t.Errorf("verify without signature: %d %s", res.Status, res.Body)
		}
	})
}

func TestWalletSignInOffWithoutPayments(t *testing.T) {
	h := newHarness(t)
	for _, r := range [][2]string{{"POST", "/auth/wallet/challenge"}, {"POST", "/auth/wallet/verify"},
		{"GET", "/auth/wallet/me"}, {"POST", "/auth/wallet/revoke"}} {
		if res := h.do(r[0], r[1], `{}`); res.Status != 404 {
			t.Errorf("%s %s: %d", r[0], r[1], res.Status)
		}
	}
}

func TestWalletChallengeRateLimit(t *testing.T) {
	h := newWalletHarness(t)
	for i := range challengesPerMinute + 1 {
		res := h.do("POST", "/auth/wallet/challenge", `{"address":"`+signInAddress+`"}`)
		if i < challengesPerMinute && res.Status != 201 || i == challengesPerMinute && (res.Status != 429 || res.Header.Get("Retry-After") == "") {
			t.Fatalf("challenge %d: %d %s", i, res.Status, res.Body)
		}
	}
}
