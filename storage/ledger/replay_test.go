package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

// TestLedgerEventShape: each money event names what moved, for whom and for what; steps that move
// no money (opening, submitting, reserving a plain invoice, releasing it) write none.
func TestLedgerEventShape(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	tx := testTxHash("b")
	e.confirmed(t, e.batch("inv_b", "w1", 10), tx)
	_, token, err := e.l.Reserve(ctx, "inv_b", "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.ReleaseWithError(ctx, "inv_b", token, "stream_timeout"); err != nil {
		t.Fatal(err)
	}
	if _, token, err = e.l.Reserve(ctx, "inv_b", "/chat", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Consume(ctx, "inv_b", token); err != nil {
		t.Fatal(err)
	}
	plain := e.invoice("inv_p")
	if _, _, err := e.l.Open(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Submitted(ctx, "inv_p", testTxHash("p")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Debit(ctx, "acme", "w1", "job-1"); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Refund(ctx, "acme", "w1", "job-1"); err != nil {
		t.Fatal(err)
	}
	msgs, err := e.rdb.XRange(ctx, e.keys.LedgerEvents(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(e.clock.Now().UnixMilli(), 10)
	inv := func(typ string, extra ...string) map[string]any {
		m := map[string]any{"type": typ, "at": at, "invoice": "inv_b", "partner": "acme", "wallet": "w1",
			"route": "/chat", "amount": "1500000", "asset": "ADA"}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	credit := func(typ, delta string) map[string]any {
		return map[string]any{"type": typ, "at": at, "partner": "acme", "wallet": "w1", "credits": delta, "ref": "job-1"}
	}
	want := []map[string]any{
		inv("tx_claimed", "tx", tx),
		inv("confirmed", "tx", tx),
		inv("credited", "tx", tx, "credits", "10"),
		inv("spent", "credits", "-1"),
		inv("refunded", "credits", "1", "reason", "stream_timeout"),
		inv("spent", "credits", "-1"),
		inv("consumed"),
		{"type": "tx_claimed", "at": at, "invoice": "inv_p", "partner": "acme", "wallet": "addr_test1wallet",
			"route": "/chat", "amount": "1500000", "asset": "ADA", "tx": testTxHash("p")},
		credit("debited", "-1"),
		credit("refunded", "1"),
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(msgs), len(want), msgs)
	}
	for i, m := range msgs {
		if !reflect.DeepEqual(m.Values, want[i]) {
			t.Errorf("event %d = %v\nwant %v", i, m.Values, want[i])
		}
	}
}

// ledgerWorld is the random workload of TestLedgerReplayMatchesLiveState: a few wallets, invoices
// and transactions, so that operations collide often.
type ledgerWorld struct {
	e       *ledgerEnv
	wallets [][2]string
	txs     []string
	mu      sync.Mutex
	opened  []string
	okCount map[string]int // operation → successes
}

// ledgerWorker is one racing caller: it mostly finishes its own reservations and refunds its own
// debits, and sometimes presents a stale token or ref.
type ledgerWorker struct {
	w        *ledgerWorld
	r        *rand.Rand
	n        int
	held     [2]string   // invoice, token of its last reservation
	debited  [][3]string // partner, wallet, ref
	refCount int
}

// ledgerRefusals are the refusals a random operation may meet; anything else fails the test.
var ledgerRefusals = []error{
	payments.ErrInvoiceNotFound, payments.ErrInvoiceExpired, payments.ErrInvoiceConsumed, ledger.ErrInvoiceBusy,
	ledger.ErrNotConfirmed, payments.ErrPaymentUsed, ledger.ErrNoCredits, ledger.ErrInvoicePaid,
	ledger.ErrLeaseLost, ledger.ErrCreditRefUsed, ledger.ErrNoDebit,
}

func (w *ledgerWorld) pick(r *rand.Rand) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.opened) == 0 {
		return "none"
	}
	return w.opened[r.IntN(len(w.opened))]
}

func (k *ledgerWorker) step(ctx context.Context, i int) error {
	w, r, l := k.w, k.r, k.w.e.l
	tx := w.txs[r.IntN(len(w.txs))]
	wallet := w.wallets[r.IntN(len(w.wallets))]
	w.mu.Lock()
	full := len(w.opened) >= 16
	w.mu.Unlock()
	var (
		op  string
		err error
	)
	switch n := r.IntN(100); {
	case n < 15 && !full:
		op = "open"
		inv := w.e.invoice(fmt.Sprintf("inv_%d_%d", k.n, i))
		inv.Partner, inv.Wallet = wallet[0], wallet[1]
		if r.IntN(2) == 0 {
			inv.BatchTarget = 1 + r.IntN(5)
		}
		if _, _, err = l.Open(ctx, inv); err == nil {
			w.mu.Lock()
			w.opened = append(w.opened, inv.ID)
			w.mu.Unlock()
		}
	case n < 25:
		op = "submitted" // also n < 15 once every invoice is opened
		_, err = l.Submitted(ctx, w.pick(r), tx)
	case n < 45:
		op = "confirm"
		_, err = l.Confirm(ctx, w.pick(r), tx, w.e.clock.Now())
	case n < 60:
		op = "reserve"
		id := w.pick(r)
		var token string
		if _, token, err = l.Reserve(ctx, id, "/chat", time.Duration(1+r.IntN(3))*time.Minute); err == nil {
			k.held = [2]string{id, token}
		}
	case n < 76:
		id, token := k.held[0], k.held[1]
		if id == "" || r.IntN(5) == 0 {
			id, token = w.pick(r), "stale"
		}
		if op = "consume"; n < 68 {
			err = l.Consume(ctx, id, token)
		} else {
			op = "release"
			err = l.Release(ctx, id, token)
		}
	case n < 88:
		op = "debit"
		k.refCount++
		ref := fmt.Sprintf("job-%d-%d", k.n, k.refCount)
		if r.IntN(5) == 0 && len(k.debited) > 0 {
			ref = k.debited[r.IntN(len(k.debited))][2] // replayed ref
		}
		if _, err = l.Debit(ctx, wallet[0], wallet[1], ref); err == nil {
			k.debited = append(k.debited, [3]string{wallet[0], wallet[1], ref})
		}
	case n < 96:
		op = "refund"
		d := [3]string{wallet[0], wallet[1], "job-never"}
		if len(k.debited) > 0 && r.IntN(5) != 0 {
			d = k.debited[r.IntN(len(k.debited))]
		}
		err = l.Refund(ctx, d[0], d[1], d[2])
	default:
		op = "tick"
		w.e.clock.Advance(time.Duration(r.IntN(90)) * time.Second)
	}
	for _, want := range ledgerRefusals {
		if errors.Is(err, want) {
			return nil
		}
	}
	if err == nil {
		w.mu.Lock()
		w.okCount[op]++
		w.mu.Unlock()
	}
	return err
}

// TestLedgerReplayMatchesLiveState: after a random mix of operations from racing callers, folding
// the ledger stream gives exactly the live state.
func TestLedgerReplayMatchesLiveState(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	w := &ledgerWorld{e: e, okCount: map[string]int{},
		wallets: [][2]string{{"acme", "w1"}, {"acme", "w2"}, {"", "w1"}, {"beta", "w3"}}}
	for i := range 12 {
		w.txs = append(w.txs, testTxHash(strconv.Itoa(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for worker := range 4 {
		wg.Go(func() {
			k := &ledgerWorker{w: w, r: rand.New(rand.NewPCG(42, uint64(worker))), n: worker}
			for i := range 300 {
				if err := k.step(ctx, i); err != nil {
					errs <- fmt.Errorf("worker %d step %d: %w", worker, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, op := range []string{"open", "submitted", "confirm", "reserve", "consume", "release", "debit", "refund"} {
		if w.okCount[op] == 0 {
			t.Fatalf("no %s succeeded (%v): the workload does not exercise the ledger", op, w.okCount)
		}
	}
	t.Logf("successful operations: %v", w.okCount)

	st, err := e.l.Replay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := liveState(t, w); !reflect.DeepEqual(st, got) {
		t.Fatalf("replayed state\n%+v\ndiffers from the live state\n%+v", st, got)
	}

	// The comparison has teeth: a balance changed behind the ledger's back no longer matches.
	if err := e.rdb.HIncrBy(ctx, e.keys.LedgerBalance("acme", "w1"), "credits", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(st, liveState(t, w)) {
		t.Fatal("a balance edited outside the ledger still matches the replay")
	}
}

// liveState reads what the ledger holds now, in ledger.State's shape.
func liveState(t *testing.T, w *ledgerWorld) ledger.State {
	t.Helper()
	ctx := context.Background()
	st := ledger.State{Invoices: map[string]string{}, Balances: map[string]int64{}, ClaimedTx: map[string]string{}}
	for _, id := range w.opened {
		if s := w.e.status(t, id); s == payments.InvoiceConfirmed || s == payments.InvoiceConsumed {
			st.Invoices[id] = s // unpaid invoices are no money: the stream does not know them
		}
	}
	for _, pw := range w.wallets {
		b, err := w.e.l.Balance(ctx, pw[0], pw[1])
		if err != nil {
			t.Fatal(err)
		}
		exists, err := w.e.rdb.Exists(ctx, w.e.keys.LedgerBalance(pw[0], pw[1])).Result()
		if err != nil {
			t.Fatal(err)
		}
		if exists == 1 {
			st.Balances[pw[0]+"|"+pw[1]] = b.Credits
		}
	}
	for _, tx := range w.txs {
		owner, err := w.e.rdb.Get(ctx, w.e.keys.LedgerTxClaim(tx)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		st.ClaimedTx[tx] = owner
	}
	return st
}

// TestLedgerReplayPages: Replay reads a stream longer than one page, each event exactly once.
func TestLedgerReplayPages(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	e.confirmed(t, e.batch("inv_b", "w1", 5000), testTxHash("b")) // 3 events
	const debits = 2100                                           // + 2100: three pages of 1000
	for i := range debits {
		if _, err := e.l.Debit(ctx, "acme", "w1", "job-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.l.Replay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Balances["acme|w1"]; got != 5000-debits || e.credits(t, "acme", "w1") != got {
		t.Fatalf("replayed balance %d, live %d; want %d", got, e.credits(t, "acme", "w1"), 5000-debits)
	}
}
