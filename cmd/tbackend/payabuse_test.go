package main

import (
	"context"
	"testing"
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
