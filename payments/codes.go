package payments

import (
	"errors"
	"fmt"
)

// Stable error codes of a refused payment, as callers see them in a 402's detail.error. The
// invoice_* codes and payment_already_used are also the messages of the ledger's refusals (below).
const (
	CodeInvoiceUnknown     = "invoice_unknown"          // no such invoice
	CodeInvoiceExpired     = "invoice_expired"          // the timeout passed (or the payment landed after it)
	CodeInvoiceConsumed    = "invoice_consumed"         // the paid request already ran
	CodeRouteMismatch      = "invoice_route_mismatch"   // the invoice is for another route
	CodeRequestMismatch    = "invoice_request_mismatch" // the invoice is for other priced parameters of the route
	CodePaymentMalformed   = "payment_malformed"        // X-Payment is not a tx hash, signed CBOR or {"txHash": …}
	CodeInvalidContract    = "payment_invalid_contract"
	CodeAmountInsufficient = "payment_amount_insufficient" // an output is there but too small
	CodeAmountMismatch     = "payment_amount_mismatch"     // an output pays more than asked: amounts must be exact
	CodeOutputMissing      = "payment_output_missing"      // nothing paid to pay_to or to a revenue-share address
	CodeMemoMissing        = "payment_memo_missing"        // no CIP-20 message with the invoice's memo
	CodePaymentUsed        = "payment_already_used"        // the transaction already paid another invoice
	CodeTooEarly           = "payment_too_early"           // the transaction is older than the invoice
	CodeWalletMismatch     = "payment_wallet_mismatch"     // a prepaid batch paid from another wallet than the one it credits
	// CodePaymentRejected: the network will not (or did not) take the signed transaction: wrong
	// network id, a validity interval that excludes the current slot, or the node refused it
	// (spent inputs, fees, signatures). Not in issue 7's list, which has no code for this.
	CodePaymentRejected = "payment_rejected"
)

// The ledger's refusals that carry a public code: storage/ledger returns these, and Code maps them
// back. They live here, with the codes they are, so the domain never imports its persistence.
var (
	ErrInvoiceNotFound = errors.New(CodeInvoiceUnknown)
	ErrInvoiceExpired  = errors.New(CodeInvoiceExpired)
	ErrInvoiceConsumed = errors.New(CodeInvoiceConsumed)
	ErrRouteMismatch   = errors.New(CodeRouteMismatch)
	ErrPaymentUsed     = errors.New(CodePaymentUsed)
)

// Codes lists every code, for documentation and tests.
var Codes = []string{CodeInvoiceUnknown, CodeInvoiceExpired, CodeInvoiceConsumed, CodeRouteMismatch, CodeRequestMismatch,
	CodePaymentMalformed, CodeInvalidContract, CodeAmountInsufficient, CodeAmountMismatch, CodeOutputMissing, CodeMemoMissing,
	CodePaymentUsed, CodeTooEarly, CodeWalletMismatch, CodePaymentRejected}

// Error is a refused payment: Code is public, Detail explains it (safe to show; it names only
// amounts, addresses and slots of the caller's own transaction).
type Error struct {
	Code   string
	Detail string
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// ErrPending means "not yet": the transaction is not in a block, or has fewer confirmations
// than the invoice asks for. VerifyTx returns it as a *Pending with the detail.
var ErrPending = errors.New("payments: payment not confirmed yet")

// Pending is a payment that may still complete; errors.Is(p, ErrPending) holds.
type Pending struct{ Detail string }

func (p *Pending) Error() string        { return ErrPending.Error() + ": " + p.Detail }
func (p *Pending) Is(target error) bool { return target == ErrPending }

func notYet(format string, args ...any) *Pending {
	return &Pending{Detail: fmt.Sprintf(format, args...)}
}

// codeText explains each code where no detail is at hand (the ledger's refusals).
var codeText = map[string]string{
	CodeInvoiceUnknown:     "no such invoice",
	CodeInvoiceExpired:     "the invoice expired",
	CodeInvoiceConsumed:    "the invoice was used already",
	CodeRouteMismatch:      "the invoice is for another route",
	CodeRequestMismatch:    "the invoice is for other priced parameters of this route",
	CodePaymentMalformed:   "X-Payment is not a transaction hash, a signed transaction or {\"txHash\": …}",
	CodeInvalidContract:    "the transaction's scripts failed",
	CodeAmountInsufficient: "an output pays less than the invoice asks",
	CodeAmountMismatch:     "an output pays more than the invoice asks; amounts must be exact",
	CodeOutputMissing:      "an output the invoice asks for is missing",
	CodeMemoMissing:        "the transaction's CIP-20 message does not carry the invoice's memo",
	CodePaymentUsed:        "the transaction already paid another invoice",
	CodeTooEarly:           "the transaction is older than the invoice",
	CodeWalletMismatch:     "a prepaid batch must be paid from the wallet it credits (X-Wallet-Address)",
	CodePaymentRejected:    "the network refused the transaction",
}

// Message explains err for callers: the detail of a refusal or a pending payment, else the
// text of its code; "" when err has neither.
func Message(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Detail
	}
	var pd *Pending
	if errors.As(err, &pd) {
		return pd.Detail
	}
	return codeText[Code(err)]
}

// Code returns the public code of err: a refused payment's, or that of a ledger refusal (whose
// messages are codes). It is "" for anything else (pending, outages, bugs).
func Code(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	for _, known := range []error{ErrInvoiceNotFound, ErrInvoiceExpired, ErrInvoiceConsumed, ErrRouteMismatch, ErrPaymentUsed} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return ""
}
