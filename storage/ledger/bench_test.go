package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLedgerPaidCall: one pay-per-call invoice's whole life (Open, Confirm, Reserve,
// Consume: four scripts, plus the reads of the invoice's owner). It reports what the ledger stream
// grows by per paid call (the durable part, deploy/README.md sizes Redis by it).
func BenchmarkLedgerPaidCall(b *testing.B) {
	e := newLedgerEnv(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		inv := e.invoice(fmt.Sprintf("inv_%d", i))
		if _, _, err := e.l.Open(ctx, inv); err != nil {
			b.Fatal(err)
		}
		if _, err := e.l.Confirm(ctx, inv.ID, testTxHash(inv.ID), e.clock.Now()); err != nil {
			b.Fatal(err)
		}
		_, token, err := e.l.Reserve(ctx, inv.ID, inv.Route, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.l.Consume(ctx, inv.ID, token); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if bytes, err := e.rdb.MemoryUsage(ctx, e.keys.LedgerEvents()).Result(); err == nil && i > 0 {
		b.ReportMetric(float64(bytes)/float64(i), "stream-B/call")
	}
}

// BenchmarkLedgerDebit: one prepaid call's credit, from parallel callers on one balance.
func BenchmarkLedgerDebit(b *testing.B) {
	e := newLedgerEnv(b)
	ctx := context.Background()
	inv := e.batch("inv_b", "w1", 1<<30)
	if _, _, err := e.l.Open(ctx, inv); err != nil {
		b.Fatal(err)
	}
	if _, err := e.l.Confirm(ctx, inv.ID, testTxHash("b"), e.clock.Now()); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.l.Debit(ctx, "acme", "w1", fmt.Sprintf("job-%d", n.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
