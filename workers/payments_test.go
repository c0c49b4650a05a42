package workers_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/redistest"
	"github.com/tbackend/tbackend/workers"
)

// payEnv is a payment worker against the Blockfrost emulator (through blockfrost-go) and a real
// Redis ledger, on a clock that follows the emulator's chain.
type payEnv struct {
	t      *testing.T
	emu    *blockfrostemu.Emulator
	ledger *ledger.Ledger
	cfg    *payments.Config
	h      *workers.Payments
	now    time.Time
	shop   string // pay_to
	share  string // acme's revenue share address
}

func newPayEnv(t *testing.T) *payEnv {
	t.Helper()
	emu := blockfrostemu.New("proj")
	url, stop, err := emu.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	e := &payEnv{t: t, emu: emu, shop: emu.Address("shop"), share: emu.Address("partner")}
	e.syncClock()
	e.cfg, err = payments.Parse(fmt.Appendf(nil, `
network: mainnet
pay_to: %s
min_confirmations: 2
invoice_timeout: 300s
require_memo: true
prices: {/chat: 3000000, /images/generate: 5000000}
partners:
  acme: {discount_bps: 2000, revenue_share: [{address: %s, bps: 5000}], split_mode: additional}
  bulk: {batch_target: 10}
`, e.shop, e.share), ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.Claim(t)
	now := func() time.Time { return e.now }
	e.ledger = ledger.New(rdb, storage.NewKeys(fmt.Sprintf("test-%s:", jobs.NewID())), now)
	bf := workers.NewBlockfrost(workers.BlockfrostConfig{URL: url, ProjectID: "proj", RPS: 2000, Burst: 200,
		Retries: 0, MaxWait: time.Second}, nil)
	e.h = &workers.Payments{Chain: bf, Ledger: e.ledger, Network: "mainnet", Now: now}
	return e
}

// syncClock sets the clock to the time of the emulator's tip.
func (e *payEnv) syncClock() { e.now = time.Unix(e.emu.Tip().Time, 0).UTC() }

// open stores a new invoice for route (and partner) created now.
func (e *payEnv) open(route, partner string) payments.Invoice {
	e.t.Helper()
	return e.openFor(route, partner, "addr1wallet")
}

// openFor is open for wallet (the ledger's wallet: for a batch, "<address> <route>").
func (e *payEnv) openFor(route, partner, wallet string) payments.Invoice {
	e.t.Helper()
	terms, err := e.cfg.Terms(route, partner)
	if err != nil {
		e.t.Fatal(err)
	}
	inv, _, err := e.ledger.Open(context.Background(), e.cfg.NewInvoice(payments.NewInvoiceID(), terms, wallet, "", e.now))
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// pay puts a transaction on chain (in the next block) and returns its hash.
func (e *payEnv) pay(tx blockfrostemu.Tx) string {
	e.t.Helper()
	hash, err := e.emu.AddTx(tx)
	if err != nil {
		e.t.Fatal(err)
	}
	return hash
}

// payment is the transaction that pays inv exactly, with its memo.
func (e *payEnv) payment(inv payments.Invoice) blockfrostemu.Tx {
	tx := blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: e.shop, Lovelace: inv.AmountUnits}}}
	for _, o := range inv.Outputs {
		tx.Outputs = append(tx.Outputs, blockfrostemu.Output{Address: o.Address, Lovelace: o.AmountUnits})
	}
	tx.Outputs = append(tx.Outputs, blockfrostemu.Output{Address: e.emu.Address("payer"), Lovelace: 3_000_000})
	if inv.Memo != "" {
		tx.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20("Invoice " + inv.Memo)}
	}
	return tx
}

// advance produces n blocks and moves the clock with the chain.
func (e *payEnv) advance(n int) {
	e.emu.AdvanceTip(n)
	e.syncClock()
}

// check runs a payment:confirm job for (invoice, X-Payment header).
func (e *payEnv) check(invoiceID, header string) (jobs.PaymentResult, error) {
	e.t.Helper()
	proof := jobs.PaymentProof{Kind: jobs.ProofTxHash, Value: header}
	if p, err := payments.ParseProof(header); err == nil {
		proof = jobs.PaymentProof{Kind: p.Kind, Value: p.Value}
	}
	body, err := json.Marshal(jobs.PaymentPayload{InvoiceID: invoiceID, Proof: proof})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.h.Handle(context.Background(), asynq.NewTask(jobs.TypePaymentConfirm, body))
	if err != nil {
		return jobs.PaymentResult{}, err
	}
	return res.(jobs.PaymentResult), nil
}

