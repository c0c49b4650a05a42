package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/redistest"
)

// payEnv is `tbackend dev` with payments on, against a Blockfrost emulator whose chain the test
// writes. Its tip starts a minute behind the wall clock (blocks are 20 s apart), so a test can
// place a block before "now" and, after catchUp, blocks after it: invoices and blocks share one
// time line.
type payEnv struct {
	base, key         string
	chainURL          string
	rdb               *redis.Client
	chain             *blockfrostemu.Emulator
	llm               *openaiemu.Emulator
	spec              *specChecker
	shop, acme, payer string
}

const chatPrice = 20_000_000

func newPayEnv(t *testing.T, env ...string) *payEnv {
	t.Helper()
	return newPayEnvWith(t, true, "", env...)
}

// newPayEnvMemo is newPayEnv with require_memo set to memo.
func newPayEnvMemo(t *testing.T, memo bool) *payEnv {
	t.Helper()
	return newPayEnvWith(t, memo, "")
}

// newPayEnvWith is newPayEnvMemo with more top-level settings (YAML lines) and environment
// variables (pairs).
func newPayEnvWith(t *testing.T, memo bool, settings string, env ...string) *payEnv {
	t.Helper()
	chain := blockfrostemu.New("proj", blockfrostemu.WithLiveChain(time.Hour),
		blockfrostemu.WithClock(func() time.Time { return time.Now().Add(-time.Minute) }))
	chainURL := serveEmulator(t, chain.Start)
	llm := openaiemu.New("sk-test")
	llmURL := serveEmulator(t, llm.Start)
	e := &payEnv{chain: chain, chainURL: chainURL, llm: llm, shop: chain.Address("shop"), acme: chain.Address("acme"), payer: chain.Address("payer")}
	cfg := filepath.Join(t.TempDir(), "payments.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `network: mainnet
pay_to: %s
asset: ADA
decimals: 6
min_confirmations: 2
invoice_timeout: 300s
require_memo: %t
%sprices:
  /chat: %d
  /token-analysis: 30000000
  /images/generate: {price: 25000000, per_image: true, size_multipliers: {1536x1024: 15000}, quality_multipliers: {low: 5000, high: 20000}}
partners:
  acme: {discount_bps: 2000, revenue_share: [{address: %s, bps: 1000}], split_mode: additional}
  share: {revenue_share: [{address: %s, bps: 1000}], split_mode: additional}
  bulk: {batch_target: 10}
`, e.shop, memo, settings, chatPrice, e.acme, e.acme), 0o600); err != nil {
		t.Fatal(err)
	}
	e.rdb = redistest.Claim(t)
	o := e.rdb.Options()
	dev := append([]string{"REDIS_URL", fmt.Sprintf("redis://%s/%d", o.Addr, o.DB), "OPENAI_API_KEY", "sk-test", "OPENAI_BASE_URL", llmURL,
		"OPENAI_RETRIES", "0", "BLOCKFROST_PROJECT_ID", "proj", "BLOCKFROST_URL", chainURL, "PAYMENTS_CONFIG", cfg}, env...)
	_, e.base, e.key = startDev(t, dev...)
	e.spec = newSpecChecker(t, e.base)
	return e
}

// catchUp moves the tip to the wall clock: every later block is after any invoice made so far.
func (e *payEnv) catchUp() { e.chain.AdvanceTip(3) }

// chat calls POST /chat without a key; hdr adds headers (pairs).
func (e *payEnv) chat(t *testing.T, hdr ...string) reply {
	t.Helper()
	return e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"paid hello"}`, hdr...)
}

// invoice is the 402 detail of r.
func invoiceOf(t *testing.T, r reply) map[string]any {
	t.Helper()
	if r.status != 402 {
		t.Fatalf("want 402, got %d %s", r.status, r.raw)
	}
	return r.body["detail"].(map[string]any)
}

// unique is an invoice amount: base plus the invoice's unique offset (1 to 999).
func unique(t *testing.T, v any, base uint64) bool {
	n := units(t, v)
	return n > base && n <= base+999
}

func units(t *testing.T, v any) uint64 {
	n, err := strconv.ParseUint(v.(string), 10, 64)
	if err != nil {
		t.Fatalf("amount %v: %v", v, err)
	}
	return n
}

