package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

func TestLedgerSubmitted(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.invoice("inv_1"))
	e.open(t, e.invoice("inv_2"))
	tx1, tx2 := testTxHash("1"), testTxHash("2")

	got, err := e.l.Submitted(ctx, "inv_1", tx1)
	if err != nil || got.Status != payments.InvoiceSubmitted || got.TxHash != tx1 {
		t.Fatalf("Submitted = %+v, %v", got, err)
	}
	// The transaction we submitted may land after the unpaid grace: its invoice stays for it.
	if ttl := e.rdb.PTTL(ctx, e.keys.LedgerInvoice("inv_1")).Val(); ttl < 29*24*time.Hour {
		t.Fatalf("a submitted invoice keeps TTL %v, want the 30 day retention", ttl)
	}
	// Idempotent: same answer, no new events.
	before := e.events(t)
	if got, err := e.l.Submitted(ctx, "inv_1", tx1); err != nil || got.Status != payments.InvoiceSubmitted {
		t.Fatalf("second Submitted = %+v, %v", got, err)
	}
	if e.events(t) != before {
		t.Fatal("a repeated Submitted wrote events")
	}
	// The tx is claimed: no other invoice may take it, in any spelling.
	for _, tx := range []string{tx1, strings.ToUpper(tx1)} {
		if _, err := e.l.Submitted(ctx, "inv_2", tx); !errors.Is(err, payments.ErrPaymentUsed) {
			t.Fatalf("Submitted of inv_1's tx for inv_2: %v, want ErrPaymentUsed", err)
		}
		if _, err := e.l.Confirm(ctx, "inv_2", tx, e.clock.Now()); !errors.Is(err, payments.ErrPaymentUsed) {
			t.Fatalf("Confirm of inv_1's tx for inv_2: %v, want ErrPaymentUsed", err)
		}
	}
	if s := e.status(t, "inv_2"); s != payments.InvoicePending {
		t.Fatalf("inv_2 after refused claims: %s", s)
	}
	// A resubmission with another tx keeps both claimed for inv_1; the newest is the one shown.
	if got, err := e.l.Submitted(ctx, "inv_1", tx2); err != nil || got.TxHash != tx2 {
		t.Fatalf("resubmission = %+v, %v", got, err)
	}
	if _, err := e.l.Submitted(ctx, "inv_2", tx1); !errors.Is(err, payments.ErrPaymentUsed) {
		t.Fatalf("the first tx was freed by the resubmission: %v", err)
	}
	// The first tx landing confirms inv_1 after all.
	if got, err := e.l.Confirm(ctx, "inv_1", tx1, e.clock.Now()); err != nil || got.Status != payments.InvoiceConfirmed || got.TxHash != tx1 {
		t.Fatalf("Confirm after submission = %+v, %v", got, err)
	}
	// Once paid, another tx is refused and stays free for other invoices.
	if _, err := e.l.Submitted(ctx, "inv_1", testTxHash("3")); !errors.Is(err, ledger.ErrInvoicePaid) {
		t.Fatalf("Submitted of another tx on a paid invoice: %v, want ErrInvoicePaid", err)
	}
	if _, err := e.l.Submitted(ctx, "inv_2", testTxHash("3")); err != nil {
		t.Fatalf("tx 3 was claimed by the refused call: %v", err)
	}

	for _, bad := range []string{"", "abc", tx1[:63] + "g", tx1 + "00"} {
		if _, err := e.l.Submitted(ctx, "inv_2", bad); !errors.Is(err, ledger.ErrLedgerInput) {
			t.Errorf("Submitted with tx %q: %v, want ErrLedgerInput", bad, err)
		}
	}
	if _, err := e.l.Submitted(ctx, "inv_nope", testTxHash("4")); !errors.Is(err, payments.ErrInvoiceNotFound) {
		t.Fatalf("Submitted on an unknown invoice: %v", err)
	}
	if n, _ := e.rdb.Exists(ctx, e.keys.LedgerTxClaim(testTxHash("4"))).Result(); n != 0 {
		t.Fatal("a refused Submitted claimed its tx")
	}
}

