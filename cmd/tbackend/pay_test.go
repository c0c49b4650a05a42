package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/internal/testwait"
)

// `pay --invoice` reads the terms from the service (a partner's revenue share included) and
// --retry sends the call itself; an unfunded wallet is a clear error, before anything is sent.
func TestPayInvoiceByIDWithRetry(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	dir := t.TempDir()
	rich, poor := writeKey(t, dir, "rich"), writeKey(t, dir, "poor")
	// The rich key's funds sit at a base address (payment key + a stake key), as wallets keep them.
	enterprise, _ := cardano.ParseAddress(rich.address)
	base, err := cardano.AddressFromBytes(append(append([]byte{cardano.AddrBaseKeyKey<<4 | cardano.NetworkMainnet},
		enterprise.Payment.Hash...), bytes.Repeat([]byte{7}, cardano.CredentialLength)...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.chain.Fund(base.Bech32(), 100_000_000); err != nil {
		t.Fatal(err)
	}
	d := invoiceOf(t, e.chat(t, "X-Partner", "share"))
	id := d["invoiceId"].(string)
	args := func(key string, more ...string) []string {
		return append([]string{"pay", "--invoice", id, "--api", e.base, "--skey", key, "--blockfrost-url", e.chainURL,
			"--blockfrost-project", "proj", "--wait", "30s", "--retry", "--route", "/chat", "--body", `{"message":"paid hello"}`}, more...)
	}
	var out, log bytes.Buffer
	err = run(context.Background(), args(poor.path), envOf(), &out, &log)
	if !errors.Is(err, cardano.ErrInsufficientFunds) || !strings.Contains(err.Error(), poor.address) {
		t.Fatalf("unfunded wallet: %v", err)
	}
	if len(e.chain.Pending()) != 0 {
		t.Fatal("an unfundable payment was submitted")
	}

	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), args(rich.path, "--from", base.Bech32()), envOf(), &out, &log)
	}()
	// The chain makes blocks only when told: two once the payment is submitted (min_confirmations 2).
	testwait.For(t, "the payment's submission", 30*time.Second, func() bool { return len(e.chain.Pending()) > 0 })
	e.chain.AdvanceTip(2)
	if err := <-done; err != nil {
		t.Fatalf("pay --retry: %v\n%s", err, log.String())
	}
	if !strings.Contains(out.String(), "paid hello") || !strings.Contains(log.String(), "POST /chat → 200") {
		t.Fatalf("the retried call: %s\n%s", out.String(), log.String())
	}
	st := e.spec.call(t, "GET", e.base+"/payments/status/"+id, "", "")
	if st.body["status"] != "consumed" || st.body["payTo"] != e.shop || !strings.HasPrefix(fmt.Sprint(st.body["memo"]), "ref_") {
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
	otherAddr := writeKey(t, dir, "other").address
	saved402 := filepath.Join(dir, "saved.json")
	if err := os.WriteFile(saved402, []byte(`{"detail":{"invoiceId":"inv_x","chain":"cardano-mainnet","asset":"ADA","amountUnits":"2000000","payTo":"`+otherAddr+`","extra":{"memo":"inv_x"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
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
		{[]string{"pay", "--from-402", saved402, "--skey", good, "--from", otherAddr}, false, "not paid to by the key"},
		{[]string{"pay", "--from-402", saved402, "--skey", good, "--from", "addr_test1qz"}, false, "--from"},
	} {
		err := run(context.Background(), tc.args, envOf("BLOCKFROST_PROJECT_ID", "p", "BLOCKFROST_URL", "http://127.0.0.1:1/api/v0"), &bytes.Buffer{}, &bytes.Buffer{})
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
