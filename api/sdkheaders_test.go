package api

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// X-Chain is checked on priced routes against the network payments are taken on, in either
// spelling; anything else is a clear 400 before an invoice is opened.
func TestXChainHeader(t *testing.T) {
	h := newWalletHarness(t) // mainnet
	for _, chain := range []string{"cardano:mainnet", "cardano-mainnet", " Cardano:Mainnet "} {
		if r := h.do("POST", "/chat", `{"message":"hi"}`, "X-Chain", chain); r.Status != 402 {
			t.Fatalf("X-Chain %q: %d %s", chain, r.Status, r.Body)
		}
	}
	for chain, want := range map[string]string{
		"cardano:preprod":  "X-Chain is cardano:preprod, but this service is paid on cardano:mainnet",
		"cardano-preview":  "X-Chain is cardano:preview, but this service is paid on cardano:mainnet",
		"eip155:1":         "X-Chain must be cardano:mainnet",
		"cardano:mainnet2": "X-Chain must be cardano:mainnet",
	} {
		r := h.do("POST", "/token-analysis", `{"token":"SNEK"}`, "X-Chain", chain)
		if d, _ := r.json(t)["detail"].(string); r.Status != 400 || !strings.HasPrefix(d, want) {
			t.Fatalf("X-Chain %q: %d %s", chain, r.Status, r.Body)
		}
	}
}

// X-Idempotency-Key is request_id by another name: an unpaid call is refused before its invoice
// when the two disagree or the key is too long.
func TestIdempotencyKeyHeader(t *testing.T) {
	h := newWalletHarness(t)
	if r := h.do("POST", "/chat", `{"message":"hi","request_id":"a"}`, "X-Idempotency-Key", "a"); r.Status != 402 {
		t.Fatalf("equal keys: %d %s", r.Status, r.Body)
	}
	for name, c := range map[string][2]string{
		"differ":   {`{"message":"hi","request_id":"a"}`, "b"},
		"too long": {`{"message":"hi"}`, strings.Repeat("k", 129)},
	} {
		r := h.do("POST", "/chat", c[0], "X-Idempotency-Key", c[1])
		if r.Status != 422 || !strings.Contains(string(r.Body), `"loc":["header","X-Idempotency-Key"]`) {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

// A body sent without Content-Type (as orynq-sdk's fetch may) is read as JSON.
func TestBodyWithoutContentTypeIsJSON(t *testing.T) {
	h := newWalletHarness(t)
	send := func(body string) (int, string) {
		req := httptest.NewRequest("POST", "http://example.com/chat", strings.NewReader(body))
		req.Header.Del("Content-Type")
		res, err := h.srv.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if status, body := send(`{"message":"hi"}`); status != 402 || !strings.Contains(body, `"invoiceId"`) {
		t.Fatalf("JSON without Content-Type: %d %s", status, body)
	}
	if status, body := send(`{"message":`); status != 422 {
		t.Fatalf("broken JSON without Content-Type: %d %s", status, body)
	}
}
