package main

import (
	"encoding/hex"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

// Front-running with the memo: everything on chain is public, so an attacker reads the paying
// transaction's CIP-20 message as soon as it lands. It carries a reference drawn apart from the
// invoice id, so it neither names an invoice nor lets the attacker's own invoice take the payment.
func TestFrontRunningTheMemoFails(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	victim := invoiceOf(t, e.chat(t))
	id := victim["invoiceId"].(string)
	tx := e.put(t, e.payment(t, victim))
	e.chain.AdvanceTip(2)

	// What the chain shows of the payment (Blockfrost's /txs/{hash}/metadata).
	md := call(t, "GET", e.chainURL+"/txs/"+tx+"/metadata", "", "", "project_id", "proj")
	if md.status != 200 || strings.Contains(md.raw, id) || strings.Contains(md.raw, id[len("inv_"):]) {
		t.Fatalf("the chain shows the invoice id: %d %s", md.status, md.raw)
	}
	words := regexp.MustCompile(`[A-Za-z0-9_-]{8,}`).FindAllString(md.raw, -1)
	if len(words) == 0 {
		t.Fatalf("no memo on chain: %s", md.raw)
	}
	for _, w := range words { // each word of the message, tried as an invoice id
		if r := e.retry(t, w, tx); r.status == 200 || invoiceOf(t, r)["error"] != "invoice_unknown" {
			t.Fatalf("the memo word %q took the payment: %d %s", w, r.status, r.raw)
		}
		if st := call(t, "GET", e.base+"/payments/status/"+w, "", ""); st.status != 404 {
			t.Fatalf("the memo word %q names an invoice: %s", w, st.raw)
		}
	}
	// The attacker's own invoice of the same route and price, retried with the victim's tx.
	mine := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"attacker"}`))
	if mine["amountUnits"] == victim["amountUnits"] {
		t.Fatalf("two open invoices ask for %v", mine["amountUnits"])
	}
	r := e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"attacker"}`, "X-Invoice-Id", mine["invoiceId"].(string), "X-Payment", tx)
	if r.status == 200 || !strings.HasPrefix(invoiceOf(t, r)["error"].(string), "payment_") {
		t.Fatalf("the attacker's invoice took the victim's payment: %d %s", r.status, r.raw)
	}
	if r := e.retry(t, id, tx); r.status != 200 {
		t.Fatalf("the victim's honest retry: %d %s", r.status, r.raw)
	}
}

// Front-running without a memo: a payment of one invoice's exact amount does not pay another
// invoice of the same route (same price, other unique amount).
func TestMemolessPaymentBindsByAmount(t *testing.T) {
	e := newPayEnvMemo(t, false)
	e.catchUp()
	victim := invoiceOf(t, e.chat(t))
	if victim["extra"].(map[string]any)["memo"] != nil {
		t.Fatalf("a memo without require_memo: %v", victim)
	}
	tx := e.put(t, e.payment(t, victim))
	e.chain.AdvanceTip(2)
	other := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"other"}`))
	r := e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"other"}`, "X-Invoice-Id", other["invoiceId"].(string), "X-Payment", tx)
	if d := invoiceOf(t, r); d["error"] != "payment_amount_insufficient" && d["error"] != "payment_amount_mismatch" {
		t.Fatalf("another invoice claimed the payment: %s", r.raw)
	}
	if r := e.retry(t, victim["invoiceId"].(string), tx); r.status != 200 {
		t.Fatalf("the honest retry: %d %s", r.status, r.raw)
	}
}

