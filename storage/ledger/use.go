package ledger

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// Reserve lets exactly one request run on a confirmed invoice: confirmed → in use (reads as
// "confirmed") under a lease, so that a crashed api's reservation ends by itself after lease and
// the next Reserve takes over (giving back the old one first). route must equal the invoice's
// (ErrRouteMismatch). A batch invoice also spends one credit of its (Partner, Wallet) in the same
// step (ErrNoCredits when they were all spent). Errors: ErrInvoiceNotFound, ErrNotConfirmed,
// ErrInvoiceConsumed, ErrInvoiceBusy, ErrInvoiceExpired (never paid and past expiry). The token
// identifies this reservation to Consume and Release.
func (l *Ledger) Reserve(ctx context.Context, id, route string, lease time.Duration) (inv payments.Invoice, token string, err error) {
	if lease <= 0 {
		return payments.Invoice{}, "", fmt.Errorf("%w: lease must be positive", ErrLedgerInput)
	}
	partner, wallet, err := l.owner(ctx, id)
	if err != nil {
		return payments.Invoice{}, "", fmt.Errorf("ledger: reserve invoice: %w", err)
	}
	token = rand.Text()
	now := l.nowMs()
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id), l.keys.LedgerBalance(partner, wallet)}
	code, payload, err := l.run(ctx, luaReserve, keys, now, route, token, now+storage.Millis(lease), partner, wallet)
	if err != nil {
		return payments.Invoice{}, "", fmt.Errorf("ledger: reserve invoice: %w", err)
	}
	if inv, err = l.invoiceReply(code, payload); err != nil {
		return payments.Invoice{}, "", err
	}
	return inv, token, nil
}

// Consume marks the invoice used up after its paid request succeeded: in use under token →
// consumed. ErrLeaseLost when token does not hold it, ErrInvoiceConsumed when already consumed.
func (l *Ledger) Consume(ctx context.Context, id, token string) error {
	if id == "" || len(id) > maxLedgerID {
		return payments.ErrInvoiceNotFound
	}
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id)}
	code, payload, err := l.run(ctx, luaConsume, keys, l.nowMs(), token, storage.Millis(ledgerRetention))
	if err != nil {
		return fmt.Errorf("ledger: consume invoice: %w", err)
	}
	if code != "ok" {
		return errFromCode(code, payload)
	}
	return nil
}

// Release gives the invoice back after our side failed: in use under token → confirmed, and a
// batch invoice's credit back to its balance. ErrLeaseLost when token does not hold it.
func (l *Ledger) Release(ctx context.Context, id, token string) error {
	return l.ReleaseWithError(ctx, id, token, "")
}

// ReleaseWithError is Release that also records why the paid call was not delivered (the
// invoice's error, as GET /payments/status shows it); "" records nothing.
func (l *Ledger) ReleaseWithError(ctx context.Context, id, token, reason string) error {
	if len(reason) > maxLedgerID {
		return fmt.Errorf("%w: error code longer than %d bytes", ErrLedgerInput, maxLedgerID)
	}
	partner, wallet, err := l.owner(ctx, id)
	if err != nil {
		return fmt.Errorf("ledger: release invoice: %w", err)
	}
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(id), l.keys.LedgerBalance(partner, wallet)}
	code, payload, err := l.run(ctx, luaRelease, keys, l.nowMs(), token, partner, wallet, reason)
	if err != nil {
		return fmt.Errorf("ledger: release invoice: %w", err)
	}
	if code != "ok" {
		return errFromCode(code, payload)
	}
	return nil
}
