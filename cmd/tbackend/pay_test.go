package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

// `pay --invoice` reads the terms from the service (a partner's revenue share included) and
// --retry sends the call itself; an unfunded wallet is a clear error, before anything is sent.
func TestPayInvoiceByIDWithRetry(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	dir := t.TempDir()
	rich, poor := writeKey(t, dir, "rich"), writeKey(t, dir, "poor")
	if _, err := e.chain.Fund(rich.address, 100_000_000); err != nil {
		t.Fatal(err)
	}
	d := invoiceOf(t, e.chat(t, "X-Partner", "acme"))
	id := d["invoiceId"].(string)
	args := func(key string) []string {
		return []string{"pay", "--invoice", id, "--api", e.base, "--skey", key, "--blockfrost-url", e.chainURL,
			"--blockfrost-project", "proj", "--wait", "30s", "--retry", "--route", "/chat", "--body", `{"message":"paid hello"}`}
	}
	var out, log bytes.Buffer
	err := run(context.Background(), args(poor.path), envOf(), &out, &log)
	if !errors.Is(err, cardano.ErrInsufficientFunds) || !strings.Contains(err.Error(), poor.address) {
		t.Fatalf("unfunded wallet: %v", err)
	}
	if len(e.chain.Pending()) != 0 {
		t.Fatal("an unfundable payment was submitted")
	}

	done := make(chan error, 1)
	go func() { done <- run(context.Background(), args(rich.path), envOf(), &out, &log) }()
	// The chain makes blocks only when told: two once the payment is submitted (min_confirmations 2).
	waitFor(t, "the payment's submission", 30*time.Second, func() bool { return len(e.chain.Pending()) > 0 })
	e.chain.AdvanceTip(2)
	if err := <-done; err != nil {
		t.Fatalf("pay --retry: %v\n%s", err, log.String())
	}
	if !strings.Contains(out.String(), "paid hello") || !strings.Contains(log.String(), "POST /chat → 200") {
		t.Fatalf("the retried call: %s\n%s", out.String(), log.String())
	}
	st := e.spec.call(t, "GET", e.base+"/payments/status/"+id, "", "")
	if st.body["status"] != "consumed" || st.body["payTo"] != e.shop || st.body["memo"] != id {
		t.Fatalf("status %s", st.raw)
	}
	if outs, _ := st.body["outputs"].([]any); len(outs) != 1 {
		t.Fatalf("the partner's share is not among the status's outputs: %s", st.raw)
	}
}

func TestPayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.skey")
	if err := os.WriteFile(bad, []byte(`{"type":"StakeSigningKeyShelley_ed25519","cborHex":"5820`+strings.Repeat("00", 32)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	not402 := filepath.Join(dir, "402.json")
	if err := os.WriteFile(not402, []byte(`{"detail":"Invalid or missing API key"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := writeKey(t, dir, "good").path
	var ue usageError
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"pay"}, true, "--invoice ID"},
		{[]string{"pay", "--invoice", "inv_x", "--from-402", not402, "--skey", good}, true, "--invoice ID"},
		{[]string{"pay", "--from-402", not402}, true, "--skey"},
		{[]string{"pay", "--from-402", not402, "--skey", good, "--retry"}, true, "--route"},
		{[]string{"pay", "--from-402", not402, "--skey", bad}, false, "type"},
		{[]string{"pay", "--from-402", not402, "--skey", good}, false, "holds no invoice"},
		{[]string{"pay", "--from-402", filepath.Join(dir, "missing.json"), "--skey", good}, false, "no such file"},
	} {
		err := run(context.Background(), tc.args, envOf(), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || errors.As(err, &ue) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want (usage %v) containing %q", tc.args, err, tc.usage, tc.want)
		}
	}
}

type testWallet struct{ path, address string }

// writeKey saves a fresh signing key as cardano-cli would and returns it with its mainnet address.
func writeKey(t *testing.T, dir, name string) testWallet {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".skey")
	if err := os.WriteFile(path, cardano.SigningKeyEnvelope(key, name), 0o600); err != nil {
		t.Fatal(err)
	}
	return testWallet{path, cardano.EnterpriseAddress(pub, cardano.NetworkMainnet).Bech32()}
}
