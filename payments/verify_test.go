package payments_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/payments"
)

const pending = "pending" // a wanted outcome of VerifyTx: ErrPending

// verifyBase is an invoice and a transaction that pays it, in a block with two confirmations.
func verifyBase(t *testing.T) (payments.Invoice, payments.ChainTx, payments.Tip) {
	shop, partner := addr(t, cardano.Mainnet, 101), addr(t, cardano.Mainnet, 2)
	inv := payments.Invoice{ID: "inv_x", Route: "/chat", Network: "mainnet", Asset: "ADA", Decimals: 6,
		AmountUnits: 2_000_000, Lovelace: 2_000_000, PayTo: shop, Memo: "inv_x", MinConfirmations: 2,
		Outputs:   []payments.InvoiceOutput{{Address: partner, AmountUnits: 1_000_000}},
		CreatedAt: created.Add(500 * time.Millisecond), ExpiresAt: created.Add(300 * time.Second), Status: payments.InvoicePending}
	tx := payments.ChainTx{Hash: strings.Repeat("ab", 32), InBlock: true, BlockHeight: 100, BlockTime: created.Add(20 * time.Second),
		ValidContract: true, Memo: []string{"inv_x"}, Outputs: []payments.ChainOutput{
			{Address: rawAddr(t, shop), Lovelace: 2_000_000},
			{Address: rawAddr(t, partner), Lovelace: 1_000_000},
			{Address: rawAddr(t, addr(t, cardano.Mainnet, 50)), Lovelace: 9_000_000},
		}}
	return inv, tx, payments.Tip{Height: 101, Slot: 1000, Time: created.Add(40 * time.Second)}
}

