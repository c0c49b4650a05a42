package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

// Open draws an amount no other open invoice to the same (payTo, asset) asks for, whatever the
// price it was drawn from; a full range is an error, never a duplicate; amounts come back a grace
// after their invoice's expiry.
func TestLedgerUniqueAmounts(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	const offsets = 20
	open := func(id string, base uint64) (payments.Invoice, error) {
		inv := e.invoice(id)
		inv.AmountUnits, inv.Lovelace, inv.AmountOffsets = base, base, offsets
		out, _, err := e.l.Open(ctx, inv)
		return out, err
	}
	seen := map[uint64]string{}
	for i := range offsets {
		// Two prices 7 apart share most of their ranges: the amounts must still differ.
		base := uint64(1_000_000 + 7*(i%2))
		inv, err := open(fmt.Sprintf("inv_%d", i), base)
		if err != nil {
			t.Fatalf("invoice %d: %v", i, err)
		}
		if inv.AmountUnits <= base || inv.AmountUnits > base+offsets || inv.Lovelace != inv.AmountUnits {
			t.Fatalf("invoice %d: amount %d (lovelace %d) from %d", i, inv.AmountUnits, inv.Lovelace, base)
		}
		if other, dup := seen[inv.AmountUnits]; dup {
			t.Fatalf("%s and %s both ask for %d", inv.ID, other, inv.AmountUnits)
		}
		seen[inv.AmountUnits] = inv.ID
		if got, err := e.l.Get(ctx, inv.ID); err != nil || got.AmountUnits != inv.AmountUnits {
			t.Fatalf("Get(%s) = %d, %v; Open said %d", inv.ID, got.AmountUnits, err, inv.AmountUnits)
		}
	}
	// 1_000_000's range is full (some of its amounts are held by the other price's invoices).
	full := 0
	for i := range 10 {
		if _, err := open(fmt.Sprintf("full_%d", i), 1_000_000); errors.Is(err, ledger.ErrAmountsTaken) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full == 0 {
		t.Fatal("a range held by open invoices still gave out amounts")
	}
	// Another address, or another asset, has its own amounts.
	other := e.invoice("elsewhere")
	other.PayTo, other.AmountOffsets = "addr_test1other", offsets
	if _, _, err := e.l.Open(ctx, other); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Past the expiry the amounts are still held (a late payment may be on its way), then free.
	e.clock.Advance(15*time.Minute + time.Second)
	if _, err := open("late", 1_000_000); !errors.Is(err, ledger.ErrAmountsTaken) {
		t.Fatalf("within the grace: %v", err)
	}
	e.clock.Advance(5 * time.Minute)
	if _, err := open("later", 1_000_000); err != nil {
		t.Fatalf("after the grace: %v", err)
	}
	// A range that would pass 2^64 is refused before Redis is asked.
	huge := e.invoice("huge")
	huge.AmountUnits, huge.AmountOffsets = math.MaxUint64-3, 10
	if _, _, err := e.l.Open(ctx, huge); !errors.Is(err, ledger.ErrLedgerInput) {
		t.Fatalf("overflowing range: %v", err)
	}
}

// The digit-by-digit addition carries through every digit, up to the top of uint64.
func TestLedgerUniqueAmountCarries(t *testing.T) {
	e := newLedgerEnv(t)
	for i, base := range []uint64{9_999_999, 99, math.MaxUint64 - 1_000_000} {
		inv := e.invoice(fmt.Sprintf("carry_%d", i))
		inv.PayTo = fmt.Sprintf("addr_test1carry%d", i)
		inv.AmountUnits, inv.AmountOffsets = base, 1_000_000
		out := e.open(t, inv)
		if out.AmountUnits <= base || out.AmountUnits > base+1_000_000 {
			t.Fatalf("%d + offset = %d", base, out.AmountUnits)
		}
	}
}

// Concurrent Opens never draw one amount twice; repeats of one request reuse its amount.
func TestLedgerUniqueAmountsConcurrent(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	owner := map[uint64]string{} // amount → the request that holds it
	dup := ""
	errs := ledgerRace(60, func(i int) error {
		inv := e.invoice(fmt.Sprintf("c_%d", i))
		inv.AmountOffsets = 50
		inv.RequestKey = fmt.Sprintf("rk-%d", i%55) // five requests asked twice
		out, _, err := e.l.Open(ctx, inv)
		if err == nil {
			mu.Lock()
			if o, ok := owner[out.AmountUnits]; ok && o != inv.RequestKey {
				dup = fmt.Sprintf("amount %d given to %s and %s", out.AmountUnits, o, inv.RequestKey)
			}
			owner[out.AmountUnits] = inv.RequestKey
			mu.Unlock()
		}
		return err
	})
	if dup != "" {
		t.Fatal(dup)
	}
	if errs[""]+errs[ledger.ErrAmountsTaken.Error()] != 60 || len(owner) != 50 || errs[ledger.ErrAmountsTaken.Error()] == 0 {
		t.Fatalf("%d amounts for 55 requests in a range of 50 (results %v)", len(owner), errs)
	}
}

// A paid invoice gives its amount back at once (its transaction is claimed); a later invoice that
// took an amount after an old hold ran out keeps it when the old invoice is confirmed late.
func TestLedgerPaidInvoiceFreesItsAmount(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	open := func(id string) (payments.Invoice, error) {
		inv := e.invoice(id)
		inv.AmountOffsets = 1
		out, _, err := e.l.Open(ctx, inv)
		return out, err
	}
	paid, err := open("paid")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("waiting"); !errors.Is(err, ledger.ErrAmountsTaken) {
		t.Fatalf("one amount, two invoices: %v", err)
	}
	if _, err := e.l.Confirm(ctx, paid.ID, testTxHash("paid"), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	next, err := open("next")
	if err != nil || next.AmountUnits != paid.AmountUnits {
		t.Fatalf("after the payment: %d, %v", next.AmountUnits, err)
	}
	// "late" expires and its hold runs out; "taker" gets the amount; "late" is then confirmed (a
	// payment included in time): "taker" keeps its amount.
	other := e.invoice("late")
	other.PayTo, other.AmountOffsets = "addr_test1late", 1
	late := e.open(t, other)
	e.clock.Advance(15*time.Minute + 5*time.Minute + time.Second)
	taker := e.invoice("taker")
	taker.PayTo, taker.AmountOffsets, taker.CreatedAt, taker.ExpiresAt = "addr_test1late", 1, e.clock.Now(), e.clock.Now().Add(15*time.Minute)
	e.open(t, taker)
	if _, err := e.l.Confirm(ctx, late.ID, testTxHash("late"), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	again := e.invoice("again")
	again.PayTo, again.AmountOffsets, again.CreatedAt, again.ExpiresAt = "addr_test1late", 1, e.clock.Now(), e.clock.Now().Add(15*time.Minute)
	if _, _, err := e.l.Open(ctx, again); !errors.Is(err, ledger.ErrAmountsTaken) {
		t.Fatalf("the late confirmation freed another invoice's amount: %v", err)
	}
}
