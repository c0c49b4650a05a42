// Package payments is the pure domain logic of pay-per-call on Cardano: the payments/partners
// configuration (PAYMENTS_CONFIG), pricing (partner discounts, prepaid batches, revenue shares),
// the invoice (Invoice, its statuses) and its 402 body, parsing the caller's payment proof, and
// verifying a payment against an invoice — from Blockfrost's view of a confirmed transaction
// (VerifyTx) or from the caller's signed transaction before it is submitted (VerifySigned).
//
// Nothing here does I/O except Load reading the file: the api prices and builds invoices, the
// payment-confirmation worker fetches chain data and calls the verifiers, and storage/ledger
// keeps the invoices. Verification failures carry stable public codes (the Code*
// constants) that callers see in a 402's detail.error; the ledger's refusals with such a code are
// the Err* sentinels here.
//
// Imports point one way: payments imports only cardano (and libraries); storage/ledger imports
// payments to persist its types, never the reverse, so the rules are tested without Redis.
// cmd/tbackend's architecture test enforces it.
package payments
