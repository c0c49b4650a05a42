package ledger_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

func TestLedgerReserveRefusals(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.invoice("pending"))
	e.open(t, e.invoice("submitted"))
	if _, err := e.l.Submitted(ctx, "submitted", testTxHash("s")); err != nil {
		t.Fatal(err)
	}
	e.confirmed(t, e.invoice("busy"), testTxHash("b"))
	if _, _, err := e.l.Reserve(ctx, "busy", "/chat", time.Minute); err != nil {
		t.Fatal(err)
	}
	e.confirmed(t, e.invoice("consumed"), testTxHash("c"))
	_, token, err := e.l.Reserve(ctx, "consumed", "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.Consume(ctx, "consumed", token); err != nil {
		t.Fatal(err)
	}
	e.confirmed(t, e.invoice("paid"), testTxHash("p"))

	cases := []struct {
		id, route string
		want      error
	}{
		{"nope", "/chat", payments.ErrInvoiceNotFound},
		{"", "/chat", payments.ErrInvoiceNotFound},
		{"paid", "/images/generate", payments.ErrRouteMismatch},
		{"pending", "/chat", ledger.ErrNotConfirmed},
		{"submitted", "/chat", ledger.ErrNotConfirmed},
		{"busy", "/chat", ledger.ErrInvoiceBusy},
		{"consumed", "/chat", payments.ErrInvoiceConsumed},
	}
	check := func() {
		t.Helper()
		for _, c := range cases {
			if _, _, err := e.l.Reserve(ctx, c.id, c.route, time.Minute); !errors.Is(err, c.want) {
				t.Errorf("Reserve(%q, %q) = %v, want %v", c.id, c.route, err, c.want)
			}
		}
	}
	check()
	if _, _, err := e.l.Reserve(ctx, "paid", "/chat", 0); !errors.Is(err, ledger.ErrLedgerInput) {
		t.Errorf("Reserve without a lease: %v", err)
	}

	// Past the payment window: the unpaid one has expired, a paid one still runs.
	e.clock.Advance(20 * time.Minute)
	cases[3].want = payments.ErrInvoiceExpired
	cases[5].want = nil // the lease ran out too: busy is taken over
	check()
	if _, _, err := e.l.Reserve(ctx, "paid", "/chat", time.Minute); err != nil {
		t.Fatalf("a paid invoice past its payment window: %v", err)
	}
}

func TestLedgerReserveConsumeRelease(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.invoice("inv_1"), testTxHash("1"))

	inv, token, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil || token == "" || inv.ID != "inv_1" || inv.Status != payments.InvoiceConfirmed {
		t.Fatalf("Reserve = %+v %q, %v", inv, token, err)
	}
	if s := e.status(t, "inv_1"); s != payments.InvoiceConfirmed {
		t.Fatalf("an invoice in use reads %q, want confirmed", s)
	}
	if err := e.l.Release(ctx, "inv_1", "not-the-token"); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("Release with another token: %v", err)
	}
	if err := e.l.Consume(ctx, "inv_1", ""); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("Consume without a token: %v", err)
	}
	if err := e.l.Release(ctx, "inv_1", token); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := e.l.Release(ctx, "inv_1", token); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("second Release: %v", err)
	}
	if err := e.l.Consume(ctx, "inv_1", token); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("Consume after Release: %v", err)
	}

	_, token2, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil || token2 == token {
		t.Fatalf("Reserve after Release = %q, %v; want a new token", token2, err)
	}
	if err := e.l.Consume(ctx, "inv_1", token2); err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if s := e.status(t, "inv_1"); s != payments.InvoiceConsumed {
		t.Fatalf("after Consume: %s", s)
	}
	if ttl, _ := e.rdb.PTTL(ctx, e.keys.LedgerInvoice("inv_1")).Result(); ttl < 29*24*time.Hour || ttl > 30*24*time.Hour {
		t.Fatalf("a consumed invoice keeps TTL %v, want the 30 day retention", ttl)
	}
	if err := e.l.Consume(ctx, "inv_1", token2); !errors.Is(err, payments.ErrInvoiceConsumed) {
		t.Fatalf("Consume after Consume: %v", err)
	}
	if err := e.l.Release(ctx, "inv_1", token2); !errors.Is(err, payments.ErrInvoiceConsumed) {
		t.Fatalf("Release after Consume: %v", err)
	}

	e.open(t, e.invoice("inv_2"))
	for name, f := range map[string]func(context.Context, string, string) error{"Consume": e.l.Consume, "Release": e.l.Release} {
		if err := f(ctx, "inv_2", "x"); !errors.Is(err, ledger.ErrNotConfirmed) {
			t.Errorf("%s of a pending invoice: %v", name, err)
		}
		if err := f(ctx, "nope", "x"); !errors.Is(err, payments.ErrInvoiceNotFound) {
			t.Errorf("%s of an unknown invoice: %v", name, err)
		}
	}
}

// TestLedgerReserveRace: many requests presenting one paid invoice at once; exactly one runs.
func TestLedgerReserveRace(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.invoice("inv_1"), testTxHash("1"))
	const n = 50
	var (
		mu     sync.Mutex
		tokens []string
	)
	errs := ledgerRace(n, func(int) error {
		_, token, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
		if err == nil {
			mu.Lock()
			tokens = append(tokens, token)
			mu.Unlock()
		}
		return err
	})
	if len(tokens) != 1 || errs[""] != 1 || errs[ledger.ErrInvoiceBusy.Error()] != n-1 {
		t.Fatalf("%d concurrent Reserves: %v; want one token, the rest busy", n, errs)
	}
	if err := e.l.Consume(ctx, "inv_1", tokens[0]); err != nil {
		t.Fatalf("the winner's Consume: %v", err)
	}
}

