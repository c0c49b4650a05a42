package ledger

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// canonicalTx returns a Cardano transaction id (32 bytes, hex) in lower case. Hex decoding ignores
// case, so "AB…" and "ab…" name the same transaction: claiming only the canonical form keeps a
// payment from being redeemed twice under two spellings.
func canonicalTx(txHash string) (string, error) {
	if len(txHash) != 64 {
		return "", fmt.Errorf("%w: tx hash must be 64 hex digits", ErrLedgerInput)
	}
	if _, err := hex.DecodeString(txHash); err != nil {
		return "", fmt.Errorf("%w: tx hash must be 64 hex digits", ErrLedgerInput)
	}
	return strings.ToLower(txHash), nil
}

// Submitted records that we submitted a signed tx for the invoice: it claims txHash for the
// invoice (ErrPaymentUsed when another invoice holds it) and moves pending|submitted → submitted.
// Idempotent for the same tx; ErrInvoicePaid when the invoice was paid by another tx.
func (l *Ledger) Submitted(ctx context.Context, id, txHash string) (payments.Invoice, error) {
	tx, err := canonicalTx(txHash)
	if err != nil {
		return payments.Invoice{}, err
	}
	if id == "" || len(id) > maxLedgerID {
		return payments.Invoice{}, payments.ErrInvoiceNotFound
	}
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id), l.keys.LedgerTxClaim(tx)}
	code, payload, err := l.run(ctx, luaSubmitted, keys, l.nowMs(), tx, storage.Millis(ledgerRetention))
	if err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: invoice submitted: %w", err)
	}
	return l.invoiceReply(code, payload)
}

// Confirm claims txHash for the invoice (a tx pays at most one invoice, ever: ErrPaymentUsed
// otherwise) and moves pending|submitted → confirmed with SettledAt=at, in one atomic step that
// also credits a batch invoice's (Partner, Wallet) with BatchTarget credits. Idempotent when the
// invoice is paid with this tx already (no second credit); ErrInvoicePaid with another tx. Expiry
// is the verifier's call: a valid tx confirms an expired pending invoice too.
func (l *Ledger) Confirm(ctx context.Context, id, txHash string, at time.Time) (payments.Invoice, error) {
	return l.ConfirmPaidBy(ctx, id, txHash, at, "")
}

// ConfirmPaidBy is Confirm that also records who paid: payer is the payment key credential (hex)
// of the transaction's paying input, or "". A repeat of an idempotent confirm keeps the first.
func (l *Ledger) ConfirmPaidBy(ctx context.Context, id, txHash string, at time.Time, payer string) (payments.Invoice, error) {
	tx, err := canonicalTx(txHash)
	if err != nil {
		return payments.Invoice{}, err
	}
	partner, wallet, err := l.owner(ctx, id)
	if err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: confirm invoice: %w", err)
	}
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id), l.keys.LedgerTxClaim(tx),
		l.keys.LedgerBalance(partner, wallet)}
	code, payload, err := l.run(ctx, luaConfirm, keys, l.nowMs(), tx, at.UTC().Format(time.RFC3339Nano), partner, wallet, strings.ToLower(payer))
	if err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: confirm invoice: %w", err)
	}
	inv, err := l.invoiceReply(code, payload)
	if err == nil {
		l.releaseAmount(ctx, inv)
	}
	return inv, err
}

// releaseAmount frees a paid invoice's unique amount before its expiry: its transaction is
// claimed, and a later one of the same amount pays no older invoice (CodeTooEarly). Only this
// invoice's hold is removed (a later invoice that took the amount after the hold ran out has
// another release time). A failure only keeps the amount held until then, so it is not an error.
func (l *Ledger) releaseAmount(ctx context.Context, inv payments.Invoice) {
	if inv.AmountOffsets == 0 {
		return
	}
	keys := []string{l.keys.LedgerAmounts(inv.PayTo, inv.Asset)}
	_ = luaReleaseAmount.Run(ctx, l.rdb, keys, strconv.FormatUint(inv.AmountUnits, 10), inv.ExpiresAt.Add(amountGrace).UnixMilli()).Err()
}

// luaReleaseAmount removes amount ARGV[1] from the set KEYS[1] if it is held until ARGV[2] (ms).
var luaReleaseAmount = redis.NewScript(`
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held and tonumber(held) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`)

// owner reads the (partner, wallet) an invoice credits or debits. They never change after Open, so
// reading them before the script is safe; the script checks them again.
func (l *Ledger) owner(ctx context.Context, id string) (partner, wallet string, err error) {
	if id == "" || len(id) > maxLedgerID {
		return "", "", payments.ErrInvoiceNotFound
	}
	v, err := l.rdb.HMGet(ctx, l.keys.LedgerInvoice(id), "partner", "wallet").Result()
	if err != nil {
		return "", "", err
	}
	p, ok1 := v[0].(string)
	w, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return "", "", payments.ErrInvoiceNotFound
	}
	return p, w, nil
}

// RecordError stores the last verification error code on the invoice (GET /payments/status shows
// it); the status does not change.
func (l *Ledger) RecordError(ctx context.Context, id, code string) error {
	if len(code) > maxLedgerID {
		return fmt.Errorf("%w: error code longer than %d bytes", ErrLedgerInput, maxLedgerID)
	}
	if id == "" || len(id) > maxLedgerID {
		return payments.ErrInvoiceNotFound
	}
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id)}
	res, _, err := l.run(ctx, luaRecordError, keys, l.nowMs(), code)
	if err != nil {
		return fmt.Errorf("ledger: record invoice error: %w", err)
	}
	if res != "ok" {
		return errFromCode(res, nil)
	}
	return nil
}
