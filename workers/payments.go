package workers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/blockfrost/blockfrost-go"
	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/workers/blockfrosterr"
)

// PaymentLedger is what the payment check needs of the ledger (ledger.Ledger).
type PaymentLedger interface {
	Get(ctx context.Context, id string) (payments.Invoice, error)
	Submitted(ctx context.Context, id, txHash string) (payments.Invoice, error)
	ConfirmPaidBy(ctx context.Context, id, txHash string, at time.Time, payer string) (payments.Invoice, error)
	RecordError(ctx context.Context, id, code string) error
	ClaimedBy(ctx context.Context, txHash string) (string, error)
}

// Payments runs payment:confirm jobs: it checks a paid retry's proof against its invoice and
// confirms the invoice in the ledger. A transaction hash is looked up on chain; a signed
// transaction is decoded and checked first, then submitted, then tracked like a hash.
//
// A refused payment is a successful job whose result carries the code; only chain-data outages
// (and Redis failures) fail the job, so that asynq retries them and the caller sees 503.
type Payments struct {
	Chain   blockfrost.APIClient
	Ledger  PaymentLedger
	Network cardano.Network  // the network Chain serves; invoices of another network are refused as a misconfiguration
	Now     func() time.Time // nil: time.Now
}

// Handle is the job handler.
func (p *Payments) Handle(ctx context.Context, t *asynq.Task) (any, error) {
	in, err := jobs.Decode[jobs.PaymentPayload](t)
	if err != nil {
		return nil, err
	}
	inv, err := p.Ledger.Get(ctx, in.InvoiceID)
	if errors.Is(err, payments.ErrInvoiceNotFound) {
		return jobs.PaymentResult{InvoiceID: in.InvoiceID, Error: payments.CodeInvoiceUnknown,
			Message: payments.Message(err)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read invoice: %w", err)
	}
	if inv.Network != p.Network.String() {
		return nil, jobs.Permanent(jobs.CodeInternal, "payments are misconfigured", 500)
	}
	if res, done := settled(inv); done {
		return res, nil
	}
	proof, err := payments.ParseProof(in.Proof.Value)
	if err == nil && proof.Kind != in.Proof.Kind {
		err = &payments.Error{Code: payments.CodePaymentMalformed, Detail: "the proof kind does not match its value"}
	}
	if err != nil {
		return p.refuse(ctx, inv, "", err)
	}
	// A transaction that paid another invoice is refused as such, whatever else it lacks for this one.
	owner, err := p.Ledger.ClaimedBy(ctx, proof.TxHash)
	if err != nil {
		return nil, err
	}
	if owner != "" && owner != inv.ID {
		return p.refuse(ctx, inv, proof.TxHash, payments.ErrPaymentUsed)
	}
	if proof.Kind == payments.ProofSignedTx {
		return p.submitSigned(ctx, inv, proof)
	}
	return p.checkOnChain(ctx, inv, proof.TxHash)
}

// settled answers without chain calls when the invoice is paid or used already.
func settled(inv payments.Invoice) (jobs.PaymentResult, bool) {
	res := jobs.PaymentResult{InvoiceID: inv.ID, Status: inv.Status, TxHash: inv.TxHash}
	switch inv.Status {
	case payments.InvoiceConfirmed:
		// Paid (by this transaction, or by another one: either way the invoice may be used).
		return res, true
	case payments.InvoiceConsumed:
		res.Error, res.Message = payments.CodeInvoiceConsumed, "the invoice was used already"
		return res, true
	}
	return res, false
}

// checkOnChain verifies the transaction txHash as the chain shows it and confirms the invoice.
func (p *Payments) checkOnChain(ctx context.Context, inv payments.Invoice, txHash string) (any, error) {
	tip, err := p.tip(ctx)
	if err != nil {
		return nil, err
	}
	view, err := p.chainTx(ctx, txHash)
	if err != nil {
		return nil, err
	}
	return p.judge(ctx, inv, view, tip)
}

// judge verifies a transaction as read from the chain and confirms the invoice when it pays it.
func (p *Payments) judge(ctx context.Context, inv payments.Invoice, view payments.ChainTx, tip payments.Tip) (any, error) {
	txHash := view.Hash
	err := payments.VerifyTx(inv, view, tip)
	switch {
	case errors.Is(err, payments.ErrPending):
		status := inv.Status
		if status == payments.InvoiceExpired {
			status = payments.InvoicePending // paid in time, waiting for confirmations
		}
		return jobs.PaymentResult{InvoiceID: inv.ID, Status: status, TxHash: txHash, Message: payments.Message(err)}, nil
	case payments.Code(err) != "":
		return p.refuse(ctx, inv, txHash, err)
	case err != nil:
		return nil, err
	}
	payer := ""
	if cred, err := payments.PayerCredential(view.Inputs); err == nil {
		payer = cred.Hex()
	}
	if err := payments.CheckPayer(inv, payer); err != nil {
		return p.refuse(ctx, inv, txHash, err)
	}
	done, err := p.Ledger.ConfirmPaidBy(ctx, inv.ID, txHash, p.now(), payer)
	if err != nil {
		return p.ledgerRefusal(ctx, inv, txHash, err)
	}
	return jobs.PaymentResult{InvoiceID: inv.ID, Status: done.Status, TxHash: txHash}, nil
}

// submitSigned checks a signed transaction (decoded by ParseProof), submits it and records it
// as submitted. A transaction just submitted is not in a block yet: the chain is not asked.
func (p *Payments) submitSigned(ctx context.Context, inv payments.Invoice, proof payments.Proof) (any, error) {
	if inv.Status == payments.InvoiceSubmitted && inv.TxHash == proof.TxHash {
		return p.checkOnChain(ctx, inv, proof.TxHash) // a retry with the transaction we submitted
	}
	tip, err := p.tip(ctx)
	if err != nil {
		return nil, err
	}
	if err := payments.VerifySigned(inv, proof.Tx, p.now(), tip.Slot); err != nil {
		return p.refuse(ctx, inv, proof.TxHash, err)
	}
	if _, err := p.Chain.TransactionSubmit(ctx, proof.Raw); err != nil {
		if blockfrosterr.Status(err) != 400 {
			return nil, chainUnavailable("/tx/submit", err)
		}
		return p.submitRefused(ctx, inv, proof.TxHash, tip)
	}
	sub, err := p.Ledger.Submitted(ctx, inv.ID, proof.TxHash)
	if err != nil {
		return p.ledgerRefusal(ctx, inv, proof.TxHash, err)
	}
	return jobs.PaymentResult{InvoiceID: inv.ID, Status: sub.Status, TxHash: proof.TxHash}, nil
}

// submitRefused handles a node's refusal. The transaction may be ours already, submitted by an
// earlier attempt (then its inputs look spent): on chain it is checked like a hash; recorded as
// submitted it is still on its way. Otherwise the network really refused it.
func (p *Payments) submitRefused(ctx context.Context, inv payments.Invoice, txHash string, tip payments.Tip) (any, error) {
	view, err := p.chainTx(ctx, txHash)
	if err != nil {
		return nil, err
	}
	if view.InBlock {
		return p.judge(ctx, inv, view, tip)
	}
	cur, err := p.Ledger.Get(ctx, inv.ID)
	if err != nil {
		return nil, fmt.Errorf("read invoice: %w", err)
	}
	if cur.TxHash == txHash {
		return jobs.PaymentResult{InvoiceID: inv.ID, Status: cur.Status, TxHash: txHash}, nil
	}
	return p.refuse(ctx, inv, txHash, &payments.Error{Code: payments.CodePaymentRejected,
		Detail: "the network refused the transaction (spent inputs, fee or signatures)"})
}

// ledgerRefusal turns a Confirm/Submitted refusal into a result.
func (p *Payments) ledgerRefusal(ctx context.Context, inv payments.Invoice, txHash string, err error) (any, error) {
	if errors.Is(err, ledger.ErrInvoicePaid) {
		// Another transaction paid the invoice meanwhile: report the invoice as it is now.
		cur, gerr := p.Ledger.Get(ctx, inv.ID)
		if gerr != nil {
			return nil, fmt.Errorf("read invoice: %w", gerr)
		}
		if res, done := settled(cur); done {
			return res, nil
		}
		return nil, fmt.Errorf("ledger: invoice %s paid but %s", inv.ID, cur.Status)
	}
	if payments.Code(err) != "" {
		return p.refuse(ctx, inv, txHash, err)
	}
	return nil, fmt.Errorf("ledger: %w", err)
}

// refuse records the code on the invoice and returns it as the job's result.
func (p *Payments) refuse(ctx context.Context, inv payments.Invoice, txHash string, err error) (any, error) {
	code := payments.Code(err)
	if rerr := p.Ledger.RecordError(ctx, inv.ID, code); rerr != nil && !errors.Is(rerr, payments.ErrInvoiceNotFound) {
		return nil, fmt.Errorf("record payment error: %w", rerr)
	}
	return jobs.PaymentResult{InvoiceID: inv.ID, Status: inv.Status, TxHash: txHash, Error: code, Message: payments.Message(err)}, nil
}

func (p *Payments) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// tip reads the chain's latest block.
func (p *Payments) tip(ctx context.Context) (payments.Tip, error) {
	b, err := p.Chain.BlockLatest(ctx)
	if err != nil {
		return payments.Tip{}, chainUnavailable("/blocks/latest", err)
	}
	return payments.Tip{Height: int64(b.Height), Slot: uint64(max(b.Slot, 0)), Time: time.Unix(int64(b.Time), 0)}, nil
}

// chainTx reads a transaction as the chain shows it; not found means not in a block (yet).
func (p *Payments) chainTx(ctx context.Context, txHash string) (payments.ChainTx, error) {
	view := payments.ChainTx{Hash: txHash}
	tc, err := p.Chain.Transaction(ctx, txHash)
	if blockfrosterr.Status(err) == 404 {
		return view, nil
	}
	if err != nil {
		return view, chainUnavailable("/txs/{hash}", err)
	}
	utxos, err := p.Chain.TransactionUTXOs(ctx, txHash)
	if err != nil {
		return view, chainUnavailable("/txs/{hash}/utxos", err)
	}
	md, err := p.Chain.TransactionMetadata(ctx, txHash)
	if err != nil {
		return view, chainUnavailable("/txs/{hash}/metadata", err)
	}
	view.InBlock, view.BlockHeight, view.ValidContract = true, int64(tc.BlockHeight), tc.ValidContract
	view.BlockTime = time.Unix(int64(tc.BlockTime), 0)
	for _, o := range utxos.Outputs {
		if out, ok := chainOutput(o); ok {
			view.Outputs = append(view.Outputs, out)
		}
	}
	for _, in := range utxos.Inputs {
		if !in.Collateral && (in.Reference == nil || !*in.Reference) {
			view.Inputs = append(view.Inputs, in.Address)
		}
	}
	view.Memo = cip20Lines(md)
	return view, nil
}

// chainOutput converts one Blockfrost output; an address we cannot decode is never one we
// asked to be paid at, so such an output is skipped.
func chainOutput(o blockfrost.TransactionOutput) (payments.ChainOutput, bool) {
	a, err := cardano.ParseAddress(o.Address)
	if err != nil {
		return payments.ChainOutput{}, false
	}
	out := payments.ChainOutput{Address: a.Raw, Collateral: o.Collateral}
	for _, amt := range o.Amount {
		q, err := strconv.ParseUint(amt.Quantity, 10, 64)
		if err != nil {
			continue
		}
		if amt.Unit == "lovelace" {
			out.Lovelace = q
			continue
		}
		if out.Assets == nil {
			out.Assets = map[string]uint64{}
		}
		out.Assets[amt.Unit] = q
	}
	return out, true
}

// cip20Lines reads the message of label 674 (see cardano.CIP20Lines).
func cip20Lines(md []blockfrost.TransactionMetadata) []string {
	for _, m := range md {
		if m.Label != strconv.Itoa(cardano.CIP20Label) {
			continue
		}
		obj, _ := m.JsonMetadata.(map[string]any)
		return cardano.CIP20Lines(obj["msg"]) // one entry per label: no other 674 follows
	}
	return nil
}

// chainUnavailable is a failed chain-data call: the job fails with 503 (and is retried).
func chainUnavailable(endpoint string, err error) error {
	je := &jobs.Error{Code: jobs.CodeUnavailable, Message: "the Cardano chain data service is unavailable; try again shortly",
		Status: 503, RetryAfter: 5}
	return fmt.Errorf("%w (blockfrost %s: %v)", je, endpoint, err)
}