func TestVerifyTx(t *testing.T) {
	shop := addr(t, cardano.Mainnet, 101)
	unit := strings.Repeat("cd", 28) + "01"
	cases := []struct {
		name   string
		change func(*payments.Invoice, *payments.ChainTx, *payments.Tip)
		want   string // "" ok, pending, or a code
	}{
		{"paid", nil, ""},
		{"not in a block", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.InBlock = false }, pending},
		{"not in a block and expired", func(inv *payments.Invoice, tx *payments.ChainTx, tip *payments.Tip) {
			tx.InBlock, tip.Time = false, inv.ExpiresAt.Add(time.Second)
		}, payments.CodeInvoiceExpired},
		{"one confirmation of two", func(_ *payments.Invoice, _ *payments.ChainTx, tip *payments.Tip) { tip.Height = 100 }, pending},
		{"tip behind the block", func(_ *payments.Invoice, _ *payments.ChainTx, tip *payments.Tip) { tip.Height = 90 }, pending},
		{"before the invoice", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.BlockTime = inv.CreatedAt.Add(-time.Second)
		}, payments.CodeTooEarly},
		{"same second as the invoice", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.BlockTime = inv.CreatedAt.Truncate(time.Second)
		}, ""},
		{"after the expiry", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.BlockTime = inv.ExpiresAt.Add(time.Second)
		}, payments.CodeInvoiceExpired},
		{"at the expiry", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.BlockTime = inv.ExpiresAt }, ""},
		{"we submitted it in time; the chain took it after the expiry", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Status, inv.TxHash, tx.BlockTime = payments.InvoiceSubmitted, tx.Hash, inv.ExpiresAt.Add(time.Hour)
		}, ""},
		{"another tx than the one we submitted, after the expiry", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Status, inv.TxHash, tx.BlockTime = payments.InvoiceSubmitted, strings.Repeat("cd", 32), inv.ExpiresAt.Add(time.Hour)
		}, payments.CodeInvoiceExpired},
		{"scripts failed", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.ValidContract = false }, payments.CodeInvalidContract},
		{"short by one", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Outputs[0].Lovelace-- }, payments.CodeAmountInsufficient},
		{"split over two outputs", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.Outputs[0].Lovelace = 1_500_000
			tx.Outputs = append(tx.Outputs, payments.ChainOutput{Address: tx.Outputs[0].Address, Lovelace: 500_000})
		}, ""},
		{"nothing to pay_to", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Outputs = tx.Outputs[1:] }, payments.CodeOutputMissing},
		{"pay_to only as collateral return", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.Outputs[0].Collateral = true
		}, payments.CodeOutputMissing},
		{"collateral return does not top up", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.Outputs[0].Lovelace = 1_000_000
			tx.Outputs = append(tx.Outputs, payments.ChainOutput{Address: tx.Outputs[0].Address, Lovelace: 5_000_000, Collateral: true})
		}, payments.CodeAmountInsufficient},
		{"same payment key, other stake key", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			other := slices.Clone(tx.Outputs[0].Address)
			other[len(other)-1] ^= 1
			tx.Outputs[0].Address = other
		}, payments.CodeOutputMissing},
		{"pay_to written in capitals", func(inv *payments.Invoice, _ *payments.ChainTx, _ *payments.Tip) {
			inv.PayTo = strings.ToUpper(inv.PayTo)
		}, ""},
		{"revenue share missing", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.Outputs = slices.Delete(tx.Outputs, 1, 2)
		}, payments.CodeOutputMissing},
		{"revenue share short", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Outputs[1].Lovelace-- }, payments.CodeAmountInsufficient},
		{"no memo", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Memo = nil }, payments.CodeMemoMissing},
		{"memo names another invoice", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Memo = []string{"inv_xy"} }, payments.CodeMemoMissing},
		{"memo in a sentence", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			tx.Memo = []string{"T API", "payment for inv_x, thanks"}
		}, ""},
		{"memo split over CIP-20 lines", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Memo = []string{"in", "v_x"} }, ""},
		{"no memo required", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { inv.Memo, tx.Memo = "", nil }, ""},
		{"native asset paid", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Asset, inv.Lovelace, inv.AmountUnits, inv.Outputs = unit, 0, 7, nil
			tx.Outputs[0].Lovelace, tx.Outputs[0].Assets = 1_200_000, map[string]uint64{unit: 7}
		}, ""},
		{"native asset: lovelace is no substitute", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Asset, inv.Lovelace, inv.AmountUnits, inv.Outputs = unit, 0, 7, nil
			tx.Outputs[0].Lovelace = 100_000_000
		}, payments.CodeOutputMissing},
		{"native asset short", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Asset, inv.Lovelace, inv.AmountUnits, inv.Outputs = unit, 0, 7, nil
			tx.Outputs[0].Assets = map[string]uint64{unit: 6, strings.Repeat("cd", 28) + "02": 100}
		}, payments.CodeAmountInsufficient},
		{"huge outputs do not wrap around", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.AmountUnits, inv.Lovelace = math.MaxUint64, math.MaxUint64
			tx.Outputs[0].Lovelace = math.MaxUint64
			tx.Outputs = append(tx.Outputs, payments.ChainOutput{Address: rawAddr(t, shop), Lovelace: 2})
		}, payments.CodeAmountMismatch},
		{"the maximum, exactly", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.AmountUnits, inv.Lovelace = math.MaxUint64, math.MaxUint64
			tx.Outputs[0].Lovelace = math.MaxUint64
		}, ""},
		// The amount binds the payment to its invoice: paying another open invoice's amount (more,
		// or less) pays that one, not this one.
		{"over by one", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Outputs[0].Lovelace++ }, payments.CodeAmountMismatch},
		{"revenue share over by one", func(_ *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) { tx.Outputs[1].Lovelace++ }, payments.CodeAmountMismatch},
		{"native asset over", func(inv *payments.Invoice, tx *payments.ChainTx, _ *payments.Tip) {
			inv.Asset, inv.Lovelace, inv.AmountUnits, inv.Outputs = unit, 0, 7, nil
			tx.Outputs[0].Lovelace, tx.Outputs[0].Assets = 1_200_000, map[string]uint64{unit: 8}
		}, payments.CodeAmountMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, tx, tip := verifyBase(t)
			if c.change != nil {
				c.change(&inv, &tx, &tip)
			}
			checkOutcome(t, payments.VerifyTx(inv, tx, tip), c.want)
		})
	}
}

func checkOutcome(t *testing.T, err error, want string) {
	t.Helper()
	switch want {
	case "":
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
	case pending:
		if !errors.Is(err, payments.ErrPending) || payments.Code(err) != "" {
			t.Fatalf("%v, want pending", err)
		}
	default:
		var pe *payments.Error
		if !errors.As(err, &pe) || pe.Code != want || pe.Detail == "" || errors.Is(err, payments.ErrPending) {
			t.Fatalf("%v, want %s", err, want)
		}
	}
}