func (e *payEnv) mustCheck(invoiceID, header string) jobs.PaymentResult {
	e.t.Helper()
	r, err := e.check(invoiceID, header)
	if err != nil {
		e.t.Fatalf("job failed: %v", err)
	}
	return r
}

func (e *payEnv) invoice(id string) payments.Invoice {
	e.t.Helper()
	inv, err := e.ledger.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func wantResult(t *testing.T, got jobs.PaymentResult, status, code string) {
	t.Helper()
	if got.Status != status || got.Error != code {
		t.Fatalf("result %+v, want status %q error %q", got, status, code)
	}
}

func TestPaymentByTxHash(t *testing.T) {
	e := newPayEnv(t)
	inv := e.open("/chat", "")
	hash := e.pay(e.payment(inv))

	// Not in a block yet, then one confirmation of two: pending, and the invoice is untouched.
	wantResult(t, e.mustCheck(inv.ID, hash), payments.InvoicePending, "")
	e.advance(1)
	r := e.mustCheck(inv.ID, hash)
	wantResult(t, r, payments.InvoicePending, "")
	if r.Message != "transaction "+hash+" has 1 of 2 confirmations" {
		t.Fatalf("pending detail %q", r.Message)
	}
	if got := e.invoice(inv.ID); got.Status != payments.InvoicePending || got.TxHash != "" {
		t.Fatalf("a pending check changed the invoice: %+v", got)
	}

	e.advance(1)
	r = e.mustCheck(inv.ID, `{"txHash":"`+hash+`"}`)
	wantResult(t, r, payments.InvoiceConfirmed, "")
	if got := e.invoice(inv.ID); got.Status != payments.InvoiceConfirmed || got.TxHash != hash || !got.SettledAt.Equal(e.now) {
		t.Fatalf("ledger %+v", got)
	}
	// The payer is the payment key of the spent input (the emulator funds it from the change
	// address, the payer's wallet), as the chain reports it.
	payer, err := cardano.ParseAddress(e.emu.Address("payer"))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.invoice(inv.ID).Payer; got == "" || got != payer.Payment.Hex() {
		t.Fatalf("payer %q, want the payer wallet's payment key %s", got, payer.Payment.Hex())
	}
	// A repeated check is answered from the ledger, without asking the chain.
	e.emu.ResetStats()
	wantResult(t, e.mustCheck(inv.ID, hash), payments.InvoiceConfirmed, "")
	if n := e.emu.Stats().Requests[blockfrostemu.EndpointTx]; n != 0 {
		t.Fatalf("%d chain lookups for a confirmed invoice", n)
	}
}

func TestPaymentPartnerAndBatch(t *testing.T) {
	e := newPayEnv(t)
	inv := e.open("/images/generate", "acme") // 5 ADA − 20% = 4 ADA to the shop, 2 ADA share on top
	if inv.AmountUnits <= 4_000_000 || inv.AmountUnits > 4_000_999 || len(inv.Outputs) != 1 || inv.Outputs[0].AmountUnits != 2_000_000 {
		t.Fatalf("terms %+v", inv)
	}
	hash := e.pay(e.payment(inv))
	e.advance(2)
	wantResult(t, e.mustCheck(inv.ID, hash), payments.InvoiceConfirmed, "")

	// A batch credits its wallet, so it must be paid from that wallet (payment() pays from "payer").
	account := e.emu.Address("payer") + " /chat"
	bulk := e.openFor("/chat", "bulk", account) // ten calls
	if bulk.AmountUnits <= 30_000_000 || bulk.AmountUnits > 30_000_999 || bulk.BatchTarget != 10 {
		t.Fatalf("batch terms %+v", bulk)
	}
	other := e.openFor("/chat", "bulk", e.emu.Address("someone else")+" /chat")
	otherHash := e.pay(e.payment(other))
	hash = e.pay(e.payment(bulk))
	e.advance(2)
	wantResult(t, e.mustCheck(other.ID, otherHash), payments.InvoicePending, payments.CodeWalletMismatch)
	wantResult(t, e.mustCheck(bulk.ID, hash), payments.InvoiceConfirmed, "")
	if b, err := e.ledger.Balance(context.Background(), "bulk", account); err != nil || b.Credits != 10 {
		t.Fatalf("balance %+v %v", b, err)
	}
}

// Every way a transaction on chain can fail its invoice, each with its code recorded.
func TestPaymentRefusals(t *testing.T) {
	e := newPayEnv(t)
	payer := e.emu.Address("payer")
	cases := []struct {
		name    string
		partner string
		tx      func(payments.Invoice) blockfrostemu.Tx
		code    string
	}{
		{"amount short", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Outputs[0].Lovelace--
			return tx
		}, payments.CodeAmountInsufficient},
		{"nothing to the shop", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Outputs[0].Address = payer
			return tx
		}, payments.CodeOutputMissing},
		{"only a collateral return pays the shop", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Outputs = tx.Outputs[1:]
			tx.CollateralReturn = &blockfrostemu.Output{Address: e.shop, Lovelace: inv.AmountUnits}
			return tx
		}, payments.CodeOutputMissing},
		{"scripts failed, collateral to the shop", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Invalid = true
			tx.CollateralReturn = &blockfrostemu.Output{Address: e.shop, Lovelace: inv.AmountUnits}
			return tx
		}, payments.CodeInvalidContract},
		{"revenue share missing", "acme", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Outputs = append(tx.Outputs[:1], tx.Outputs[2:]...)
			return tx
		}, payments.CodeOutputMissing},
		{"revenue share short", "acme", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Outputs[1].Lovelace = inv.Outputs[0].AmountUnits - 1
			return tx
		}, payments.CodeAmountInsufficient},
		{"no memo", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Metadata = nil
			return tx
		}, payments.CodeMemoMissing},
		{"memo of another invoice", "", func(inv payments.Invoice) blockfrostemu.Tx {
			tx := e.payment(inv)
			tx.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20("Invoice " + inv.Memo + "x")}
			return tx
		}, payments.CodeMemoMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := e.open("/images/generate", c.partner)
			hash := e.pay(c.tx(inv))
			e.advance(2)
			r := e.mustCheck(inv.ID, hash)
			wantResult(t, r, payments.InvoicePending, c.code)
			if r.Message == "" || r.TxHash != hash {
				t.Fatalf("result %+v", r)
			}
			if got := e.invoice(inv.ID); got.Error != c.code || got.Status != payments.InvoicePending {
				t.Fatalf("ledger %+v", got)
			}
		})
	}
}

