package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tbackend/tbackend/storage/ledger"
)

// TestLedgerDebitRace: 50 calls race for 10 credits; exactly 10 get one, the balance ends at 0.
func TestLedgerDebitRace(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.batch("inv_b", "w1", 10), testTxHash("b"))
	var (
		mu   sync.Mutex
		left []int64
	)
	errs := ledgerRace(50, func(i int) error {
		n, err := e.l.Debit(ctx, "acme", "w1", fmt.Sprintf("job-%d", i))
		if err == nil {
			mu.Lock()
			left = append(left, n)
			mu.Unlock()
		}
		return err
	})
	if errs[""] != 10 || errs[ledger.ErrNoCredits.Error()] != 40 {
		t.Fatalf("50 Debits of 10 credits: %v", errs)
	}
	slices.Sort(left)
	if !slices.Equal(left, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("remaining credits reported: %v, want 0..9 once each", left)
	}
	if c := e.credits(t, "acme", "w1"); c != 0 {
		t.Fatalf("balance = %d, want 0", c)
	}
	if _, err := e.l.Debit(ctx, "acme", "nobody", "job-x"); !errors.Is(err, ledger.ErrNoCredits) {
		t.Fatalf("Debit of an empty balance: %v", err)
	}
	if c := e.credits(t, "acme", "nobody"); c != 0 {
		t.Fatalf("a refused Debit left balance %d", c)
	}
}

func TestLedgerRefund(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.batch("inv_b", "w1", 2), testTxHash("b"))

	if err := e.l.Refund(ctx, "acme", "w1", "job-never"); !errors.Is(err, ledger.ErrNoDebit) {
		t.Fatalf("Refund of a ref never debited: %v", err)
	}
	if left, err := e.l.Debit(ctx, "acme", "w1", "job-1"); err != nil || left != 1 {
		t.Fatalf("Debit = %d, %v", left, err)
	}
	// Only the balance the ref was debited from gets it back.
	for _, other := range [][2]string{{"acme", "w2"}, {"", "w1"}, {"other", "w1"}} {
		if err := e.l.Refund(ctx, other[0], other[1], "job-1"); !errors.Is(err, ledger.ErrNoDebit) {
			t.Fatalf("Refund of job-1 to %v: %v", other, err)
		}
	}
	// Many refunds of one ref, at once: one credit back.
	errs := ledgerRace(20, func(int) error { return e.l.Refund(ctx, "acme", "w1", "job-1") })
	if errs[""] != 20 {
		t.Fatalf("concurrent Refunds: %v", errs)
	}
	if c := e.credits(t, "acme", "w1"); c != 2 {
		t.Fatalf("balance after refunds = %d, want 2", c)
	}
	// A ref is single-use: neither a debited nor a refunded ref debits again.
	if _, err := e.l.Debit(ctx, "acme", "w1", "job-2"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"job-1", "job-2"} {
		if _, err := e.l.Debit(ctx, "acme", "w1", ref); !errors.Is(err, ledger.ErrCreditRefUsed) {
			t.Fatalf("Debit with used ref %s: %v", ref, err)
		}
	}
	if c := e.credits(t, "acme", "w1"); c != 1 {
		t.Fatalf("balance = %d, want 1", c)
	}

	for name, call := range map[string]func() error{
		"Debit, no wallet":  func() error { _, err := e.l.Debit(ctx, "acme", "", "r"); return err },
		"Debit, no ref":     func() error { _, err := e.l.Debit(ctx, "acme", "w1", ""); return err },
		"Refund, no wallet": func() error { return e.l.Refund(ctx, "acme", "", "r") },
		"Refund, no ref":    func() error { return e.l.Refund(ctx, "acme", "w1", "") },
	} {
		if err := call(); !errors.Is(err, ledger.ErrLedgerInput) {
			t.Errorf("%s: %v, want ErrLedgerInput", name, err)
		}
	}
}
