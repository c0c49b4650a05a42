package payments

import "time"

// Invoice statuses as callers see them (GET /payments/status). A confirmed invoice whose paid
// request is running is still "confirmed" to the outside.
const (
	InvoicePending   = "pending"   // created, nothing paid yet
	InvoiceSubmitted = "submitted" // we submitted the caller's signed transaction; not yet in a block
	InvoiceConfirmed = "confirmed" // paid with enough confirmations; the paid request may run
	InvoiceConsumed  = "consumed"  // the paid request succeeded (batch: its credits were granted and the paying call used one)
	InvoiceExpired   = "expired"   // the timeout passed without a payment
	InvoiceFailed    = "failed"    // the submitted transaction was rejected for good
)

// InvoiceOutput is an extra payment an invoice asks for (a partner's revenue share), due to its own
// address on top of what PayTo receives. Amounts are in the invoice asset's smallest unit.
type InvoiceOutput struct {
	Address     string `json:"address"`
	AmountUnits uint64 `json:"amountUnits,string"`
}

// Invoice is one payment request. Everything needed to verify a payment is frozen into it when it
// is created, so a later change of the payments configuration never changes an outstanding invoice.
type Invoice struct {
	ID      string `json:"invoiceId"`
	Route   string `json:"route"`             // the priced route, e.g. "/chat"
	Partner string `json:"partner,omitempty"` // X-Partner, when one applied
	Wallet  string `json:"wallet,omitempty"`  // X-Wallet-Address (required for prepaid batches)
	Network string `json:"network"`           // mainnet | preprod | preview
	// Asset is "ADA" (lovelace) or a native asset unit (policy id hex + asset name hex).
	Asset       string `json:"asset"`
	Decimals    int    `json:"decimals"`
	AmountUnits uint64 `json:"amountUnits,string"` // due to PayTo, in the asset's smallest unit
	// AmountOffsets > 0 asks Open to make AmountUnits unique among the open invoices to (PayTo,
	// Asset): it adds the first free k of 1..AmountOffsets (from a random start), so a payment binds
	// to one invoice by its amount alone. 0 keeps AmountUnits as given.
	AmountOffsets uint64 `json:"amountOffsets,omitempty"`
	// Lovelace is the ADA PayTo must receive: AmountUnits for ADA invoices, otherwise 0 (the
	// transaction's min-UTxO ADA is the payer's business).
	Lovelace         uint64          `json:"lovelace,string"`
	PayTo            string          `json:"payTo"`
	Outputs          []InvoiceOutput `json:"outputs,omitempty"` // revenue-share outputs, each on top of AmountUnits
	Split            string          `json:"split,omitempty"`   // "additional" | "inclusive" when Outputs is set
	Memo             string          `json:"memo,omitempty"`    // the CIP-20 (label 674) message must contain it; "" = no memo required
	MinConfirmations int             `json:"minConfirmations"`
	BatchTarget      int             `json:"batchTarget"` // credits this invoice buys; 0 = one call
	// RequestKey identifies the unpaid request (route, partner, wallet, body hash): repeating it
	// while the invoice is pending returns the same invoice.
	RequestKey string `json:"requestKey,omitempty"`
	// Binding is the digest of the priced parameters (route, n, size, quality, model) the invoice
	// was opened for; a paid retry must present the same. "" binds only the route.
	Binding   string    `json:"binding,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`

	Status string `json:"status"`
	TxHash string `json:"txHash,omitempty"`
	// Payer is the payment key credential (hex) of the wallet whose input paid the invoice, as
	// the chain shows it; "" until confirmed, or when no input was key-controlled.
	Payer     string    `json:"payer,omitempty"`
	SettledAt time.Time `json:"settledAt,omitzero"` // when it was confirmed
	Error     string    `json:"error,omitempty"`    // last verification error code, for GET /payments/status
}
