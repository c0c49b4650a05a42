// Package ledger is the money state of pay-per-call in Redis: it persists the payment domain's
// invoices (payments.Invoice, the statuses, the refusals with a public code), the transactions that
// paid them, prepaid credit balances and the append-only stream of every money event.
//
// It imports payments, never the reverse: the domain defines what an invoice is and which refusals
// callers see, the ledger keeps them. Its Redis keys are built with the others in storage/keys.go
// (every key of the service in one place, under one prefix); storage itself knows no domain.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// Balance is a (partner, wallet) prepaid credit balance.
type Balance struct {
	Partner   string    `json:"partner"`
	Wallet    string    `json:"wallet"`
	Credits   int64     `json:"credits"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Ledger errors. The refusals with a public payment code (unknown, expired or consumed invoice, route
// mismatch, used payment) are the payments package's sentinels (payments.ErrInvoiceNotFound, …);
// these are the ledger's own. The messages of the first seven are codes a caller may see.
var (
	ErrInvoiceBusy  = errors.New("invoice_in_use") // another request is running on this paid invoice
	ErrNotConfirmed = errors.New("invoice_not_confirmed")
	ErrNoCredits    = errors.New("insufficient_credits")
	// ErrAmountsTaken: every unique amount of the invoice's range is held by an open invoice to the
	// same (PayTo, Asset); nothing was opened. Retry after a while (amounts free up as invoices expire).
	ErrAmountsTaken = errors.New("invoice_amounts_exhausted")
	// ErrInvoicePaid: Submitted or Confirm with a transaction other than the one that paid the
	// invoice already. The other transaction stays unclaimed.
	ErrInvoicePaid = errors.New("invoice_already_paid")
	// ErrLeaseLost: Consume or Release by a token that does not hold the invoice (released, taken
	// over after its lease ran out, or never reserved).
	ErrLeaseLost = errors.New("invoice_lease_lost")
	// ErrCreditRefUsed: Debit with a ref that was debited before (refs are single-use, so a
	// replayed ref never runs a second call on one credit).
	ErrCreditRefUsed = errors.New("credit_ref_used")
	// ErrNoDebit: Refund of a ref that this (partner, wallet) never debited (or whose record
	// passed its retention).
	ErrNoDebit = errors.New("ledger: no debit for this ref")
	// ErrInvoiceExists: Open with an id that is taken.
	ErrInvoiceExists = errors.New("ledger: invoice id exists")
	// ErrLedgerInput wraps every argument the ledger refuses before asking Redis.
	ErrLedgerInput = errors.New("ledger: invalid ledger input")
)

// ledgerRetention is how long settled records stay: an invoice after its paid call, a debit record
// after its debit. Paid, unused invoices, tx claims and balances stay forever.
const ledgerRetention = 30 * 24 * time.Hour

// unpaidGrace is how long an invoice never paid outlives its payment window: long enough for a
// transaction included just before the expiry to gather its confirmations (a block every ~20 s;
// a minute per confirmation allows for slow blocks) and for its payer to retry within the hour,
// short enough that a flood of invoices leaves nothing behind. Confirm makes a paid invoice
// permanent.
func unpaidGrace(minConfirmations int) time.Duration {
	return time.Hour + time.Duration(minConfirmations)*time.Minute
}

// maxLedgerID bounds invoice ids, refs and error codes: they are ours, but may come back from
// clients (X-Invoice-Id).
const maxLedgerID = 256

// Ledger is the money state of pay-per-call: invoices, the transactions that paid them, prepaid
// credit balances, and the append-only stream of every money event (Replay folds it back into
// state). Each change is one Lua script (lua.go), so it is atomic across api and worker
// replicas and its event can never be missing or extra.
type Ledger struct {
	rdb  redis.UniversalClient
	keys storage.Keys
	now  func() time.Time
}

// New returns a ledger. now is the clock for expiry and leases (nil: time.Now).
func New(rdb redis.UniversalClient, keys storage.Keys, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{rdb: rdb, keys: keys, now: now}
}

func (l *Ledger) nowMs() int64 { return l.now().UnixMilli() }

// Get returns the invoice with its current status (pending past ExpiresAt reads as expired).
func (l *Ledger) Get(ctx context.Context, id string) (payments.Invoice, error) {
	if id == "" || len(id) > maxLedgerID {
		return payments.Invoice{}, payments.ErrInvoiceNotFound
	}
	h, err := l.rdb.HGetAll(ctx, l.keys.LedgerInvoice(id)).Result()
	if err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: get invoice: %w", err)
	}
	if len(h) == 0 {
		return payments.Invoice{}, payments.ErrInvoiceNotFound
	}
	return l.decodeInvoice(h)
}

// decodeInvoice rebuilds an Invoice from its hash, with the status callers see.
func (l *Ledger) decodeInvoice(h map[string]string) (payments.Invoice, error) {
	var inv payments.Invoice
	if err := json.Unmarshal([]byte(h["doc"]), &inv); err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: invoice %.64q: %w", h["id"], err)
	}
	expires, err := strconv.ParseInt(h["expires"], 10, 64)
	if err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: invoice %.64q: expires: %w", h["id"], err)
	}
	if err := uniqueAmount(&inv, h["amount"]); err != nil {
		return payments.Invoice{}, fmt.Errorf("ledger: invoice %.64q: %w", h["id"], err)
	}
	inv.Status = publicStatus(h["status"], expires, l.nowMs())
	inv.TxHash, inv.Error, inv.Payer = h["tx"], h["error"], h["payer"]
	if s := h["settled"]; s != "" {
		if inv.SettledAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return payments.Invoice{}, fmt.Errorf("ledger: invoice %.64q: settled: %w", h["id"], err)
		}
	}
	return inv, nil
}

// uniqueAmount sets the amount Open drew (the document holds the amount before it). Lovelace
// mirrors AmountUnits on ADA invoices, so it follows.
func uniqueAmount(inv *payments.Invoice, field string) error {
	if inv.AmountOffsets == 0 || field == "" {
		return nil
	}
	amount, err := strconv.ParseUint(field, 10, 64)
	if err != nil {
		return fmt.Errorf("amount: %w", err)
	}
	if inv.Lovelace == inv.AmountUnits && inv.Lovelace != 0 {
		inv.Lovelace = amount
	}
	inv.AmountUnits = amount
	return nil
}

// publicStatus hides the internal "inuse" (a confirmed invoice whose paid call runs) and reads an
// unpaid invoice past its expiry as expired.
func publicStatus(status string, expiresMs, nowMs int64) string {
	switch {
	case status == statusInUse:
		return payments.InvoiceConfirmed
	case status == payments.InvoicePending && nowMs >= expiresMs:
		return payments.InvoiceExpired
	}
	return status
}

// statusInUse is the internal status of a reserved confirmed invoice.
const statusInUse = "inuse"

// run runs a ledger script and splits its reply into the code and the rest.
func (l *Ledger) run(ctx context.Context, s *redis.Script, keys []string, args ...any) (string, []any, error) {
	res, err := s.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return "", nil, err
	}
	if len(res) == 0 {
		return "", nil, fmt.Errorf("empty reply")
	}
	code, ok := res[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("unexpected reply %v", res)
	}
	return code, res[1:], nil
}

// invoiceReply turns a script's reply into the invoice, or the error its code names.
func (l *Ledger) invoiceReply(code string, payload []any) (payments.Invoice, error) {
	if code != "ok" && code != "reused" {
		return payments.Invoice{}, errFromCode(code, payload)
	}
	if len(payload) != 1 {
		return payments.Invoice{}, fmt.Errorf("ledger: ledger reply without the invoice")
	}
	flat, ok := payload[0].([]any)
	if !ok || len(flat)%2 != 0 {
		return payments.Invoice{}, fmt.Errorf("ledger: ledger reply: malformed invoice %v", payload[0])
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		v, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return payments.Invoice{}, fmt.Errorf("ledger: ledger reply: malformed invoice field %v", flat[i])
		}
		h[k] = v
	}
	return l.decodeInvoice(h)
}

// errFromCode maps a script's refusal to its error.
func errFromCode(code string, payload []any) error {
	switch code {
	case "not_found":
		return payments.ErrInvoiceNotFound
	case "expired":
		return payments.ErrInvoiceExpired
	case "consumed":
		return payments.ErrInvoiceConsumed
	case "busy":
		return ErrInvoiceBusy
	case "route":
		return payments.ErrRouteMismatch
	case "not_confirmed":
		return ErrNotConfirmed
	case "tx_used":
		return payments.ErrPaymentUsed
	case "no_credits":
		return ErrNoCredits
	case "paid":
		return ErrInvoicePaid
	case "lease_lost":
		return ErrLeaseLost
	case "ref_used":
		return ErrCreditRefUsed
	case "no_debit":
		return ErrNoDebit
	case "exists":
		return ErrInvoiceExists
	case "amounts":
		return ErrAmountsTaken
	}
	// "mismatch", "bad_state": the stored record contradicts itself or this code.
	return fmt.Errorf("ledger: ledger refused: %s %v", code, payload)
}
