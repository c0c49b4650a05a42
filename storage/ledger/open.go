package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// Open stores a new pending invoice (inv.ID set by the caller, unique; Status, TxHash, SettledAt
// and Error are ignored; CreatedAt defaults to now). When inv.RequestKey is set and a pending,
// unexpired invoice with the same RequestKey exists, it returns that one and reused=true instead:
// concurrent Opens of one request give one invoice.
func (l *Ledger) Open(ctx context.Context, inv payments.Invoice) (out payments.Invoice, reused bool, err error) {
	now := l.now()
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = now
	}
	inv.Status, inv.TxHash, inv.SettledAt, inv.Error = payments.InvoicePending, "", time.Time{}, ""
	if err := checkNewInvoice(inv, now); err != nil {
		return payments.Invoice{}, false, err
	}
	fields, err := invoiceFields(inv)
	if err != nil {
		return payments.Invoice{}, false, err
	}
	// The index may move between our read and the script (another Open, or its expiry); the script
	// then says "retry". Each retry means another caller made progress, so a few suffice.
	for range 8 {
		keys, args, err := l.openArgs(ctx, inv, now, fields)
		if err != nil {
			return payments.Invoice{}, false, err
		}
		code, payload, err := l.run(ctx, luaOpen, keys, args...)
		if err != nil {
			return payments.Invoice{}, false, fmt.Errorf("ledger: open invoice: %w", err)
		}
		if code == "retry" {
			continue
		}
		out, err := l.invoiceReply(code, payload)
		return out, code == "reused", err
	}
	return payments.Invoice{}, false, fmt.Errorf("ledger: open invoice: request index kept moving")
}

// amountGrace is how long an invoice's unique amount stays taken after the invoice expires: a
// payment sent at the last moment may still be on its way, and it must not match a newer invoice.
// (A payment included before an invoice was created never pays it: CodeTooEarly.)
const amountGrace = 5 * time.Minute

// maxAmountProbes bounds the free amounts one Open looks for, so a nearly full range costs Redis
// a bounded script. Starting at a random offset, 1024 taken ones in a row means the range is full
// in practice.
const maxAmountProbes = 1024

// openArgs reads which invoice the request index names now and builds luaOpen's arguments.
func (l *Ledger) openArgs(ctx context.Context, inv payments.Invoice, now time.Time, fields []any) ([]string, []any, error) {
	keys := []string{l.keys.LedgerEvents(), l.keys.LedgerInvoice(inv.ID), l.keys.LedgerAmounts(inv.PayTo, inv.Asset)}
	seen := ""
	if inv.RequestKey != "" {
		idx := l.keys.LedgerRequest(inv.RequestKey)
		cur, err := l.rdb.Get(ctx, idx).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, fmt.Errorf("ledger: open invoice: %w", err)
		}
		keys = append(keys, idx)
		if cur != "" {
			seen = cur
			keys = append(keys, l.keys.LedgerInvoice(cur))
		}
	}
	window := inv.ExpiresAt.Sub(now)
	var start uint64
	if inv.AmountOffsets > 0 {
		start = rand.Uint64N(inv.AmountOffsets)
	}
	args := append([]any{now.UnixMilli(), seen, storage.Millis(window + unpaidGrace(inv.MinConfirmations)), storage.Millis(window),
		strconv.FormatUint(inv.AmountOffsets, 10), start, inv.ExpiresAt.Add(amountGrace).UnixMilli(),
		strconv.FormatUint(inv.AmountUnits, 10), maxAmountProbes}, fields...)
	return keys, args, nil
}

// maxAmountOffsets bounds an invoice's range of unique amounts.
const maxAmountOffsets = 1_000_000

// checkNewInvoice refuses invoices the ledger could not keep its promises for.
func checkNewInvoice(inv payments.Invoice, now time.Time) error {
	switch {
	case inv.ID == "" || len(inv.ID) > maxLedgerID:
		return fmt.Errorf("%w: invoice id must have 1 to %d bytes", ErrLedgerInput, maxLedgerID)
	case inv.Route == "":
		return fmt.Errorf("%w: invoice without a route", ErrLedgerInput)
	case inv.BatchTarget < 0:
		return fmt.Errorf("%w: negative batch target", ErrLedgerInput)
	case inv.BatchTarget > 0 && inv.Wallet == "":
		return fmt.Errorf("%w: a batch invoice needs the wallet its credits go to", ErrLedgerInput)
	case !inv.ExpiresAt.After(now):
		return fmt.Errorf("%w: invoice expires at %s, not after now", ErrLedgerInput, inv.ExpiresAt)
	case inv.AmountOffsets > maxAmountOffsets || inv.AmountUnits > math.MaxUint64-inv.AmountOffsets:
		return fmt.Errorf("%w: amount %d with %d offsets", ErrLedgerInput, inv.AmountUnits, inv.AmountOffsets)
	case inv.AmountOffsets > 0 && inv.PayTo == "":
		return fmt.Errorf("%w: a unique amount needs the address it is unique at", ErrLedgerInput)
	}
	return nil
}

// invoiceFields is the invoice hash of a new invoice (see lua.go), as HSET arguments.
func invoiceFields(inv payments.Invoice) ([]any, error) {
	doc, err := json.Marshal(inv)
	if err != nil {
		return nil, fmt.Errorf("ledger: open invoice: %w", err)
	}
	return []any{
		"id", inv.ID, "doc", doc, "status", payments.InvoicePending, "route", inv.Route,
		"partner", inv.Partner, "wallet", inv.Wallet, "batch", inv.BatchTarget,
		"expires", inv.ExpiresAt.UnixMilli(), "amount", strconv.FormatUint(inv.AmountUnits, 10),
		"asset", inv.Asset, "tx", "", "settled", "", "error", "", "token", "", "lease", 0,
	}, nil
}
