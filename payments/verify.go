package payments

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

// ChainTx is a neutral view of a transaction, built from Blockfrost's answers (a transaction in
// a block) or from a signed transaction (FromSigned, not yet in a block).
type ChainTx struct {
	Hash          string
	InBlock       bool
	BlockHeight   int64
	BlockTime     time.Time
	ValidContract bool // false: phase-2 validation failed; none of the regular outputs exist
	Outputs       []ChainOutput
	Memo          []string // CIP-20 (label 674) "msg" lines
	// Inputs are the addresses of the outputs the transaction spends (not collateral, not
	// reference inputs), in the chain's order: who paid (see PayerCredential).
	Inputs []string
}

// ChainOutput is one output. Collateral marks a collateral return, which exists only when the
// scripts failed and never counts as a payment.
type ChainOutput struct {
	Address    []byte // raw address bytes: addresses are compared as bytes, not text
	Lovelace   uint64
	Assets     map[string]uint64 // unit (policy id hex + asset name hex, lower case) → quantity
	Collateral bool
}

// Tip is the chain's latest block.
type Tip struct {
	Height int64
	Slot   uint64
	Time   time.Time
}

// FromSigned is the view of a decoded signed transaction (not in a block).
func FromSigned(tx *cardano.Tx) ChainTx {
	c := ChainTx{Hash: tx.IDHex(), ValidContract: tx.IsValid, Memo: tx.Memo}
	add := func(o cardano.Output, collateral bool) {
		out := ChainOutput{Address: o.Address.Raw, Lovelace: o.Lovelace, Collateral: collateral}
		for policy, names := range o.Assets {
			for name, q := range names {
				if out.Assets == nil {
					out.Assets = map[string]uint64{}
				}
				out.Assets[policy+name] = q
			}
		}
		c.Outputs = append(c.Outputs, out)
	}
	for _, o := range tx.Outputs {
		add(o, false)
	}
	if tx.CollateralReturn != nil {
		add(*tx.CollateralReturn, true)
	}
	return c
}

// VerifyTx checks a transaction on chain against an invoice. It returns nil when the payment is
// complete and confirmed, an error wrapping ErrPending when it may still become so (not in a
// block yet, too few confirmations), and an *Error with the code when it never will.
//
// The checks, in order: in a block (else pending, or expired once the tip passed the expiry);
// included no earlier than the invoice's creation (to the second: block times are whole seconds)
// and no later than its expiry; scripts valid; outputs; memo; confirmations.
func VerifyTx(inv Invoice, tx ChainTx, tip Tip) error {
	// A transaction we checked and submitted before the expiry was paid in time, whenever the
	// chain includes it (its validity interval may outlast the invoice): refusing it then would
	// keep the payer's money, which no other invoice can take.
	submitted := inv.Status == InvoiceSubmitted && strings.EqualFold(inv.TxHash, tx.Hash)
	if !tx.InBlock {
		if tip.Time.After(inv.ExpiresAt) && !submitted {
			return refuse(CodeInvoiceExpired, "the invoice expired at %s and transaction %s is not in a block", stamp(inv.ExpiresAt), tx.Hash)
		}
		return notYet("transaction %s is not in a block yet", tx.Hash)
	}
	if tx.BlockTime.Before(inv.CreatedAt.Truncate(time.Second)) {
		return refuse(CodeTooEarly, "transaction %s was included at %s, before the invoice was created (%s)", tx.Hash, stamp(tx.BlockTime), stamp(inv.CreatedAt))
	}
	if tx.BlockTime.After(inv.ExpiresAt) && !submitted {
		return refuse(CodeInvoiceExpired, "transaction %s was included at %s, after the invoice expired (%s)", tx.Hash, stamp(tx.BlockTime), stamp(inv.ExpiresAt))
	}
	if !tx.ValidContract {
		return refuse(CodeInvalidContract, "transaction %s failed script validation: only its collateral moved", tx.Hash)
	}
	if err := checkPaid(inv, tx.Outputs); err != nil {
		return err
	}
	if err := checkMemo(inv, tx.Memo); err != nil {
		return err
	}
	if conf := tip.Height - tx.BlockHeight + 1; conf < int64(inv.MinConfirmations) {
		return notYet("transaction %s has %d of %d confirmations", tx.Hash, max(conf, 0), inv.MinConfirmations)
	}
	return nil
}