func TestPaymentTiming(t *testing.T) {
	e := newPayEnv(t)
	// Included before the invoice existed.
	early := e.pay(blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: e.shop, Lovelace: 2_000_000}},
		Metadata: []blockfrostemu.Metadata{blockfrostemu.CIP20("a payment made in advance")}})
	e.advance(1)
	e.now = e.now.Add(5 * time.Second)
	inv := e.open("/chat", "")
	e.advance(2)
	wantResult(t, e.mustCheck(inv.ID, early), payments.InvoicePending, payments.CodeTooEarly)

	// Included after the invoice expired (300 s = 15 blocks of 20 s).
	late := e.open("/chat", "")
	e.advance(16)
	hash := e.pay(e.payment(late))
	e.advance(2)
	wantResult(t, e.mustCheck(late.ID, hash), payments.InvoiceExpired, payments.CodeInvoiceExpired)

	// Never on chain, and the invoice ran out meanwhile.
	gone := e.open("/chat", "")
	e.advance(16)
	wantResult(t, e.mustCheck(gone.ID, fmt.Sprintf("%064x", 7)), payments.InvoiceExpired, payments.CodeInvoiceExpired)

	// Included in time, confirmed after the expiry: still a valid payment.
	slow := e.open("/chat", "")
	e.advance(14)
	hash = e.pay(e.payment(slow))
	e.advance(1)
	r := e.mustCheck(slow.ID, hash)
	wantResult(t, r, payments.InvoicePending, "")
	e.advance(5)
	wantResult(t, e.mustCheck(slow.ID, hash), payments.InvoiceConfirmed, "")
}