// signedTx encodes a transaction paying the base invoice (as a wallet would) and decodes it.
func signedTx(t *testing.T, inv payments.Invoice, change func(*blockfrostemu.Signed)) *cardano.Tx {
	t.Helper()
	s := blockfrostemu.Signed{
		Outputs: []blockfrostemu.Output{{Address: inv.PayTo, Lovelace: inv.AmountUnits},
			{Address: inv.Outputs[0].Address, Lovelace: inv.Outputs[0].AmountUnits}},
		Metadata:  []blockfrostemu.Metadata{blockfrostemu.CIP20("pay " + inv.ID)},
		NetworkID: ptrTo(uint64(1)), InvalidBefore: blockfrostemu.Slot(900), InvalidHereafter: blockfrostemu.Slot(2000),
	}
	if change != nil {
		change(&s)
	}
	raw, err := blockfrostemu.EncodeTx(s)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := cardano.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestVerifySigned(t *testing.T) {
	cases := []struct {
		name   string
		change func(*blockfrostemu.Signed)
		now    time.Duration // after the invoice's creation
		slot   uint64
		want   string
	}{
		{"pays", nil, time.Minute, 1000, ""},
		{"no validity interval, no network id", func(s *blockfrostemu.Signed) {
			s.InvalidBefore, s.InvalidHereafter, s.NetworkID = nil, nil, nil
		}, time.Minute, 1000, ""},
		{"invoice expired", nil, 301 * time.Second, 1000, payments.CodeInvoiceExpired},
		{"testnet network id", func(s *blockfrostemu.Signed) { s.NetworkID = ptrTo(uint64(0)) }, time.Minute, 1000, payments.CodePaymentRejected},
		{"valid only from a later slot", nil, time.Minute, 899, payments.CodePaymentRejected},
		{"valid from this slot", nil, time.Minute, 900, ""},
		{"validity over", nil, time.Minute, 2000, payments.CodePaymentRejected},
		{"last valid slot", nil, time.Minute, 1999, ""},
		{"declares failed scripts", func(s *blockfrostemu.Signed) { s.Invalid = true }, time.Minute, 1000, payments.CodeInvalidContract},
		{"short", func(s *blockfrostemu.Signed) { s.Outputs[0].Lovelace-- }, time.Minute, 1000, payments.CodeAmountInsufficient},
		{"pay_to only as collateral return", func(s *blockfrostemu.Signed) {
			s.CollateralReturn = &s.Outputs[0]
			s.Outputs = s.Outputs[1:]
		}, time.Minute, 1000, payments.CodeOutputMissing},
		{"share missing", func(s *blockfrostemu.Signed) { s.Outputs = s.Outputs[:1] }, time.Minute, 1000, payments.CodeOutputMissing},
		{"no memo", func(s *blockfrostemu.Signed) { s.Metadata = nil }, time.Minute, 1000, payments.CodeMemoMissing},
		{"memo under another label", func(s *blockfrostemu.Signed) {
			s.Metadata = []blockfrostemu.Metadata{{Label: 675, JSON: map[string]any{"msg": []any{"inv_x"}}}}
		}, time.Minute, 1000, payments.CodeMemoMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, _, _ := verifyBase(t)
			tx := signedTx(t, inv, c.change)
			checkOutcome(t, payments.VerifySigned(inv, tx, inv.CreatedAt.Add(c.now), c.slot), c.want)
		})
	}
}

// The real transactions: ids are the stated ones and FromSigned shows their outputs as decoded
// by the fixture's independent decoder; a real one verifies against an invoice it pays.
func TestRealTransactions(t *testing.T) {
	for _, f := range loadFixtures(t) {
		raw, err := hex.DecodeString(f.CBORHex)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := cardano.DecodeTx(raw)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		view := payments.FromSigned(tx)
		want := f.TxIDComputed
		if f.TxID != nil {
			want = *f.TxID
		}
		if view.Hash != want {
			t.Fatalf("%s: id %s, want %s", f.Name, view.Hash, want)
		}
		var regular []payments.ChainOutput
		for _, o := range view.Outputs {
			if !o.Collateral {
				regular = append(regular, o)
			}
		}
		if len(regular) != len(f.Outputs) {
			t.Fatalf("%s: %d outputs, want %d", f.Name, len(regular), len(f.Outputs))
		}
		for i, o := range f.Outputs {
			a, err := cardano.AddressFromBytes(regular[i].Address)
			if err != nil || a.String() != o.Address || regular[i].Lovelace != o.Lovelace || len(regular[i].Assets) != len(o.Assets) {
				t.Fatalf("%s: output %d = %s %d %v, want %s %d", f.Name, i, a, regular[i].Lovelace, regular[i].Assets, o.Address, o.Lovelace)
			}
			for _, as := range o.Assets {
				if regular[i].Assets[as.Unit] != as.Quantity {
					t.Fatalf("%s: output %d asset %s = %d, want %d", f.Name, i, as.Unit, regular[i].Assets[as.Unit], as.Quantity)
				}
			}
		}
		if f.AuxiliaryData != nil && fmt.Sprint(view.Memo) != fmt.Sprint(f.AuxiliaryData.CIP20Msg) && len(f.AuxiliaryData.CIP20Msg) > 0 {
			t.Fatalf("%s: memo %q, want %q", f.Name, view.Memo, f.AuxiliaryData.CIP20Msg)
		}
	}
}

