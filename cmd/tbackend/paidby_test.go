package main

import (
	"testing"
)

// paidChat pays a new /chat invoice from wallet and sends body with it; hdr adds headers.
func (e *payEnv) paidChat(t *testing.T, wallet, body string, hdr ...string) reply {
	t.Helper()
	d := invoiceOf(t, e.chat(t))
	tx := e.put(t, e.paymentFrom(t, d, wallet))
	e.chain.AdvanceTip(2)
	r := e.spec.call(t, "POST", e.base+"/chat", "", body,
		append([]string{"X-Invoice-Id", d["invoiceId"].(string), "X-Payment", tx}, hdr...)...)
	if r.status != 200 {
		t.Fatalf("paid chat from %s: %d %s", wallet, r.status, r.raw)
	}
	return r
}

// The guide's example: pay, chat with session_id "pay-1", pay again from the same wallet with the
// same session_id, and the conversation continues. The owner is the wallet that signed the paying
// input: another wallet, even one naming the first in X-Wallet-Address, gets a conversation and
// request ids of its own.
func TestPaidSessionsBelongToThePayer(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	alice, mallory := exampleWallet, e.chain.Address("mallory")
	prompt := func(r reply) float64 { return r.body["usage"].(map[string]any)["prompt_tokens"].(float64) }

	first := e.paidChat(t, alice, `{"message":"My name is Ada","session_id":"pay-1","request_id":"r-1"}`)
	second := e.paidChat(t, alice, `{"message":"What is my name?","session_id":"pay-1"}`)
	fresh := e.paidChat(t, alice, `{"message":"What is my name?","session_id":"pay-2"}`)
	if prompt(second) <= prompt(fresh)+prompt(first)/2 {
		t.Fatalf("the same wallet's second paid turn lost its history: prompt tokens %v vs a fresh session's %v", prompt(second), prompt(fresh))
	}
	spoof := e.paidChat(t, mallory, `{"message":"What is my name?","session_id":"pay-1"}`, "X-Wallet-Address", alice)
	if prompt(spoof) != prompt(fresh) {
		t.Fatalf("another wallet reached the session: prompt tokens %v, a fresh session %v", prompt(spoof), prompt(fresh))
	}
	replay := e.paidChat(t, mallory, `{"message":"My name is Ada","session_id":"pay-1","request_id":"r-1"}`, "X-Wallet-Address", alice)
	if replay.header.Get("X-Idempotent-Replay") != "" || replay.body["request_id"] != "r-1" {
		t.Fatalf("another wallet got the first wallet's idempotent reply: %v %s", replay.header, replay.raw)
	}
	again := e.paidChat(t, alice, `{"message":"My name is Ada","session_id":"pay-1","request_id":"r-1"}`)
	if again.header.Get("X-Idempotent-Replay") != "true" {
		t.Fatalf("the same wallet's repeated request id was not replayed: %v", again.header)
	}
}
