package payments

import (
	"errors"
	"strings"

	"github.com/tbackend/tbackend/cardano"
)

// ErrNoPayer: none of a transaction's spent inputs sits at an address whose payment part is a
// key, so the transaction names nobody (it still pays; its call has no wallet identity).
var ErrNoPayer = errors.New("payments: no key-controlled input")

// PayerCredential is the identity a paying transaction proves: the payment key credential of
// the first spent input (in the order given: the chain's) at a Shelley key address. Spending an
// input needs that key's signature, so the credential cannot be claimed by anyone else. The
// stake part of the input's address is not used: anyone can build an address pairing their own
// payment key with another wallet's stake credential, fund it, and pay from it.
func PayerCredential(inputAddresses []string) (cardano.Credential, error) {
	for _, s := range inputAddresses {
		if cred, ok := PaymentKey(s); ok {
			return cred, nil
		}
	}
	return cardano.Credential{}, ErrNoPayer
}

// PaymentKey is the payment key credential of a Shelley address whose payment part is a key:
// the one identity an address proves (by a signature, or by spending from it). Script, reward,
// Byron and malformed addresses have none.
func PaymentKey(address string) (cardano.Credential, bool) {
	a, err := cardano.ParseAddress(address)
	if err != nil || a.Byron || a.IsReward() || a.Payment.Script || len(a.Payment.Hash) == 0 {
		return cardano.Credential{}, false
	}
	return a.Payment, true
}

// CheckPayer refuses a prepaid batch paid from another wallet than the one it credits: the
// credits go to X-Wallet-Address, so its payment key must be the payer's (payer, the payment key
// credential hex of the paying input, as PayerCredential gives it). Other invoices accept any
// payer.
func CheckPayer(inv Invoice, payer string) error {
	if inv.BatchTarget == 0 {
		return nil
	}
	wallet, _, _ := strings.Cut(inv.Wallet, " ") // a batch's ledger wallet is "<address> <route>"
	if cred, ok := PaymentKey(wallet); !ok || !strings.EqualFold(cred.Hex(), payer) {
		return refuse(CodeWalletMismatch, "the batch credits %s, but the transaction was paid from another wallet", wallet)
	}
	return nil
}