func TestRealTransactionVerifies(t *testing.T) {
	var f fixtureTx
	for _, fx := range loadFixtures(t) {
		if fx.Name == "babbage5_mainnet_cip20_674" {
			f = fx
		}
	}
	if f.Name == "" {
		t.Fatal("fixture babbage5_mainnet_cip20_674 is missing")
	}
	raw, _ := hex.DecodeString(f.CBORHex)
	tx, err := cardano.DecodeTx(raw)
	if err != nil || tx.TTL == nil {
		t.Fatalf("%v %+v", err, tx)
	}
	out := f.Outputs[0]
	// Its message is "Minswap: Withdraw liquidity": an invoice whose memo is "Minswap" is named.
	inv := payments.Invoice{ID: "Minswap", Network: "mainnet", Asset: "ADA", AmountUnits: out.Lovelace, Lovelace: out.Lovelace,
		PayTo: out.Address, Memo: "Minswap", CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
	slot := *tx.TTL - 1
	checkOutcome(t, payments.VerifySigned(inv, tx, created, slot), "")
	inv.AmountUnits++
	checkOutcome(t, payments.VerifySigned(inv, tx, created, slot), payments.CodeAmountInsufficient)
	inv.AmountUnits--
	checkOutcome(t, payments.VerifySigned(inv, tx, created, *tx.TTL), payments.CodePaymentRejected)
	inv.Memo = "Withdrawal"
	checkOutcome(t, payments.VerifySigned(inv, tx, created, slot), payments.CodeMemoMissing)
}

func TestCodes(t *testing.T) {
	// The ledger's errors are codes of the same list, with the same text.
	for err, code := range map[error]string{
		payments.ErrInvoiceNotFound: payments.CodeInvoiceUnknown,
		payments.ErrInvoiceExpired:  payments.CodeInvoiceExpired,
		payments.ErrInvoiceConsumed: payments.CodeInvoiceConsumed,
		payments.ErrRouteMismatch:   payments.CodeRouteMismatch,
		payments.ErrPaymentUsed:     payments.CodePaymentUsed,
	} {
		if got := payments.Code(fmt.Errorf("wrapped: %w", err)); got != code || err.Error() != code {
			t.Errorf("%v: code %q, want %q", err, got, code)
		}
		if payments.Message(err) == "" {
			t.Errorf("%v: no message", err)
		}
	}
	if payments.Code(errors.New("boom")) != "" || payments.Code(payments.ErrPending) != "" || payments.Code(nil) != "" {
		t.Error("a non-refusal has a code")
	}
	if payments.Message(errors.New("secret internals")) != "" {
		t.Error("an internal error leaks into the message")
	}
	inv, tx, tip := verifyBase(t)
	tip.Height = 100
	if err := payments.VerifyTx(inv, tx, tip); payments.Message(err) != "transaction "+tx.Hash+" has 1 of 2 confirmations" {
		t.Errorf("pending message %q", payments.Message(err))
	}
	want := []string{"invoice_unknown", "invoice_expired", "invoice_consumed", "invoice_route_mismatch", "invoice_request_mismatch", "payment_malformed",
		"payment_invalid_contract", "payment_amount_insufficient", "payment_amount_mismatch", "payment_output_missing", "payment_memo_missing",
		"payment_already_used", "payment_too_early", "payment_wallet_mismatch", "payment_rejected"}
	if !slices.Equal(payments.Codes, want) {
		t.Fatalf("codes %v", payments.Codes)
	}
}

func ptrTo[T any](v T) *T { return &v }
