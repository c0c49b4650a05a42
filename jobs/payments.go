package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// TypePaymentConfirm verifies a paid retry's X-Payment against its invoice: it looks the
// transaction up on chain (or submits the caller's signed transaction first) and confirms the
// invoice in the ledger.
const TypePaymentConfirm = "payment:confirm"

// Proof kinds of a payment payload.
const (
	ProofTxHash   = "tx_hash"   // Value is a 64-hex transaction hash
	ProofSignedTx = "signed_tx" // Value is the signed transaction's CBOR in hex
)

// PaymentProof is the parsed X-Payment header, normalised (lower-case hex).
type PaymentProof struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// PaymentPayload asks a worker to check one proof for one invoice.
type PaymentPayload struct {
	InvoiceID string       `json:"invoice_id"`
	Proof     PaymentProof `json:"proof"`
}

// PaymentResult is the outcome of a check. A refused payment is a successful job: Error holds
// the public code (payment_amount_insufficient, …) and Message a safe explanation. Status is the
// invoice's status afterwards: "confirmed" (the request may run), "pending" or "submitted" (not
// yet: answer 402 with Retry-After), or another invoice status.
type PaymentResult struct {
	InvoiceID string `json:"invoice_id"`
	Status    string `json:"status"`
	TxHash    string `json:"tx_hash,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// PaymentDedupWindow is how long identical paid retries share one job. Within a window the
// same (invoice, proof) gets the same task id, so a burst of retries runs one check; a retry in
// a later window gets a fresh check, because a "still pending" answer must not be served from a
// finished job forever. The api's Retry-After for pending payments should be at least this.
const PaymentDedupWindow = 10 * time.Second

// PaymentTaskID derives the task id of a payment check from the invoice, the normalised proof
// value and the time window of now.
func PaymentTaskID(invoiceID, proof string, now time.Time) string {
	sum := sha256.Sum256([]byte(invoiceID + "\x00" + proof))
	window := now.Unix() / int64(PaymentDedupWindow/time.Second)
	return "payment-" + hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(window, 10)
}