// payment is a transaction paying the invoice d exactly (with its memo), as a wallet would.
func (e *payEnv) payment(t *testing.T, d map[string]any) blockfrostemu.Tx {
	return e.paymentFrom(t, d, e.payer)
}

// paymentFrom is payment paid from wallet: its change (and so, on the emulator, its inputs) at
// wallet's address.
func (e *payEnv) paymentFrom(t *testing.T, d map[string]any, wallet string) blockfrostemu.Tx {
	tx := blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: d["payTo"].(string), Lovelace: units(t, d["amountUnits"])}}}
	extra := d["extra"].(map[string]any)
	if outs, ok := extra["outputs"].([]any); ok {
		for _, o := range outs {
			o := o.(map[string]any)
			tx.Outputs = append(tx.Outputs, blockfrostemu.Output{Address: o["address"].(string), Lovelace: units(t, o["amountUnits"])})
		}
	}
	tx.Outputs = append(tx.Outputs, blockfrostemu.Output{Address: wallet, Lovelace: 5_000_000})
	if memo, ok := extra["memo"].(string); ok {
		tx.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20("T Backend invoice " + memo)}
	}
	return tx
}

// partnerKey makes an API key bound to partner (what `tbackend keys create --partner` makes).
func (e *payEnv) partnerKey(t *testing.T, partner string) string {
	t.Helper()
	_, plain, err := storage.NewKeyStore(e.rdb, storage.NewKeys(""), 0).Create(context.Background(),
		storage.NewKeyParams{Name: partner + " backend", Partner: partner, Scopes: storage.AllScopes()})
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// signIn signs in as address (whose payment key is exampleWalletKey) and returns the
// Authorization header of its wallet token.
func (e *payEnv) signIn(t *testing.T, address string) []string {
	t.Helper()
	r := call(t, "POST", e.base+"/auth/wallet/verify", "", walletAnswer(t, e, address))
	tok, _ := r.body["token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("sign-in: %d %s", r.status, r.raw)
	}
	return []string{"Authorization", "Bearer " + tok}
}

func (e *payEnv) put(t *testing.T, tx blockfrostemu.Tx) string {
	t.Helper()
	hash, err := e.chain.AddTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

// retry is the paid retry of a chat call.
func (e *payEnv) retry(t *testing.T, invoiceID, proof string, hdr ...string) reply {
	t.Helper()
	return e.chat(t, append([]string{"X-Invoice-Id", invoiceID, "X-Payment", proof}, hdr...)...)
}

func wantRefusal(t *testing.T, r reply, code string) {
	t.Helper()
	d := invoiceOf(t, r)
	if d["error"] != code {
		t.Fatalf("want refusal %s, got %s", code, r.raw)
	}
}

func TestPayPerCallWithATxHash(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	r := e.chat(t)
	d := invoiceOf(t, r)
	id := d["invoiceId"].(string)
	extra := d["extra"].(map[string]any)
	memo, _ := extra["memo"].(string)
	if d["version"] != "0.1" || d["chain"] != "cardano-mainnet" || d["asset"] != "ADA" || !unique(t, d["amountUnits"], chatPrice) ||
		d["payTo"] != e.shop || d["timeout"] != float64(300) || extra["lovelace"] != true || extra["babel"] != false ||
		extra["partner"] != nil || extra["batchTarget"] != float64(0) || !strings.HasPrefix(memo, "ref_") ||
		strings.Contains(memo, id[len("inv_"):]) || r.header.Get("X-Invoice-Id") != id {
		t.Fatalf("invoice %s", r.raw)
	}
	if again := invoiceOf(t, e.chat(t)); again["invoiceId"] != id {
		t.Fatalf("the same unpaid request got a new invoice %v (first %s)", again["invoiceId"], id)
	}
	if st := e.spec.call(t, "GET", e.base+"/payments/status/"+id, "", ""); st.status != 200 || st.body["status"] != "pending" {
		t.Fatalf("status %d %s", st.status, st.raw)
	}

	tx := e.put(t, e.payment(t, d))
	r = e.retry(t, id, tx)
	if invoiceOf(t, r)["status"] != "pending" || r.header.Get("Retry-After") == "" {
		t.Fatalf("a tx not yet in a block: %s (Retry-After %q)", r.raw, r.header.Get("Retry-After"))
	}
	e.chain.AdvanceTip(1) // in a block, one confirmation of two
	if r = e.retry(t, id, tx); invoiceOf(t, r)["status"] != "pending" {
		t.Fatalf("one confirmation of two: %s", r.raw)
	}
	e.chain.AdvanceTip(1)
	r = e.retry(t, id, `{"txHash":"`+strings.ToUpper(tx)+`"}`)
	if r.status != 200 || !strings.Contains(r.raw, "paid hello") {
		t.Fatalf("paid retry: %d %s", r.status, r.raw)
	}
	st := e.spec.call(t, "GET", e.base+"/payments/status/"+id, "", "")
	if st.body["status"] != "consumed" || st.body["txHash"] != tx || st.body["settledAt"] == nil {
		t.Fatalf("after the paid call: %s", st.raw)
	}
	// A refusal shows the invoice it is about, with that invoice's status.
	if d := invoiceOf(t, e.retry(t, id, tx)); d["error"] != "invoice_consumed" || d["status"] != "consumed" || d["invoiceId"] != id {
		t.Fatalf("a used invoice: %v", d)
	}

	// The same transaction never pays a second invoice.
	other := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"another"}`))
	wantRefusal(t, e.retry(t, other["invoiceId"].(string), tx), "payment_already_used")
}

func TestPayPerCallWithSignedCBOR(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	d := invoiceOf(t, e.chat(t))
	id := d["invoiceId"].(string)
	p := e.payment(t, d)
	raw, err := blockfrostemu.EncodeTx(blockfrostemu.Signed{Outputs: p.Outputs, Metadata: p.Metadata, Seed: id})
	if err != nil {
		t.Fatal(err)
	}
	r := e.retry(t, id, hex.EncodeToString(raw))
	if invoiceOf(t, r)["status"] != "submitted" || r.header.Get("Retry-After") == "" {
		t.Fatalf("signed tx: %s", r.raw)
	}
	if n := e.chain.Stats().Submitted; n != 1 {
		t.Fatalf("%d transactions submitted, want 1", n)
	}
	e.chain.AdvanceTip(2)
	if r = e.retry(t, id, hex.EncodeToString(raw)); r.status != 200 {
		t.Fatalf("after confirmation: %d %s", r.status, r.raw)
	}
	// A signed transaction that underpays is refused before it is submitted.
	d = invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"cheap"}`))
	p = e.payment(t, d)
	p.Outputs[0].Lovelace--
	raw, _ = blockfrostemu.EncodeTx(blockfrostemu.Signed{Outputs: p.Outputs, Metadata: p.Metadata, Seed: "cheap"})
	r = e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"cheap"}`, "X-Invoice-Id", d["invoiceId"].(string), "X-Payment", hex.EncodeToString(raw))
	wantRefusal(t, r, "payment_amount_insufficient")
	if n := e.chain.Stats().Submitted; n != 1 {
		t.Fatalf("an underpaying transaction was submitted (%d submissions)", n)
	}
}

func TestPayPerCallRefusals(t *testing.T) {
	e := newPayEnv(t)
	fresh := func(msg string) map[string]any {
		return invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"`+msg+`"}`))
	}
	retry := func(msg string, d map[string]any, proof string) reply {
		return e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"`+msg+`"}`, "X-Invoice-Id", d["invoiceId"].(string), "X-Payment", proof)
	}
	// payment_too_early: a transaction in a block before the invoice existed.
	early := e.put(t, blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: e.shop, Lovelace: chatPrice}}})
	e.chain.AdvanceTip(1) // a block 40 s before now
	d := fresh("early")
	e.catchUp()
	wantRefusal(t, retry("early", d, early), "payment_too_early")

	cases := []struct {
		name, code string
		mutate     func(tx *blockfrostemu.Tx)
	}{
		{"short", "payment_amount_insufficient", func(tx *blockfrostemu.Tx) { tx.Outputs[0].Lovelace-- }},
		{"elsewhere", "payment_output_missing", func(tx *blockfrostemu.Tx) { tx.Outputs[0].Address = e.chain.Address("stranger") }},
		{"nomemo", "payment_memo_missing", func(tx *blockfrostemu.Tx) { tx.Metadata = nil }},
		{"failedscript", "payment_invalid_contract", func(tx *blockfrostemu.Tx) {
			tx.Invalid = true
			tx.CollateralInputs = []blockfrostemu.Input{{Address: e.payer, Lovelace: 5_000_000}}
		}},
	}
	txs := map[string]string{}
	invs := map[string]map[string]any{}
	for _, c := range cases {
		invs[c.name] = fresh(c.name)
		tx := e.payment(t, invs[c.name])
		c.mutate(&tx)
		txs[c.name] = e.put(t, tx)
	}
	e.chain.AdvanceTip(2)
	for _, c := range cases {
		wantRefusal(t, retry(c.name, invs[c.name], txs[c.name]), c.code)
		st := e.spec.call(t, "GET", e.base+"/payments/status/"+invs[c.name]["invoiceId"].(string), "", "")
		if st.body["status"] != "pending" || st.body["error"] != c.code {
			t.Errorf("%s: status after the refusal %s", c.name, st.raw)
		}
	}

	// invoice_expired: paid, but included after the invoice's timeout.
	d = fresh("late")
	e.chain.AdvanceTip(16) // 320 s of blocks: past the 300 s timeout
	late := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)
	wantRefusal(t, retry("late", d, late), "invoice_expired")

	// Refusals that need no chain: unknown invoice, malformed proof, another route's invoice.
	r := e.spec.call(t, "POST", e.base+"/chat", "", `{"message":"x"}`, "X-Invoice-Id", "inv_nosuchinvoice", "X-Payment", late)
	if d := invoiceOf(t, r); d["error"] != "invoice_unknown" || d["invoiceId"] == "inv_nosuchinvoice" {
		t.Fatalf("unknown invoice: %s", r.raw)
	}
	wantRefusal(t, retry("malformed", fresh("malformed"), "not-a-payment"), "payment_malformed")
	ta := invoiceOf(t, e.spec.call(t, "POST", e.base+"/token-analysis", "", `{"token":"SNEK"}`))
	wantRefusal(t, retry("route", ta, late), "invoice_route_mismatch")

	// With an api-key nothing is priced; a wrong key is 401, never an invoice.
	if r := e.spec.call(t, "POST", e.base+"/chat", "tb_wrong", `{"message":"x"}`); r.status != 401 {
		t.Fatalf("wrong key: %d", r.status)
	}
	if r := e.spec.call(t, "POST", e.base+"/chat", e.key, `{"message":"x"}`); r.status != 200 {
		t.Fatalf("with a key: %d %s", r.status, r.raw)
	}
}

func TestPayPerCallPartnerRevenueShare(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	// acme's terms are cheaper than the list price: naming it is not enough.
	if r := e.chat(t, "X-Partner", "acme"); r.status != 403 || !strings.Contains(r.raw, "partner_key_required") {
		t.Fatalf("acme without its key: %d %s", r.status, r.raw)
	}
	key := e.partnerKey(t, "acme")
	if r := e.spec.call(t, "POST", e.base+"/chat", key, `{"message":"x"}`, "X-Partner", "share"); r.status != 403 {
		t.Fatalf("acme's key naming another partner: %d %s", r.status, r.raw)
	}
	asAcme := []string{"api-key", key}
	d := invoiceOf(t, e.chat(t, asAcme...))
	extra := d["extra"].(map[string]any)
	outs, _ := extra["outputs"].([]any)
	// 20 ADA less 20 % = 16 ADA to the shop; 10 % of that (1.6 ADA) to acme on top.
	if !unique(t, d["amountUnits"], 16_000_000) || extra["partner"] != "acme" || extra["split"] != "additional" || len(outs) != 1 ||
		outs[0].(map[string]any)["address"] != e.acme || units(t, outs[0].(map[string]any)["amountUnits"]) != 1_600_000 {
		t.Fatalf("partner invoice %v", d)
	}
	tx := e.payment(t, d)
	tx.Outputs = append(tx.Outputs[:1], tx.Outputs[2:]...) // the share left out
	missing := e.put(t, tx)
	good := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)
	wantRefusal(t, e.retry(t, d["invoiceId"].(string), missing, asAcme...), "payment_output_missing")
	if r := e.retry(t, d["invoiceId"].(string), good, asAcme...); r.status != 200 {
		t.Fatalf("partner paid: %d %s", r.status, r.raw)
	}
	// A partner whose outputs make the call dearer than the list price needs no key.
	if d := invoiceOf(t, e.chat(t, "X-Partner", "share")); !unique(t, d["amountUnits"], chatPrice) || d["extra"].(map[string]any)["partner"] != "share" {
		t.Fatalf("public partner: %v", d)
	}
	if r := e.chat(t, "X-Partner", "nobody"); r.status != 400 {
		t.Fatalf("unknown partner: %d %s", r.status, r.raw)
	}
}

func TestPaidCallRunsOnceAndSurvivesOurFailure(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	d := invoiceOf(t, e.chat(t))
	id := d["invoiceId"].(string)
	tx := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)

	// Our side fails: the invoice stays paid and the same retry works without paying again.
	e.llm.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError})
	if r := e.retry(t, id, tx); r.status != 503 {
		t.Fatalf("with the model down: %d %s", r.status, r.raw)
	}
	if st := e.spec.call(t, "GET", e.base+"/payments/status/"+id, "", ""); st.body["status"] != "confirmed" {
		t.Fatalf("after our failure: %s", st.raw)
	}
	e.llm.ClearFaults()
	e.llm.ResetStats()

	// 50 simultaneous retries with the same proof: exactly one call runs.
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = call(t, "POST", e.base+"/chat", "", `{"message":"paid hello"}`, "X-Invoice-Id", id, "X-Payment", tx).status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 402, 409:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 || e.llm.Requests(openaiemu.EndpointChatCompletions) != 1 {
		t.Fatalf("%d calls answered 200 and %d reached the model, want exactly 1 (statuses %v)", ok,
			e.llm.Requests(openaiemu.EndpointChatCompletions), statuses)
	}
}

func TestPrepaidBatch(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	if r := e.chat(t, "X-Partner", "bulk"); r.status != 400 || !strings.Contains(r.raw, "wallet_address_required_for_prepaid_batches") {
		t.Fatalf("batch without a wallet: %d %s", r.status, r.raw)
	}
	wallet := exampleWallet // its key signs in below
	hdr := []string{"X-Partner", "bulk", "X-Wallet-Address", wallet}
	d := invoiceOf(t, e.chat(t, hdr...))
	if !unique(t, d["amountUnits"], 10*chatPrice) || d["extra"].(map[string]any)["batchTarget"] != float64(10) {
		t.Fatalf("batch invoice %v", d)
	}
	// The batch credits the wallet it names, so another wallet cannot pay for it.
	stranger := e.put(t, e.payment(t, d))
	tx := e.put(t, e.paymentFrom(t, d, wallet))
	e.chain.AdvanceTip(2)
	wantRefusal(t, e.retry(t, d["invoiceId"].(string), stranger, hdr...), "payment_wallet_mismatch")
	if r := e.retry(t, d["invoiceId"].(string), tx, hdr...); r.status != 200 {
		t.Fatalf("the paying call: %d %s", r.status, r.raw)
	}
	// Spending the credits needs proof of the wallet: its address alone is public.
	if r := e.chat(t, hdr...); r.status != 401 || !strings.Contains(r.raw, "wallet_proof_required") {
		t.Fatalf("credits spent on a header: %d %s", r.status, r.raw)
	}
	bulkKey := e.partnerKey(t, "bulk")
	if r := e.chat(t, append([]string{"api-key", e.partnerKey(t, "share")}, hdr[2:]...)...); r.status == 200 {
		t.Fatalf("another partner's key spent bulk credits: %d %s", r.status, r.raw)
	}
	if r := e.chat(t, append([]string{"api-key", bulkKey}, hdr[2:]...)...); r.status != 200 || r.header.Get("X-Credits-Remaining") != "8" {
		t.Fatalf("the partner's key vouching for its user: %d %s", r.status, r.raw)
	}
	hdr = append(hdr, e.signIn(t, wallet)...)
	balance := func() map[string]any {
		return e.spec.call(t, "GET", e.base+"/payments/balance?partner=bulk&wallet="+wallet, "", "").body
	}
	if b := balance(); b["credits"] != float64(8) || b["batchTarget"] != float64(10) {
		t.Fatalf("after the paying call and one vouched call: %v", b)
	}
	// A failed call gets its credit back.
	e.llm.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultServerError})
	if r := e.chat(t, hdr...); r.status != 503 {
		t.Fatalf("failing call: %d %s", r.status, r.raw)
	}
	e.llm.ClearFaults()
	if b := balance(); b["credits"] != float64(8) {
		t.Fatalf("the failed call was not refunded: %v", b)
	}
	// 50 concurrent calls with one proof on 8 credits: exactly 8 succeed, the rest are offered a
	// new batch.
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[int]int{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := call(t, "POST", e.base+"/chat", "", `{"message":"batch"}`, hdr...)
			mu.Lock()
			count[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if count[200] != 8 || count[402] != 42 {
		t.Fatalf("statuses %v, want 8 × 200 and 42 × 402", count)
	}
	if b := balance(); b["credits"] != float64(0) {
		t.Fatalf("balance after spending: %v", b)
	}
	// The ledger, replayed, says the same.
	st, err := ledger.New(e.rdb, storage.NewKeys(""), time.Now).Replay(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range st.Balances {
		if strings.HasPrefix(k, "bulk|"+wallet) && v != 0 {
			t.Fatalf("replayed balance %s = %d, live 0", k, v)
		}
	}
}

func TestPaymentEndpoints(t *testing.T) {
	e := newPayEnv(t)
	cfg := e.spec.call(t, "GET", e.base+"/payments/config", "", "")
	if cfg.status != 200 || cfg.body["payTo"] != e.shop || strings.Contains(cfg.raw, e.acme) || cfg.body["amountOffsets"] != float64(999) ||
		!strings.Contains(cfg.raw, `"priceRules":{"/images/generate":{"perImage":true,"sizeMultipliersBps":{"1536x1024":15000}`) {
		t.Fatalf("config %d %s", cfg.status, cfg.raw)
	}
	r := e.spec.call(t, "POST", e.base+"/payments/invoice", "", `{"route":"/chat","partner":"bulk","wallet":"`+e.chain.Address("w")+`"}`)
	if r.status != 201 || r.body["extra"].(map[string]any)["batchTarget"] != float64(10) {
		t.Fatalf("invoice: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"route":"/images/variations"}`, 400},
		{`{"route":"/chat","partner":"bulk"}`, 400},
		{`{"route":"/chat","wallet":"addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3jcu5d8ps7zex2k2xt3uqxgjqnnj83ws8lhrn648jjxtwq2ytjqp"}`, 400},
		{`{}`, 422},
	} {
		if r := e.spec.call(t, "POST", e.base+"/payments/invoice", "", tc.body); r.status != tc.want {
			t.Errorf("%s: %d %s", tc.body, r.status, r.raw)
		}
	}
	if r := e.spec.call(t, "GET", e.base+"/payments/status/inv_unknown", "", ""); r.status != 404 {
		t.Errorf("unknown invoice status: %d", r.status)
	}
	if r := e.spec.call(t, "GET", e.base+"/payments/balance?partner=nobody&wallet=x", "", ""); r.status != 400 {
		t.Errorf("bad balance query: %d", r.status)
	}
}

