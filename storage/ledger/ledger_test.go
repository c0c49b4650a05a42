package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/redistest"
)

// testClock is the ledger's clock in tests: it moves only when a test moves it, so leases and
// expiry are tested without waiting.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type ledgerEnv struct {
	l     *ledger.Ledger
	rdb   redis.UniversalClient
	keys  storage.Keys
	clock *testClock
}

func newLedgerEnv(t testing.TB) *ledgerEnv {
	t.Helper()
	return newLedgerEnvOn(t, redistest.Claim(t))
}

func newLedgerEnvOn(t testing.TB, rdb redis.UniversalClient) *ledgerEnv {
	keys := storage.NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano()))
	clock := newTestClock()
	return &ledgerEnv{l: ledger.New(rdb, keys, clock.Now), rdb: rdb, keys: keys, clock: clock}
}

// invoice is a one-call ADA invoice for /chat that expires in 15 minutes.
func (e *ledgerEnv) invoice(id string) payments.Invoice {
	now := e.clock.Now()
	return payments.Invoice{
		ID: id, Route: "/chat", Partner: "acme", Wallet: "addr_test1wallet", Network: "preprod",
		Asset: "ADA", Decimals: 6, AmountUnits: 1_500_000, Lovelace: 1_500_000, PayTo: "addr_test1payto",
		Memo: "tb:" + id, MinConfirmations: 2, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute),
	}
}

// batch is an invoice that buys credits for (acme, wallet).
func (e *ledgerEnv) batch(id, wallet string, credits int) payments.Invoice {
	inv := e.invoice(id)
	inv.Wallet, inv.BatchTarget = wallet, credits
	return inv
}

func (e *ledgerEnv) open(t *testing.T, inv payments.Invoice) payments.Invoice {
	t.Helper()
	out, reused, err := e.l.Open(context.Background(), inv)
	if err != nil || reused {
		t.Fatalf("Open(%s) = reused %v, %v", inv.ID, reused, err)
	}
	return out
}

// confirmed opens inv and confirms it with tx.
func (e *ledgerEnv) confirmed(t *testing.T, inv payments.Invoice, tx string) payments.Invoice {
	t.Helper()
	e.open(t, inv)
	out, err := e.l.Confirm(context.Background(), inv.ID, tx, e.clock.Now())
	if err != nil {
		t.Fatalf("Confirm(%s): %v", inv.ID, err)
	}
	return out
}

func (e *ledgerEnv) status(t *testing.T, id string) string {
	t.Helper()
	inv, err := e.l.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return inv.Status
}

func (e *ledgerEnv) credits(t *testing.T, partner, wallet string) int64 {
	t.Helper()
	b, err := e.l.Balance(context.Background(), partner, wallet)
	if err != nil {
		t.Fatalf("Balance(%s, %s): %v", partner, wallet, err)
	}
	return b.Credits
}