func TestLedgerConfirm(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.invoice("inv_1"))
	tx := testTxHash("pay-1")
	at := e.clock.Now().Add(3 * time.Minute)

	got, err := e.l.Confirm(ctx, "inv_1", strings.ToUpper(tx), at)
	if err != nil || got.Status != payments.InvoiceConfirmed || got.TxHash != tx || !got.SettledAt.Equal(at) {
		t.Fatalf("Confirm = %+v, %v", got, err)
	}
	// Paid and unused: the caller's money, so the record no longer expires.
	if ttl, _ := e.rdb.PTTL(ctx, e.keys.LedgerInvoice("inv_1")).Result(); ttl != -1 {
		t.Fatalf("a confirmed invoice has TTL %v, want none", ttl)
	}
	// Idempotent.
	before := e.events(t)
	if got, err := e.l.Confirm(ctx, "inv_1", tx, at.Add(time.Hour)); err != nil || got.Status != payments.InvoiceConfirmed || !got.SettledAt.Equal(at) {
		t.Fatalf("second Confirm = %+v, %v", got, err)
	}
	if e.events(t) != before {
		t.Fatal("a repeated Confirm wrote events")
	}
	if _, err := e.l.Confirm(ctx, "inv_1", testTxHash("pay-2"), at); !errors.Is(err, ledger.ErrInvoicePaid) {
		t.Fatalf("Confirm with a second tx: %v, want ErrInvoicePaid", err)
	}
	if _, err := e.l.Confirm(ctx, "inv_nope", testTxHash("pay-3"), at); !errors.Is(err, payments.ErrInvoiceNotFound) {
		t.Fatalf("Confirm of an unknown invoice: %v", err)
	}

	// Past its expiry an unpaid invoice still confirms: the verifier decided the tx was in time.
	e.open(t, e.invoice("inv_late"))
	e.clock.Advance(time.Hour)
	if got, err := e.l.Confirm(ctx, "inv_late", testTxHash("late"), e.clock.Now()); err != nil || got.Status != payments.InvoiceConfirmed {
		t.Fatalf("Confirm of an expired pending invoice = %+v, %v", got, err)
	}

	// Still idempotent after the paid call ran.
	_, token, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.Consume(ctx, "inv_1", token); err != nil {
		t.Fatal(err)
	}
	if got, err := e.l.Confirm(ctx, "inv_1", tx, at); err != nil || got.Status != payments.InvoiceConsumed {
		t.Fatalf("Confirm of a consumed invoice with its tx = %+v, %v", got, err)
	}
}

func TestLedgerConfirmBatchCreditsOnce(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.batch("inv_b", "w1", 10))
	tx := testTxHash("batch")
	for range 3 {
		if _, err := e.l.Confirm(ctx, "inv_b", tx, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if c := e.credits(t, "acme", "w1"); c != 10 {
		t.Fatalf("credits after three Confirms of one batch = %d, want 10", c)
	}
	// Concurrent repeats credit nothing more either.
	errs := ledgerRace(20, func(int) error { _, err := e.l.Confirm(ctx, "inv_b", tx, e.clock.Now()); return err })
	if errs[""] != 20 || e.credits(t, "acme", "w1") != 10 {
		t.Fatalf("concurrent Confirms: %v, credits %d", errs, e.credits(t, "acme", "w1"))
	}
	b, err := e.l.Balance(ctx, "acme", "w1")
	if err != nil || b.Partner != "acme" || b.Wallet != "w1" || !b.UpdatedAt.Equal(e.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("Balance = %+v, %v", b, err)
	}
	// Balances are per (partner, wallet).
	if c := e.credits(t, "", "w1"); c != 0 {
		t.Fatalf("(no partner, w1) has %d credits", c)
	}
	if c := e.credits(t, "acme", "w2"); c != 0 {
		t.Fatalf("(acme, w2) has %d credits", c)
	}
}

// TestLedgerOneTxOneInvoice: a transaction pays at most one invoice, also when invoices race for it.
func TestLedgerOneTxOneInvoice(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.invoice("inv_1"))
	e.open(t, e.invoice("inv_2"))
	tx := testTxHash("once")
	if _, err := e.l.Confirm(ctx, "inv_1", tx, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Confirm(ctx, "inv_2", tx, e.clock.Now()); !errors.Is(err, payments.ErrPaymentUsed) {
		t.Fatalf("second invoice: %v, want ErrPaymentUsed", err)
	}

	const n = 20
	for i := range n {
		e.open(t, e.batch(fmt.Sprintf("race_%d", i), "w-race", 5))
	}
	shared := testTxHash("shared")
	errs := ledgerRace(n, func(i int) error {
		_, err := e.l.Confirm(ctx, fmt.Sprintf("race_%d", i), shared, e.clock.Now())
		return err
	})
	if errs[""] != 1 || errs[payments.ErrPaymentUsed.Error()] != n-1 {
		t.Fatalf("%d invoices racing for one tx: %v; want one winner", n, errs)
	}
	if c := e.credits(t, "acme", "w-race"); c != 5 {
		t.Fatalf("credits = %d, want one batch (5)", c)
	}
	owner, err := e.rdb.Get(ctx, e.keys.LedgerTxClaim(shared)).Result()
	if err != nil || e.status(t, owner) != payments.InvoiceConfirmed {
		t.Fatalf("claim names %q (%v), which is not the confirmed invoice", owner, err)
	}
}
