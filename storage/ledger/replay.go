package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tbackend/tbackend/payments"
)

// State is the money state the ledger stream implies.
type State struct {
	Invoices  map[string]string // paid invoice id → confirmed or consumed (unpaid ones are no money)
	Balances  map[string]int64  // partner + "|" + wallet → credits
	ClaimedTx map[string]string // tx hash → the invoice it paid
}

// replayPage is how many events one XRANGE reads.
const replayPage = 1000

// Replay reads the whole ledger stream, oldest first, and folds it into the state it implies. It is
// the audit of the live state: both are written by the same atomic steps, so they must agree.
func (l *Ledger) Replay(ctx context.Context) (State, error) {
	st := State{Invoices: map[string]string{}, Balances: map[string]int64{}, ClaimedTx: map[string]string{}}
	start := "-"
	for {
		msgs, err := l.rdb.XRangeN(ctx, l.keys.LedgerEvents(), start, "+", replayPage).Result()
		if err != nil {
			return State{}, fmt.Errorf("ledger: replay ledger: %w", err)
		}
		for _, m := range msgs {
			if err := st.apply(m.Values); err != nil {
				return State{}, fmt.Errorf("ledger: replay ledger: event %s: %w", m.ID, err)
			}
		}
		if len(msgs) < replayPage {
			return st, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// apply folds one event into the state.
func (st *State) apply(ev map[string]any) error {
	field := func(name string) string { s, _ := ev[name].(string); return s }
	id, tx := field("invoice"), field("tx")
	switch kind := field("type"); kind {
	case "tx_claimed":
		if owner, ok := st.ClaimedTx[tx]; ok && owner != id {
			return fmt.Errorf("tx %s claimed by %s and %s", tx, owner, id)
		}
		st.ClaimedTx[tx] = id
	case "confirmed", "reserved", "released":
		st.Invoices[id] = payments.InvoiceConfirmed
	case "consumed":
		st.Invoices[id] = payments.InvoiceConsumed
	case "invoice_created", "submitted":
		// Written before unpaid invoices stopped being ledger events: no money moved.
	case "credited", "debited", "refunded", "spent":
	default:
		return fmt.Errorf("unknown type %q", kind)
	}
	if s := field("credits"); s != "" {
		delta, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("credits %q: %w", s, err)
		}
		key := field("partner") + "|" + field("wallet")
		st.Balances[key] += delta
		if st.Balances[key] < 0 {
			return fmt.Errorf("balance %s below zero", key)
		}
	}
	return nil
}