// 50 concurrent claims of one transaction across 50 invoices of one route: one succeeds, the one
// whose amount it pays.
func TestOneTxAcrossManyInvoicesConcurrently(t *testing.T) {
	e := newPayEnvMemo(t, false)
	e.catchUp()
	ids := make([]string, 50)
	bodies := make([]string, 50)
	var paid map[string]any
	for i := range ids {
		bodies[i] = `{"message":"race ` + strings.Repeat("x", i) + `"}`
		d := invoiceOf(t, call(t, "POST", e.base+"/chat", "", bodies[i]))
		ids[i] = d["invoiceId"].(string)
		if i == 17 {
			paid = d
		}
	}
	tx := e.put(t, e.payment(t, paid))
	e.chain.AdvanceTip(2)
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range ids {
		wg.Go(func() {
			statuses[i] = call(t, "POST", e.base+"/chat", "", bodies[i], "X-Invoice-Id", ids[i], "X-Payment", tx).status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if want := map[bool]int{true: 200, false: 402}[i == 17]; s != want {
			t.Fatalf("invoice %d answered %d, want %d (statuses %v)", i, s, want, statuses)
		}
	}
}

// A signed transaction of Cardano's full size (16 KB, 32 KB of hex) is too large for a header
// (fiber's buffer is 4 KB): POST /payments/submit takes it in the body, and the paid retry then
// names it by its hash.
func TestSubmitALargeSignedTx(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	d := invoiceOf(t, e.chat(t))
	id := d["invoiceId"].(string)
	p := e.payment(t, d)
	memo := d["extra"].(map[string]any)["memo"].(string)
	p.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20("T Backend invoice "+memo, strings.Repeat("padding ", 1900))}
	raw, err := blockfrostemu.EncodeTx(blockfrostemu.Signed{Outputs: p.Outputs, Metadata: p.Metadata, Seed: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 15_500 || len(raw) > 16_384 {
		t.Fatalf("the transaction has %d bytes, want close to 16 KB", len(raw))
	}
	txHash, err := blockfrostemu.TxID(raw)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(invoice, tx string) reply {
		return e.spec.call(t, "POST", e.base+"/payments/submit", "", `{"invoiceId":"`+invoice+`","tx":"`+tx+`"}`)
	}
	if r := submit("inv_nosuchinvoice", hex.EncodeToString(raw)); r.status != 404 {
		t.Fatalf("unknown invoice: %d %s", r.status, r.raw)
	}
	if r := submit(id, "abcd"); invoiceOf(t, r)["error"] != "payment_malformed" {
		t.Fatalf("not a transaction: %s", r.raw)
	}
	r := submit(id, hex.EncodeToString(raw))
	if d := invoiceOf(t, r); d["status"] != "submitted" || r.header.Get("Retry-After") == "" {
		t.Fatalf("large signed tx: %s", r.raw)
	}
	if n := e.chain.Stats().Submitted; n != 1 {
		t.Fatalf("%d transactions submitted, want 1", n)
	}
	e.chain.AdvanceTip(2)
	if r := submit(id, hex.EncodeToString(raw)); r.status != 200 || r.body["status"] != "confirmed" || r.body["txHash"] != txHash {
		t.Fatalf("after confirmation: %d %s", r.status, r.raw)
	}
	if r := e.retry(t, id, txHash); r.status != 200 {
		t.Fatalf("the paid retry by hash: %d %s", r.status, r.raw)
	}
}

// When every unique amount of a price is held by an open invoice, a new one is refused with 503
// and Retry-After, never given a duplicate amount; a paid invoice gives its amount back.
func TestUniqueAmountsExhausted(t *testing.T) {
	e := newPayEnvWith(t, false, "amount_offsets: 2\n")
	e.catchUp()
	first := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"one"}`))
	second := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"two"}`))
	if first["amountUnits"] == second["amountUnits"] {
		t.Fatalf("two open invoices ask for %v", first["amountUnits"])
	}
	r := e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"three"}`)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "invoice_amounts_exhausted") {
		t.Fatalf("a full range: %d %s", r.status, r.raw)
	}
	tx := e.put(t, e.payment(t, first))
	e.chain.AdvanceTip(2)
	if r := e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"one"}`, "X-Invoice-Id", first["invoiceId"].(string), "X-Payment", tx); r.status != 200 {
		t.Fatalf("paying the first: %d %s", r.status, r.raw)
	}
	if third := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"three"}`)); third["amountUnits"] != first["amountUnits"] {
		t.Fatalf("after the first was paid: %v (first %v)", third["amountUnits"], first["amountUnits"])
	}
}