func TestPayPerCallImages(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	gen := func(body string, hdr ...string) reply {
		return e.spec.call(t, "POST", e.base+"/images/generate", "", body, hdr...)
	}
	// A body that would get 422 costs nothing: no invoice is opened for it.
	if r := gen(`{"prompt":"a red fox","size":"256x256","n":1}`); r.status != 422 {
		t.Fatalf("bad size: %d %s", r.status, r.raw)
	}
	// Prices follow n, size and quality as configured (per image × size × quality, rounded down).
	for _, c := range []struct {
		body string
		base uint64
	}{
		{`{"prompt":"three foxes","n":3}`, 75_000_000},
		{`{"prompt":"wide fox","size":"1536x1024","quality":"low"}`, 18_750_000},
		{`{"prompt":"ten wide foxes","n":10,"size":"1536x1024","quality":"high"}`, 750_000_000},
	} {
		if d := invoiceOf(t, gen(c.body)); !unique(t, d["amountUnits"], c.base) {
			t.Errorf("%s: %v, want %d + offset", c.body, d["amountUnits"], c.base)
		}
	}
	body := `{"prompt":"a red fox","n":1,"quality":"low"}`
	d := invoiceOf(t, gen(body))
	id := d["invoiceId"].(string)
	if !unique(t, d["amountUnits"], 12_500_000) {
		t.Fatalf("image invoice %v", d)
	}
	tx := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)
	e.chain.ResetStats()
	// The payment for one low-quality image does not buy ten wide high-quality ones; it stays
	// usable for what it was paid for.
	r := gen(`{"prompt":"a red fox","n":10,"quality":"high","size":"1536x1024"}`, "X-Invoice-Id", id, "X-Payment", tx)
	if d := invoiceOf(t, r); d["error"] != "invoice_request_mismatch" || d["invoiceId"] != id || d["status"] != "pending" {
		t.Fatalf("other parameters: %s", r.raw)
	}
	if n := e.chain.Stats().Requests[blockfrostemu.EndpointTx]; n != 0 {
		t.Fatalf("a mismatched retry asked the chain %d times", n)
	}
	r = gen(`{"prompt":"a red fox, in the snow","quality":"low"}`, "X-Invoice-Id", id, "X-Payment", tx) // n defaults to 1
	if r.status != 200 || r.body["success"] != true || len(r.body["images"].([]any)) != 1 {
		t.Fatalf("paid image: %d %s", r.status, r.raw)
	}
	// POST /payments/invoice prices and binds a standard call: one image, the default size.
	std := e.spec.call(t, "POST", e.base+"/payments/invoice", "", `{"route":"/images/generate"}`)
	if std.status != 201 || !unique(t, std.body["amountUnits"], 25_000_000) {
		t.Fatalf("standard invoice: %d %s", std.status, std.raw)
	}
	// Prepaid credits buy standard calls: a batch is priced at one, and a credit call that asks
	// for more is refused before any credit is spent.
	bulk := []string{"X-Partner", "bulk", "X-Wallet-Address", e.chain.Address("image-bulk")}
	d = invoiceOf(t, gen(`{"prompt":"three foxes","n":3}`, bulk...))
	if d["error"] != "invoice_request_mismatch" || !unique(t, d["amountUnits"], 10*25_000_000) {
		t.Fatalf("a batch for a dearer call: %v", d)
	}
	if d := invoiceOf(t, gen(`{"prompt":"one fox"}`, bulk...)); d["error"] != nil || !unique(t, d["amountUnits"], 10*25_000_000) {
		t.Fatalf("a batch of standard calls: %v", d)
	}
	// Variations are API-key only: never an invoice, even with payments on.
	if r := e.spec.call(t, "POST", e.base+"/images/variations", "", `{"image":"aGVsbG8="}`); r.status != 401 {
		t.Fatalf("variations without a key: %d %s", r.status, r.raw)
	}
}

