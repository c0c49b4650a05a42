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

// A paid job belongs to its payer's wallet: that wallet's token reads it and resumes its stream;
// another wallet's token, or none, does not.
func TestPaidJobsBelongToThePayersWalletToken(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	r := e.paidChat(t, exampleWallet, `{"message":"hello"}`)
	job := r.header.Get("X-Job-Id")
	if job == "" {
		t.Fatalf("no X-Job-Id: %v", r.header)
	}
	auth := e.signIn(t, exampleWallet)
	if st := e.spec.call(t, "GET", e.base+"/jobs/"+job, "", "", auth...); st.status != 200 || st.body["status"] != "succeeded" {
		t.Fatalf("the payer's token reading its job: %d %s", st.status, st.raw)
	}
	if st := e.spec.call(t, "GET", e.base+"/jobs/"+job, "", ""); st.status != 401 {
		t.Fatalf("no credentials: %d %s", st.status, st.raw)
	}
	other := e.paidChat(t, e.chain.Address("mallory"), `{"message":"hello"}`)
	if st := e.spec.call(t, "GET", e.base+"/jobs/"+other.header.Get("X-Job-Id"), "", "", auth...); st.status != 404 {
		t.Fatalf("another wallet's job: %d %s", st.status, st.raw)
	}
	if st := e.spec.call(t, "GET", e.base+"/jobs/"+job, "", "", "Authorization", "Bearer tbw_forged"); st.status != 401 {
		t.Fatalf("a forged token: %d %s", st.status, st.raw)
	}
}