// events is the number of ledger events so far.
func (e *ledgerEnv) events(t *testing.T) int64 {
	t.Helper()
	n, err := e.rdb.XLen(context.Background(), e.keys.LedgerEvents()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testTxHash is a well-formed transaction id derived from s.
func testTxHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ledgerRace runs f n times at once and returns the errors by message ("" for nil).
func ledgerRace(n int, f func(i int) error) map[string]int {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		seen = map[string]int{}
		gate = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-gate
			err := f(i)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			mu.Lock()
			seen[msg]++
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	return seen
}

func TestLedgerOpenGet(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	in := e.invoice("inv_1")
	in.AmountUnits = math.MaxUint64 // no float anywhere: the largest amount survives exactly
	in.Outputs = []payments.InvoiceOutput{{Address: "addr_test1partner", AmountUnits: 250_000}}
	in.Split, in.RequestKey = "additional", "rk-1"
	in.Status, in.TxHash, in.Error = "consumed", testTxHash("x"), "forged" // ignored by Open

	got := e.open(t, in)
	want := in
	want.Status, want.TxHash, want.Error = payments.InvoicePending, "", ""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Open returned\n%+v, want\n%+v", got, want)
	}
	if read, err := e.l.Get(ctx, "inv_1"); err != nil || !reflect.DeepEqual(read, want) {
		t.Fatalf("Get = %+v, %v; want %+v", read, err, want)
	}

	// An unpaid record outlives its payment window by a short grace (an hour, plus a minute per
	// confirmation it needs), not by weeks: a flood of invoices leaves nothing durable. Its
	// request index goes with the window.
	grace := time.Hour + time.Duration(in.MinConfirmations)*time.Minute
	ttl, err := e.rdb.PTTL(ctx, e.keys.LedgerInvoice("inv_1")).Result()
	if err != nil || ttl <= grace || ttl > grace+15*time.Minute {
		t.Fatalf("invoice TTL = %v, %v; want its 15 min window plus %v", ttl, err, grace)
	}

	if _, _, err := e.l.Open(ctx, e.invoice("inv_1")); !errors.Is(err, ledger.ErrInvoiceExists) {
		t.Fatalf("Open of a taken id: %v, want ErrInvoiceExists", err)
	}
	for _, id := range []string{"inv_nope", "", string(make([]byte, 300))} {
		if _, err := e.l.Get(ctx, id); !errors.Is(err, payments.ErrInvoiceNotFound) {
			t.Errorf("Get(%.10q): %v, want ErrInvoiceNotFound", id, err)
		}
	}

	e.clock.Advance(15 * time.Minute)
	if s := e.status(t, "inv_1"); s != payments.InvoiceExpired {
		t.Fatalf("pending past expiry reads %q, want expired", s)
	}
}

func TestLedgerOpenRefusesBadInvoices(t *testing.T) {
	e := newLedgerEnv(t)
	cases := map[string]func(*payments.Invoice){
		"no id":            func(i *payments.Invoice) { i.ID = "" },
		"huge id":          func(i *payments.Invoice) { i.ID = string(make([]byte, 257)) },
		"no route":         func(i *payments.Invoice) { i.Route = "" },
		"negative batch":   func(i *payments.Invoice) { i.BatchTarget = -1 },
		"batch, no wallet": func(i *payments.Invoice) { i.BatchTarget, i.Wallet = 10, "" },
		"expires now":      func(i *payments.Invoice) { i.ExpiresAt = e.clock.Now() },
		"expired already":  func(i *payments.Invoice) { i.ExpiresAt = e.clock.Now().Add(-time.Hour) },
		"no expiry (zero)": func(i *payments.Invoice) { i.ExpiresAt = time.Time{} },
	}
	for name, mutate := range cases {
		inv := e.invoice("inv_bad")
		mutate(&inv)
		if _, _, err := e.l.Open(context.Background(), inv); !errors.Is(err, ledger.ErrLedgerInput) {
			t.Errorf("%s: Open = %v, want ErrLedgerInput", name, err)
		}
	}
	if n := e.events(t); n != 0 {
		t.Fatalf("refused invoices left %d ledger events", n)
	}
}

func TestLedgerOpenReusesPendingRequest(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	with := func(id, rk string) payments.Invoice { inv := e.invoice(id); inv.RequestKey = rk; return inv }

	first := e.open(t, with("inv_a", "rk-1"))
	again, reused, err := e.l.Open(ctx, with("inv_b", "rk-1"))
	if err != nil || !reused || again.ID != first.ID || !reflect.DeepEqual(again, first) {
		t.Fatalf("second Open of rk-1 = %s reused %v, %v; want inv_a reused", again.ID, reused, err)
	}
	if _, err := e.l.Get(ctx, "inv_b"); !errors.Is(err, payments.ErrInvoiceNotFound) {
		t.Fatalf("the reusing Open stored its own invoice too: %v", err)
	}
	if other := e.open(t, with("inv_c", "rk-2")); other.ID != "inv_c" {
		t.Fatalf("another request got %s", other.ID)
	}

	// A paid invoice is not handed out again: the next request gets a new one.
	if _, err := e.l.Confirm(ctx, "inv_a", testTxHash("a"), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := e.open(t, with("inv_d", "rk-1")); got.ID != "inv_d" {
		t.Fatalf("Open after payment reused %s", got.ID)
	}
	// Nor is an expired one.
	e.clock.Advance(16 * time.Minute)
	if got := e.open(t, with("inv_e", "rk-1")); got.ID != "inv_e" {
		t.Fatalf("Open after expiry reused %s", got.ID)
	}
}

func TestLedgerOpenReuseConcurrent(t *testing.T) {
	e := newLedgerEnv(t)
	const n = 30
	var (
		mu  sync.Mutex
		ids = map[string]int{}
		new atomic.Int32
	)
	errs := ledgerRace(n, func(i int) error {
		inv := e.invoice(fmt.Sprintf("inv_%d", i))
		inv.RequestKey = "rk-same"
		out, reused, err := e.l.Open(context.Background(), inv)
		if err != nil {
			return err
		}
		if !reused {
			new.Add(1)
		}
		mu.Lock()
		ids[out.ID]++
		mu.Unlock()
		return nil
	})
	if errs[""] != n || len(ids) != 1 || new.Load() != 1 {
		t.Fatalf("errors %v, invoices %v, fresh %d; want one invoice for all %d", errs, ids, new.Load(), n)
	}
	held, err := e.rdb.Keys(context.Background(), e.keys.Prefix()+"ledger:*:inv:*").Result()
	if err != nil || len(held) != 1 {
		t.Fatalf("ledger holds invoices %v (%v); want 1", held, err)
	}
}

func TestLedgerRecordError(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.open(t, e.invoice("inv_1"))
	before := e.events(t)
	if err := e.l.RecordError(ctx, "inv_1", "payment_amount_short"); err != nil {
		t.Fatal(err)
	}
	got, err := e.l.Get(ctx, "inv_1")
	if err != nil || got.Error != "payment_amount_short" || got.Status != payments.InvoicePending {
		t.Fatalf("after RecordError: %+v, %v", got, err)
	}
	if e.events(t) != before {
		t.Fatal("RecordError wrote a money event")
	}
	if err := e.l.RecordError(ctx, "inv_nope", "x"); !errors.Is(err, payments.ErrInvoiceNotFound) {
		t.Fatalf("RecordError on an unknown invoice: %v", err)
	}
	if n, _ := e.rdb.Exists(ctx, e.keys.LedgerInvoice("inv_nope")).Result(); n != 0 {
		t.Fatal("RecordError created a record for an unknown invoice")
	}
}