// TestLedgerLeaseExpiry: an api that crashed while holding an invoice gives it back when its lease
// runs out; its late Consume or Release then fails.
func TestLedgerLeaseExpiry(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.invoice("inv_1"), testTxHash("1"))
	_, crashed, err := e.l.Reserve(ctx, "inv_1", "/chat", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2*time.Minute - time.Millisecond)
	if _, _, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute); !errors.Is(err, ledger.ErrInvoiceBusy) {
		t.Fatalf("Reserve within the lease: %v, want busy", err)
	}
	e.clock.Advance(time.Millisecond)
	_, token, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil {
		t.Fatalf("Reserve after the lease ran out: %v", err)
	}
	for name, f := range map[string]func(context.Context, string, string) error{"Consume": e.l.Consume, "Release": e.l.Release} {
		if err := f(ctx, "inv_1", crashed); !errors.Is(err, ledger.ErrLeaseLost) {
			t.Fatalf("late %s of the crashed holder: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := e.l.Consume(ctx, "inv_1", token); err != nil {
		t.Fatalf("the new holder's Consume: %v", err)
	}

	// A holder whose lease ran out but whom nobody replaced may still finish.
	e.confirmed(t, e.invoice("inv_2"), testTxHash("2"))
	_, slow, err := e.l.Reserve(ctx, "inv_2", "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if err := e.l.Consume(ctx, "inv_2", slow); err != nil {
		t.Fatalf("late Consume with nobody taking over: %v", err)
	}
}

// TestLedgerBatchReservation: the paying call of a batch uses one of the credits it bought; a
// release (or a takeover after a crash) gives that credit back exactly once.
func TestLedgerBatchReservation(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.batch("inv_b", "w1", 3), testTxHash("b"))
	if c := e.credits(t, "acme", "w1"); c != 3 {
		t.Fatalf("credits after Confirm = %d", c)
	}
	_, token, err := e.l.Reserve(ctx, "inv_b", "/chat", time.Minute)
	if err != nil || e.credits(t, "acme", "w1") != 2 {
		t.Fatalf("Reserve: %v, credits %d; want 2", err, e.credits(t, "acme", "w1"))
	}
	if err := e.l.Release(ctx, "inv_b", token); err != nil || e.credits(t, "acme", "w1") != 3 {
		t.Fatalf("Release: %v, credits %d; want 3", err, e.credits(t, "acme", "w1"))
	}
	if _, _, err = e.l.Reserve(ctx, "inv_b", "/chat", time.Minute); err != nil {
		t.Fatal(err)
	}
	// The holder crashes; the takeover gives its credit back and spends one: still 2.
	e.clock.Advance(2 * time.Minute)
	if _, token, err = e.l.Reserve(ctx, "inv_b", "/chat", time.Minute); err != nil || e.credits(t, "acme", "w1") != 2 {
		t.Fatalf("takeover: %v, credits %d; want 2", err, e.credits(t, "acme", "w1"))
	}
	if err := e.l.Consume(ctx, "inv_b", token); err != nil || e.credits(t, "acme", "w1") != 2 {
		t.Fatalf("Consume: %v, credits %d; want 2", err, e.credits(t, "acme", "w1"))
	}

	// Credits spent elsewhere first: the paying call finds none left.
	e.confirmed(t, e.batch("inv_c", "w2", 1), testTxHash("c"))
	if _, err := e.l.Debit(ctx, "acme", "w2", "job-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.l.Reserve(ctx, "inv_c", "/chat", time.Minute); !errors.Is(err, ledger.ErrNoCredits) {
		t.Fatalf("Reserve of a batch whose credits are spent: %v, want ErrNoCredits", err)
	}
	if s := e.status(t, "inv_c"); s != payments.InvoiceConfirmed || e.credits(t, "acme", "w2") != 0 {
		t.Fatalf("after the refused Reserve: %s, credits %d", s, e.credits(t, "acme", "w2"))
	}
}

// ReleaseWithError gives the invoice back and records why the paid call was not delivered; the
// reservation's token is spent, and an empty reason keeps the recorded one.
func TestLedgerReleaseWithError(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.invoice("inv_1"), testTxHash("1"))
	_, token, err := e.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.ReleaseWithError(ctx, "inv_1", token, "stream_upstream_error"); err != nil {
		t.Fatal(err)
	}
	got, err := e.l.Get(ctx, "inv_1")
	if err != nil || got.Status != payments.InvoiceConfirmed || got.Error != "stream_upstream_error" {
		t.Fatalf("after the release: %+v, %v", got, err)
	}
	if err := e.l.ReleaseWithError(ctx, "inv_1", token, "again"); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("second release with the same token: %v, want ErrLeaseLost", err)
	}
	if _, token, err = e.l.Reserve(ctx, "inv_1", "/chat", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Release(ctx, "inv_1", token); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.l.Get(ctx, "inv_1"); got.Error != "stream_upstream_error" {
		t.Fatalf("a release without a reason changed the error to %q", got.Error)
	}
	if err := e.l.ReleaseWithError(ctx, "inv_1", token, strings.Repeat("x", 300)); !errors.Is(err, ledger.ErrLedgerInput) {
		t.Fatalf("an overlong reason: %v", err)
	}
}