// VerifySigned checks a caller's signed transaction before it is submitted: the invoice is still
// open, the network id matches, the validity interval contains currentSlot (so the node will
// take it now), the scripts are not declared failed, and outputs and memo pay the invoice.
func VerifySigned(inv Invoice, tx *cardano.Tx, now time.Time, currentSlot uint64) error {
	if now.After(inv.ExpiresAt) {
		return refuse(CodeInvoiceExpired, "the invoice expired at %s", stamp(inv.ExpiresAt))
	}
	want := uint64(cardano.Network(inv.Network).AddressNetwork())
	if tx.NetworkID != nil && *tx.NetworkID != want {
		return refuse(CodePaymentRejected, "the transaction's network id is %d, %s needs %d", *tx.NetworkID, inv.Network, want)
	}
	if tx.ValidityStart != nil && *tx.ValidityStart > currentSlot {
		return refuse(CodePaymentRejected, "the transaction is valid only from slot %d; the current slot is %d", *tx.ValidityStart, currentSlot)
	}
	if tx.TTL != nil && *tx.TTL <= currentSlot {
		return refuse(CodePaymentRejected, "the transaction's validity ended at slot %d; the current slot is %d", *tx.TTL, currentSlot)
	}
	if !tx.IsValid {
		return refuse(CodeInvalidContract, "the transaction declares its scripts failed (is_valid false)")
	}
	view := FromSigned(tx)
	if err := checkPaid(inv, view.Outputs); err != nil {
		return err
	}
	return checkMemo(inv, view.Memo)
}

// checkPaid checks that pay_to and every revenue-share address receive exactly their amounts.
func checkPaid(inv Invoice, outs []ChainOutput) error {
	unit := inv.Asset
	if unit == AssetADA {
		unit = "lovelace"
	}
	if err := checkOutput(outs, inv.PayTo, "pay_to", unit, inv.AmountUnits); err != nil {
		return err
	}
	if inv.Asset != AssetADA && inv.Lovelace > 0 {
		if err := checkOutput(outs, inv.PayTo, "pay_to", "lovelace", inv.Lovelace); err != nil {
			return err
		}
	}
	for i, o := range inv.Outputs {
		if err := checkOutput(outs, o.Address, fmt.Sprintf("revenue share %d", i), unit, o.AmountUnits); err != nil {
			return err
		}
	}
	return nil
}

// checkOutput requires the non-collateral outputs at address to carry exactly due of unit: the
// amount is what binds a payment to its invoice (no two open invoices to one address ask for
// the same one), so a payment of another amount pays another invoice, or none.
func checkOutput(outs []ChainOutput, address, role, unit string, due uint64) error {
	addr, err := cardano.ParseAddress(address)
	if err != nil {
		return fmt.Errorf("payments: invoice %s address %q: %w", role, address, err) // the invoice is ours: a bug
	}
	paid, over := paidTo(outs, addr.Raw, unit)
	switch {
	case paid == due && !over:
		return nil
	case paid == 0:
		return refuse(CodeOutputMissing, "no output pays %s %s %s", role, short(address), unitName(unit))
	case paid < due && !over:
		return refuse(CodeAmountInsufficient, "%s %s received %d of %d %s", role, short(address), paid, due, unitName(unit))
	default:
		return refuse(CodeAmountMismatch, "%s %s received more than the %d %s the invoice asks for: the amount must be exact", role, short(address), due, unitName(unit))
	}
}

// paidTo sums unit over the non-collateral outputs at addr; over reports a sum past 64 bits.
func paidTo(outs []ChainOutput, addr []byte, unit string) (sum uint64, over bool) {
	for _, o := range outs {
		if o.Collateral || !bytes.Equal(o.Address, addr) {
			continue
		}
		q := o.Lovelace
		if unit != "lovelace" {
			q = o.Assets[unit]
		}
		if sum > math.MaxUint64-q {
			return math.MaxUint64, true
		}
		sum += q
	}
	return sum, false
}

// checkMemo requires the invoice's memo as a whole word of the CIP-20 message. Lines are also
// read joined without a separator, because CIP-20 splits strings longer than 64 bytes.
func checkMemo(inv Invoice, lines []string) error {
	if inv.Memo == "" {
		return nil
	}
	if len(lines) == 0 {
		return refuse(CodeMemoMissing, "the transaction carries no CIP-20 message (label 674); it must contain %s", inv.Memo)
	}
	for _, text := range []string{strings.Join(lines, " "), strings.Join(lines, "")} {
		for _, w := range strings.FieldsFunc(text, notWordRune) {
			if w == inv.Memo {
				return nil
			}
		}
	}
	return refuse(CodeMemoMissing, "the CIP-20 message does not contain %s", inv.Memo)
}

func notWordRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
}

func unitName(unit string) string {
	if unit == "lovelace" {
		return "lovelace"
	}
	return "units of " + short(unit)
}

func short(s string) string { return abbrev(s, 20) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
