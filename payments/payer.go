package payments

import (
	"errors"

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
		a, err := cardano.ParseAddress(s)
		if err != nil || a.Byron || a.IsReward() || a.Payment.Script || len(a.Payment.Hash) == 0 {
			continue
		}
		return a.Payment, nil
	}
	return cardano.Credential{}, ErrNoPayer
}