func TestPaymentsOff(t *testing.T) {
	_, base, _ := startDev(t, "REDIS_URL", testRedisURL(t), "PAYMENTS_CONFIG", "off")
	spec := newSpecChecker(t, base)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/payments/config", ""}, {"GET", "/payments/status/inv_x", ""},
		{"GET", "/payments/balance?partner=a&wallet=b", ""}, {"POST", "/payments/invoice", `{"route":"/chat"}`},
	} {
		if r := spec.call(t, c.method, base+c.path, "", c.body); r.status != 404 || !strings.Contains(r.raw, "not enabled") {
			t.Errorf("%s %s without payments: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if r := spec.call(t, "POST", base+"/chat", "", `{"message":"x"}`); r.status != 401 {
		t.Errorf("a priced route without payments and without a key: %d %s", r.status, r.raw)
	}
}

// Every invoice is kept, so one client address may not open them without bound.
func TestInvoicesAreRateLimited(t *testing.T) {
	e := newPayEnv(t)
	for i := range 80 {
		r := e.spec.call(t, "POST", e.base+"/payments/invoice", "", `{"route":"/chat"}`)
		if r.status == 429 {
			if i < 60 || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 after %d invoices (Retry-After %q), want after 60", i, r.header.Get("Retry-After"))
			}
			return
		}
		if r.status != 201 {
			t.Fatalf("invoice %d: %d %s", i, r.status, r.raw)
		}
	}
	t.Fatal("80 invoices a minute from one address were all opened")
}