// One transaction pays one invoice, ever: its memo may name two, the second is refused.
func TestPaymentTxReused(t *testing.T) {
	e := newPayEnv(t)
	first, second := e.open("/chat", ""), e.open("/chat", "")
	tx := e.payment(first)
	tx.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20(first.Memo + " " + second.Memo)}
	hash := e.pay(tx)
	e.advance(2)
	wantResult(t, e.mustCheck(first.ID, hash), payments.InvoiceConfirmed, "")
	wantResult(t, e.mustCheck(second.ID, hash), payments.InvoicePending, payments.CodePaymentUsed)
	if got := e.invoice(second.ID); got.Error != payments.CodePaymentUsed || got.Status != payments.InvoicePending {
		t.Fatalf("ledger %+v", got)
	}
	// Another proof for a paid invoice does not matter: it stays paid by its transaction.
	r := e.mustCheck(first.ID, fmt.Sprintf("%064x", 9))
	if r.Status != payments.InvoiceConfirmed || r.TxHash != hash || r.Error != "" {
		t.Fatalf("paid invoice, other proof: %+v", r)
	}
	// A used invoice is refused.
	_, token, err := e.ledger.Reserve(context.Background(), first.ID, "/chat", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ledger.Consume(context.Background(), first.ID, token); err != nil {
		t.Fatal(err)
	}
	wantResult(t, e.mustCheck(first.ID, hash), payments.InvoiceConsumed, payments.CodeInvoiceConsumed)
}

func (e *payEnv) signed(inv payments.Invoice, change func(*blockfrostemu.Signed)) (header, id string) {
	e.t.Helper()
	s := blockfrostemu.Signed{Outputs: e.payment(inv).Outputs, Seed: inv.ID,
		Metadata:         []blockfrostemu.Metadata{blockfrostemu.CIP20("Invoice " + inv.Memo)},
		InvalidHereafter: blockfrostemu.Slot(e.emu.Tip().Slot + 3600), NetworkID: ptr(uint64(1))}
	if change != nil {
		change(&s)
	}
	raw, err := blockfrostemu.EncodeTx(s)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err = blockfrostemu.TxID(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(raw), id
}

func TestPaymentSignedTx(t *testing.T) {
	e := newPayEnv(t)
	inv := e.open("/images/generate", "acme")
	header, id := e.signed(inv, nil)

	r := e.mustCheck(inv.ID, header)
	if r.Status != payments.InvoiceSubmitted || r.TxHash != id || r.Error != "" {
		t.Fatalf("submit: %+v", r)
	}
	if p := e.emu.Pending(); len(p) != 1 || p[0] != id {
		t.Fatalf("mempool %v, want %s", p, id)
	}
	if got := e.invoice(inv.ID); got.Status != payments.InvoiceSubmitted || got.TxHash != id {
		t.Fatalf("ledger %+v", got)
	}
	// The retry with the same transaction does not submit it again.
	wantResult(t, e.mustCheck(inv.ID, header), payments.InvoiceSubmitted, "")
	if n := e.emu.Stats().Submitted; n != 1 {
		t.Fatalf("%d submissions", n)
	}
	e.advance(1)
	wantResult(t, e.mustCheck(inv.ID, header), payments.InvoiceSubmitted, "")
	e.advance(1)
	wantResult(t, e.mustCheck(inv.ID, header), payments.InvoiceConfirmed, "")
	if got := e.invoice(inv.ID); got.Status != payments.InvoiceConfirmed || got.TxHash != id {
		t.Fatalf("ledger %+v", got)
	}
}

// The wallet submitted the transaction itself: our submission is refused, the chain has it.
func TestPaymentSignedTxAlreadyOnChain(t *testing.T) {
	e := newPayEnv(t)
	inv := e.open("/chat", "")
	header, id := e.signed(inv, nil)
	raw, _ := hex.DecodeString(header)
	if got, err := e.h.Chain.TransactionSubmit(context.Background(), raw); err != nil || got != id {
		t.Fatalf("wallet submit %s %v", got, err)
	}
	e.advance(2)
	r := e.mustCheck(inv.ID, header)
	if r.Status != payments.InvoiceConfirmed || r.TxHash != id {
		t.Fatalf("%+v", r)
	}
}

func TestPaymentSignedTxRefusals(t *testing.T) {
	e := newPayEnv(t)
	// An output of the chain that two transactions try to spend.
	funding := e.pay(blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: e.emu.Address("payer"), Lovelace: 50_000_000}}})
	e.advance(1)
	spend := func(s *blockfrostemu.Signed) { s.Inputs = []blockfrostemu.Input{{TxHash: funding, OutputIndex: 0}} }
	first := e.open("/chat", "")
	header, _ := e.signed(first, spend)
	wantResult(t, e.mustCheck(first.ID, header), payments.InvoiceSubmitted, "")

	tip := e.emu.Tip().Slot
	cases := []struct {
		name   string
		change func(*blockfrostemu.Signed)
		code   string
	}{
		{"wrong network id", func(s *blockfrostemu.Signed) { s.NetworkID = ptr(uint64(0)) }, payments.CodePaymentRejected},
		{"validity ended", func(s *blockfrostemu.Signed) { s.InvalidHereafter = blockfrostemu.Slot(tip) }, payments.CodePaymentRejected},
		{"valid only later", func(s *blockfrostemu.Signed) { s.InvalidBefore = blockfrostemu.Slot(tip + 1) }, payments.CodePaymentRejected},
		{"declared failed", func(s *blockfrostemu.Signed) { s.Invalid = true }, payments.CodeInvalidContract},
		{"amount short", func(s *blockfrostemu.Signed) { s.Outputs[0].Lovelace-- }, payments.CodeAmountInsufficient},
		{"no memo", func(s *blockfrostemu.Signed) { s.Metadata = nil }, payments.CodeMemoMissing},
		{"input spent by another payment", spend, payments.CodePaymentRejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := e.open("/chat", "")
			header, _ := e.signed(inv, c.change)
			before := e.emu.Stats().Submitted
			wantResult(t, e.mustCheck(inv.ID, header), payments.InvoicePending, c.code)
			if e.emu.Stats().Submitted != before {
				t.Fatal("a refused transaction reached the mempool")
			}
		})
	}
	// Garbage in X-Payment.
	inv := e.open("/chat", "")
	wantResult(t, e.mustCheck(inv.ID, "84a0ff"), payments.InvoicePending, payments.CodePaymentMalformed)
	// An expired invoice takes no signed transaction.
	e.advance(16)
	header, _ = e.signed(inv, func(s *blockfrostemu.Signed) {
		s.InvalidHereafter = blockfrostemu.Slot(e.emu.Tip().Slot + 100)
	})
	wantResult(t, e.mustCheck(inv.ID, header), payments.InvoiceExpired, payments.CodeInvoiceExpired)
}

