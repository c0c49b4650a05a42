package ledger_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/redistest"
)

// TestLedgerDeployments runs a whole payment through the other deployments the ledger must work
// on: Redis Cluster (every script's keys in one slot, else CROSSSLOT) and the in-process
// miniredis of `tbackend dev`. Two clients stand for the api and the worker.
func TestLedgerDeployments(t *testing.T) {
	connect := func(addrs []string) (redis.UniversalClient, error) {
		return storage.OpenRedis(context.Background(), storage.RedisConfig{ClusterAddrs: addrs})
	}
	for _, c := range redistest.OtherDeployments(connect) {
		t.Run(c.Name, func(t *testing.T) {
			newClient := c.Start(t)
			apiRDB, workerRDB := newClient(), newClient()
			t.Cleanup(func() { _ = apiRDB.Close(); _ = workerRDB.Close() })
			api := newLedgerEnvOn(t, apiRDB)
			worker := &ledgerEnv{l: ledger.New(workerRDB, api.keys, api.clock.Now), rdb: workerRDB, keys: api.keys, clock: api.clock}
			ledgerRoundTrip(t, api, worker)
		})
	}
}

// ledgerRoundTrip is one batch purchase and its use, split between the api and a worker.
func ledgerRoundTrip(t *testing.T, api, worker *ledgerEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv := api.batch("inv_1", "w1", 3)
	inv.RequestKey, inv.AmountOffsets = "rk", 2
	first := api.open(t, inv)
	second := api.batch("inv_2", "w1", 3)
	second.AmountOffsets = 2
	if again, reused, err := worker.l.Open(ctx, second); err != nil || reused || again.ID != "inv_2" || again.AmountUnits == first.AmountUnits {
		t.Fatalf("Open without a request key = %s %v %v", again.ID, reused, err)
	}
	inv.ID = "inv_3"
	if again, reused, err := api.l.Open(ctx, inv); err != nil || !reused || again.ID != "inv_1" {
		t.Fatalf("Open of the same request = %s %v %v", again.ID, reused, err)
	}
	tx := testTxHash("deploy")
	if _, err := api.l.Submitted(ctx, "inv_1", tx); err != nil {
		t.Fatalf("Submitted: %v", err)
	}
	if err := worker.l.RecordError(ctx, "inv_1", "tx_not_found"); err != nil {
		t.Fatalf("RecordError: %v", err)
	}
	if got, err := worker.l.Confirm(ctx, "inv_1", tx, worker.clock.Now()); err != nil || got.Status != payments.InvoiceConfirmed {
		t.Fatalf("Confirm = %+v, %v", got, err)
	}
	if _, err := worker.l.Confirm(ctx, "inv_2", tx, worker.clock.Now()); !errors.Is(err, payments.ErrPaymentUsed) {
		t.Fatalf("Confirm of a used tx: %v", err)
	}
	_, token, err := api.l.Reserve(ctx, "inv_1", "/chat", time.Minute)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if _, _, err := worker.l.Reserve(ctx, "inv_1", "/chat", time.Minute); !errors.Is(err, ledger.ErrInvoiceBusy) {
		t.Fatalf("second Reserve: %v", err)
	}
	if err := api.l.Consume(ctx, "inv_1", token); err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if left, err := api.l.Debit(ctx, "acme", "w1", "job-1"); err != nil || left != 1 {
		t.Fatalf("Debit = %d, %v", left, err)
	}
	if err := worker.l.Refund(ctx, "acme", "w1", "job-1"); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if err := worker.l.Refund(ctx, "acme", "w1", "job-1"); err != nil || api.credits(t, "acme", "w1") != 2 {
		t.Fatalf("second Refund: %v, credits %d; want 2", err, api.credits(t, "acme", "w1"))
	}
	got, err := api.l.Get(ctx, "inv_1")
	if err != nil || got.Status != payments.InvoiceConsumed || got.Error != "tx_not_found" || got.TxHash != tx {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	st, err := worker.l.Replay(ctx)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	want := ledger.State{
		Invoices:  map[string]string{"inv_1": payments.InvoiceConsumed}, // inv_2 is unpaid: no money, no event
		Balances:  map[string]int64{"acme|w1": 2},
		ClaimedTx: map[string]string{tx: "inv_1"},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Replay = %+v, want %+v", st, want)
	}
}
