package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tbackend/tbackend/storage"
)

// Debit takes one prepaid credit of (partner, wallet) for ref (the job or request it pays for),
// atomically and never below zero (ErrNoCredits). A ref is single-use: a second Debit with it is
// ErrCreditRefUsed, so refs must be ours (job ids), never a client's choice alone.
func (l *Ledger) Debit(ctx context.Context, partner, wallet, ref string) (remaining int64, err error) {
	if err := checkRef(wallet, ref); err != nil {
		return 0, err
	}
	code, payload, err := l.run(ctx, luaDebit, l.creditKeys(partner, wallet, ref),
		l.nowMs(), partner, wallet, ref, storage.Millis(ledgerRetention))
	if err != nil {
		return 0, fmt.Errorf("ledger: debit credit: %w", err)
	}
	if code != "ok" {
		return 0, errFromCode(code, payload)
	}
	left, ok := payload[0].(int64)
	if !ok {
		return 0, fmt.Errorf("ledger: debit credit: unexpected reply %v", payload)
	}
	return left, nil
}

// Refund gives back the credit ref debited from (partner, wallet). It acts at most once per ref
// (a repeat is a no-op) and only for a ref that was debited there (ErrNoDebit otherwise).
func (l *Ledger) Refund(ctx context.Context, partner, wallet, ref string) error {
	if err := checkRef(wallet, ref); err != nil {
		return err
	}
	code, payload, err := l.run(ctx, luaRefund, l.creditKeys(partner, wallet, ref),
		l.nowMs(), partner, wallet, ref)
	if err != nil {
		return fmt.Errorf("ledger: refund credit: %w", err)
	}
	if code != "ok" {
		return errFromCode(code, payload)
	}
	return nil
}

func (l *Ledger) creditKeys(partner, wallet, ref string) []string {
	return []string{l.keys.LedgerEvents(), l.keys.LedgerBalance(partner, wallet), l.keys.LedgerDebit(partner, wallet, ref)}
}

func checkRef(wallet, ref string) error {
	if wallet == "" {
		return fmt.Errorf("%w: credits need a wallet", ErrLedgerInput)
	}
	if ref == "" || len(ref) > maxLedgerID {
		return fmt.Errorf("%w: ref must have 1 to %d bytes", ErrLedgerInput, maxLedgerID)
	}
	return nil
}

// Balance returns the prepaid credits of (partner, wallet); a zero balance when there are none.
func (l *Ledger) Balance(ctx context.Context, partner, wallet string) (Balance, error) {
	b := Balance{Partner: partner, Wallet: wallet}
	v, err := l.rdb.HMGet(ctx, l.keys.LedgerBalance(partner, wallet), "credits", "updated").Result()
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: balance: %w", err)
	}
	if s, ok := v[0].(string); ok {
		if b.Credits, err = strconv.ParseInt(s, 10, 64); err != nil {
			return Balance{}, fmt.Errorf("ledger: balance credits %q: %w", s, err)
		}
	}
	if s, ok := v[1].(string); ok {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Balance{}, fmt.Errorf("ledger: balance updated %q: %w", s, err)
		}
		b.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	return b, nil
}
