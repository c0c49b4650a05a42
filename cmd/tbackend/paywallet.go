package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/internal/ctxsleep"
	"github.com/tbackend/tbackend/workers/blockfrosterr"
)

// payChain is what the payer asks Blockfrost.
type payChain struct{ api blockfrost.APIClient }

// newPayChain is a plain blockfrost-go client: one payment is a handful of requests, and the
// default retrying client would hide Blockfrost's refusal behind "giving up after N attempts".
func newPayChain(url, project string) payChain {
	return payChain{api: blockfrost.NewAPIClient(blockfrost.APIClientOptions{
		ProjectID: project, Server: url, Client: &http.Client{Timeout: 30 * time.Second},
	})}
}

// payWallet pays invoices with one signing key.
type payWallet struct {
	chain payChain
	key   ed25519.PrivateKey
	from  string // "" for the key's enterprise address
	log   io.Writer
}

// ttlSlots is how long a payment stays valid after it is built (slots are seconds).
const ttlSlots = 2 * 3600

// pay builds, signs and submits the invoice's payment and waits until it is in a block.
func (w *payWallet) pay(ctx context.Context, t payTerms, wait time.Duration) (string, error) {
	to, err := t.outputs()
	if err != nil {
		return "", err
	}
	from, err := w.address(t.Network)
	if err != nil {
		return "", err
	}
	utxos, err := w.chain.utxos(ctx, from.Bech32())
	if err != nil {
		return "", err
	}
	params, err := w.chain.params(ctx)
	if err != nil {
		return "", err
	}
	tip, err := w.chain.api.BlockLatest(ctx)
	if err != nil {
		return "", fmt.Errorf("pay: latest block: %w", err)
	}
	ttl := uint64(tip.Slot) + ttlSlots
	built, err := cardano.BuildPayment(cardano.PaymentSpec{From: utxos, To: to, Change: from, Memo: t.Memo,
		TTL: &ttl, Params: params, Key: w.key})
	if errors.Is(err, cardano.ErrInsufficientFunds) {
		return "", fmt.Errorf("pay: wallet %s: %w", from.Bech32(), err)
	}
	if err != nil {
		return "", fmt.Errorf("pay: %w", err)
	}
	hash, err := w.chain.api.TransactionSubmit(ctx, built.CBOR)
	if err != nil {
		return "", fmt.Errorf("pay: Blockfrost refused the transaction: %w", err)
	}
	fmt.Fprintf(w.log, "paid invoice %s from %s: transaction %s (fee %d lovelace), waiting for a block…\n",
		t.InvoiceID, from.Bech32(), hash, built.Fee)
	if err := w.chain.waitInBlock(ctx, hash, wait); err != nil {
		return "", err
	}
	fmt.Fprintf(w.log, "transaction %s is in a block\n", hash)
	return hash, nil
}

// address is where the wallet's funds are: --from when given (its payment part must be the key,
// or the signature would not spend it), else the key's enterprise address.
func (w *payWallet) address(n cardano.Network) (cardano.Address, error) {
	network := n.AddressNetwork()
	vkey := w.key.Public().(ed25519.PublicKey)
	if w.from == "" {
		return cardano.EnterpriseAddress(vkey, network), nil
	}
	a, err := cardano.ParseAddress(w.from)
	switch {
	case err != nil:
		return a, fmt.Errorf("pay: --from: %w", err)
	case a.Network != network:
		return a, fmt.Errorf("pay: --from %s is not a %s address", w.from, n)
	case a.Type > cardano.AddrEnterpriseScript || a.Payment.Script || !bytes.Equal(a.Payment.Hash, cardano.KeyHash(vkey)):
		return a, fmt.Errorf("pay: --from %s is not paid to by the key in --skey (its payment part must be the key's hash)", w.from)
	}
	return a, nil
}

// utxos lists the wallet's unspent outputs (every page). An address Blockfrost never saw is 404:
// an empty wallet.
func (c payChain) utxos(ctx context.Context, addr string) ([]cardano.UTxO, error) {
	var out []cardano.UTxO
	for page := 1; ; page++ {
		list, err := c.api.AddressUTXOs(ctx, addr, blockfrost.APIQueryParams{Count: 100, Page: page})
		if blockfrosterr.Status(err) == http.StatusNotFound {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pay: unspent outputs of %s: %w", addr, err)
		}
		for _, u := range list {
			cu, err := utxoOf(u)
			if err != nil {
				return nil, err
			}
			out = append(out, cu)
		}
		if len(list) < 100 {
			return out, nil
		}
	}
}

func utxoOf(u blockfrost.AddressUTXO) (cardano.UTxO, error) {
	cu := cardano.UTxO{Input: cardano.Input{TxID: u.TxHash, Index: uint32(u.OutputIndex)}}
	for _, a := range u.Amount {
		q, err := strconv.ParseUint(a.Quantity, 10, 64)
		if err != nil {
			return cu, fmt.Errorf("pay: output %s#%d: quantity %q", u.TxHash, u.OutputIndex, a.Quantity)
		}
		if a.Unit == "lovelace" {
			cu.Lovelace = q
			continue
		}
		if len(a.Unit) < 56 {
			return cu, fmt.Errorf("pay: output %s#%d: unit %q", u.TxHash, u.OutputIndex, a.Unit)
		}
		if cu.Assets == nil {
			cu.Assets = map[string]map[string]uint64{}
		}
		if cu.Assets[a.Unit[:56]] == nil {
			cu.Assets[a.Unit[:56]] = map[string]uint64{}
		}
		cu.Assets[a.Unit[:56]][a.Unit[56:]] += q
	}
	return cu, nil
}

// params reads the fee parameters of the current epoch.
func (c payChain) params(ctx context.Context) (cardano.FeeParams, error) {
	p, err := c.api.LatestEpochParameters(ctx)
	if err != nil {
		return cardano.FeeParams{}, fmt.Errorf("pay: protocol parameters: %w", err)
	}
	perByte := p.CoinsPerUtxOWord
	if p.CoinsPerUTxOSize != nil {
		perByte = *p.CoinsPerUTxOSize
	}
	coins, err := strconv.ParseUint(perByte, 10, 64)
	if err != nil || p.MinFeeA <= 0 || p.MinFeeB <= 0 {
		return cardano.FeeParams{}, fmt.Errorf("pay: protocol parameters lack min_fee_a, min_fee_b or coins_per_utxo_size")
	}
	return cardano.FeeParams{MinFeeA: uint64(p.MinFeeA), MinFeeB: uint64(p.MinFeeB), CoinsPerUTxOByte: coins,
		MaxTxSize: p.MaxTxSize}, nil
}

// waitInBlock polls /txs/{hash} (404 until the transaction is in a block) for at most wait.
func (c payChain) waitInBlock(ctx context.Context, hash string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := c.api.Transaction(ctx, hash)
		if err == nil {
			return nil
		}
		if blockfrosterr.Status(err) != http.StatusNotFound {
			return fmt.Errorf("pay: looking up transaction %s: %w", hash, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s was submitted but is in no block after %s; retry with X-Payment: %s once it is", errNotInBlock, hash, wait, hash)
		}
		if !ctxsleep.For(ctx, 2*time.Second) {
			return ctx.Err()
		}
	}
}