func TestPaymentUnknownInvoiceAndOutage(t *testing.T) {
	e := newPayEnv(t)
	wantResult(t, e.mustCheck("inv_nosuchinvoice", fmt.Sprintf("%064x", 1)), "", payments.CodeInvoiceUnknown)

	inv := e.open("/chat", "")
	hash := e.pay(e.payment(inv))
	e.advance(2)
	e.emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultServerError, Endpoint: blockfrostemu.EndpointTxUTXOs})
	_, err := e.check(inv.ID, hash)
	var je *jobs.Error
	if !errors.As(err, &je) || je.Status != 503 || je.Code != jobs.CodeUnavailable || je.Permanent || je.RetryAfter == 0 {
		t.Fatalf("outage: %v (%+v)", err, je)
	}
	if got := e.invoice(inv.ID); got.Status != payments.InvoicePending || got.Error != "" {
		t.Fatalf("an outage changed the invoice: %+v", got)
	}
	signedInv := e.open("/chat", "")
	header, _ := e.signed(signedInv, nil)
	e.emu.SetFaults(blockfrostemu.Fault{Kind: blockfrostemu.FaultMempoolFull, Endpoint: blockfrostemu.EndpointTxSubmit})
	if _, err := e.check(signedInv.ID, header); !errors.As(err, &je) || je.Status != 503 {
		t.Fatalf("mempool full: %v", err)
	}
	e.emu.ClearFaults()
	wantResult(t, e.mustCheck(inv.ID, hash), payments.InvoiceConfirmed, "")
	wantResult(t, e.mustCheck(signedInv.ID, header), payments.InvoiceSubmitted, "")
}

func TestPaymentPayloadAndNetwork(t *testing.T) {
	e := newPayEnv(t)
	_, err := e.h.Handle(context.Background(), asynq.NewTask(jobs.TypePaymentConfirm, []byte("{")))
	var je *jobs.Error
	if !errors.As(err, &je) || !je.Permanent || je.Status != 400 {
		t.Fatalf("bad payload: %v", err)
	}
	inv := e.open("/chat", "")
	e.h.Network = "preprod"
	if _, err := e.check(inv.ID, fmt.Sprintf("%064x", 1)); !errors.As(err, &je) || !je.Permanent {
		t.Fatalf("network mismatch: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
