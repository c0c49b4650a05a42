package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A body the route would refuse is refused before any invoice is opened: it costs nothing.
func TestUnpaidBadBodyOpensNoInvoice(t *testing.T) {
	e := newPayEnv(t)
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/chat", `{}`, 422},
		{"/chat", `{"message":"x","temperature":9}`, 422},
		{"/chat", `not json`, 422},
		{"/token-analysis", `{"token":""}`, 400},
		{"/token-analysis", `{"token":"SNEK","policyId":"zz"}`, 400},
		{"/images/generate", `{"prompt":"a fox","size":"7x7"}`, 422},
		{"/images/generate", `{"size":"1024x1024"}`, 422},
	} {
		r := e.spec.call(t, "POST", e.base+c.path, "", c.body)
		if r.status != c.want || r.header.Get("X-Invoice-Id") != "" {
			t.Errorf("%s %s: %d %s (X-Invoice-Id %q)", c.path, c.body, r.status, r.raw, r.header.Get("X-Invoice-Id"))
		}
	}
	keys, err := e.rdb.Keys(context.Background(), "*ledger*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("refused bodies left ledger state: %v", keys)
	}
	// A good body still gets its invoice.
	for _, c := range [][2]string{{"/chat", `{"message":"x"}`}, {"/token-analysis", `{"token":"SNEK"}`},
		{"/images/generate", `{"prompt":"a fox","size":"1024x1024"}`}} {
		invoiceOf(t, e.spec.call(t, "POST", e.base+c[0], "", c[1]))
	}
}

// Made-up proofs for one invoice cannot drive chain lookups: a few distinct proofs a minute are
// checked, repeats of one proof share a check, the rest get 429 with Retry-After.
func TestPaymentChecksPerInvoiceAreCapped(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	d := invoiceOf(t, e.chat(t))
	id := d["invoiceId"].(string)
	before := e.chain.Stats().Total
	var mu sync.Mutex
	count := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range 300 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			proof := fmt.Sprintf("%064x", sha256.Sum256([]byte(strconv.Itoa(i))))
			r := call(t, "POST", e.base+"/chat", "", `{"message":"paid hello"}`, "X-Invoice-Id", id, "X-Payment", proof)
			if r.status == 429 && r.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After: %s", r.raw)
			}
			mu.Lock()
			count[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	stats := e.chain.Stats()
	lookups := stats.Total - before
	if count[402] > 4 || count[429] < 296 || lookups > 8 {
		t.Fatalf("statuses %v, %d Blockfrost requests: want at most 4 proofs checked (2 requests each)", count, lookups)
	}
	for ep, n := range stats.MaxInFlight {
		if n > 1 {
			t.Errorf("%d concurrent %s requests: the checks of one invoice ran at the same time", n, ep)
		}
	}
	// A fifth distinct proof waits for the window, whoever sends it (the invoice id is the secret).
	tx := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)
	if r := e.retry(t, id, tx); r.status != 429 {
		t.Fatalf("a fifth distinct proof within the minute: %d %s", r.status, r.raw)
	}
	t.Logf("300 made-up proofs: statuses %v, %d Blockfrost requests", count, lookups)
}

// A flood of unpaid invoices leaves nothing durable: no ledger event, and every key it wrote
// expires (the invoices an hour after their window).
func TestUnpaidInvoicesLeaveNothingDurable(t *testing.T) {
	e := newPayEnv(t)
	ctx := context.Background()
	for i := range 20 {
		invoiceOf(t, call(t, "POST", e.base+"/chat", "", fmt.Sprintf(`{"message":"flood %d"}`, i)))
	}
	if r := call(t, "POST", e.base+"/payments/invoice", "", `{"route":"/chat"}`); r.status != 201 {
		t.Fatalf("invoice: %d %s", r.status, r.raw)
	}
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	invoices := 0
	for _, k := range keys {
		if strings.HasSuffix(k, ":events") && strings.Contains(k, "ledger") {
			t.Fatalf("unpaid invoices wrote ledger events: %v", e.rdb.XRange(ctx, k, "-", "+").Val())
		}
		if !strings.Contains(k, "ledger") && !strings.Contains(k, ":rl:") {
			continue // the service's own keys (asynq, the dev key)
		}
		ttl := e.rdb.PTTL(ctx, k).Val()
		// The grace is an hour plus a minute per confirmation the invoice needs (2 here).
		if ttl <= 0 || ttl > 300*time.Second+time.Hour+2*time.Minute {
			t.Errorf("%s keeps TTL %v, want at most the 300 s window plus an hour and two minutes", k, ttl)
		}
		if strings.Contains(k, ":inv:") {
			invoices++
		}
	}
	if invoices != 21 {
		t.Fatalf("%d invoice records, want 21", invoices)
	}
}

// Behind trusted proxies, invoices are limited per client as X-Forwarded-For names it, read from
// the right: a client cannot escape its limit by writing its own hops in front.
func TestInvoiceLimitPerForwardedClient(t *testing.T) {
	e := newPayEnv(t, "TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8")
	open := func(xff string) int {
		return call(t, "POST", e.base+"/payments/invoice", "", `{"route":"/chat"}`, "X-Forwarded-For", xff).status
	}
	for i := range 60 {
		if s := open(fmt.Sprintf("198.51.100.%d, 203.0.113.7, 10.0.0.2", i)); s != 201 {
			t.Fatalf("invoice %d of a client: %d", i, s)
		}
	}
	if s := open("198.51.100.250, 203.0.113.7"); s != 429 {
		t.Fatalf("the 61st invoice of 203.0.113.7 with a spoofed hop in front: %d, want 429", s)
	}
	if s := open("203.0.113.8, 10.0.0.2"); s != 201 {
		t.Fatalf("another client behind the same proxy: %d, want 201", s)
	}
}
