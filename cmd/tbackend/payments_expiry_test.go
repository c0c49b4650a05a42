package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
)

// Inclusion decides expiry: a payment in a block at or before the invoice's expiry pays it,
// although its confirmations (and the paid retry) come after the expiry; one included a second
// after the expiry never does. The invoices are opened as of the past, so that the api's clock is
// past their expiry while the chain's blocks straddle it.
func TestInclusionDecidesExpiry(t *testing.T) {
	e := newPayEnvMemo(t, false)
	tip := time.Unix(e.chain.Tip().Time, 0).UTC() // about a minute ago; the next block is 20 s later
	next := tip.Add(20 * time.Second)
	open := func(id string, expires time.Time, amount uint64) {
		created := tip.Add(-time.Minute)
		l := ledger.New(e.rdb, storage.NewKeys(""), func() time.Time { return created })
		inv := payments.Invoice{ID: id, Route: "/chat", Network: "mainnet", Asset: payments.AssetADA, Decimals: 6,
			AmountUnits: amount, Lovelace: amount, PayTo: e.shop, MinConfirmations: 2, CreatedAt: created, ExpiresAt: expires}
		if _, _, err := l.Open(context.Background(), inv); err != nil {
			t.Fatal(err)
		}
	}
	open("inv_intime", next, chatPrice+1)                 // the payment's block is at the expiry
	open("inv_late", next.Add(-time.Second), chatPrice+2) // and one second after this one's
	pay := func(amount uint64) string {
		return e.put(t, e.payment(t, map[string]any{"payTo": e.shop, "amountUnits": formatUnits(amount), "extra": map[string]any{}}))
	}
	inTime, late := pay(chatPrice+1), pay(chatPrice+2)
	e.chain.AdvanceTip(1)
	if b := e.chain.Tip().Time; b != next.Unix() {
		t.Fatalf("the payments' block is at %d, want %d", b, next.Unix())
	}
	if time.Now().Before(next) {
		t.Fatal("the invoices have not expired yet on the api's clock")
	}
	// Expired on the api's clock, with no proof: refused without asking the chain.
	wantRefusal(t, e.retry(t, "inv_intime", ""), "invoice_expired")
	// One confirmation of two: still pending, although the invoice expired.
	if d := invoiceOf(t, e.retry(t, "inv_intime", inTime)); d["status"] != "pending" || d["error"] != nil {
		t.Fatalf("in time, one confirmation: %v", d)
	}
	e.chain.AdvanceTip(1)
	if r := e.retry(t, "inv_intime", inTime); r.status != 200 {
		t.Fatalf("included by the expiry, confirmed after it: %d %s", r.status, r.raw)
	}
	wantRefusal(t, e.retry(t, "inv_late", late), "invoice_expired")
}

func formatUnits(n uint64) string { return strconv.FormatUint(n, 10) }
