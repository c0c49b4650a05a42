package blockfrostemu_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"testing"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/cardano"
)

// A wallet funded by Fund pays with a transaction BuildPayment signs, read through blockfrost-go:
// its UTxOs and the fee parameters, the submit, the next block, and the spent and new outputs.
func TestWalletPaysThroughBlockfrost(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	seed := make([]byte, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	wallet := cardano.EnterpriseAddress(key.Public().(ed25519.PublicKey), cardano.NetworkMainnet)
	shop := h.emu.Address("shop")

	var apiErr *blockfrost.APIError
	if _, err := h.api.AddressUTXOs(ctx, wallet.Bech32(), blockfrost.APIQueryParams{}); !errors.As(err, &apiErr) || apiErr.Response.(blockfrost.NotFound).StatusCode != 404 {
		t.Fatalf("UTxOs of an unused address: %v, want Blockfrost's 404", err)
	}
	if r := h.do("GET", "/addresses/addr_test1nope/utxos", "", nil, nil); r.status != 400 {
		t.Errorf("malformed address: %d", r.status)
	}
	fund, err := h.emu.Fund(wallet.Bech32(), 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	utxos, err := h.api.AddressUTXOs(ctx, wallet.Bech32(), blockfrost.APIQueryParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(utxos) != 1 || utxos[0].TxHash != fund || utxos[0].Amount[0].Quantity != "10000000" {
		t.Fatalf("UTxOs right after Fund: %+v", utxos)
	}
	p, err := h.api.LatestEpochParameters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.MinFeeA != 44 || p.MinFeeB != 155381 || p.CoinsPerUTxOSize == nil || *p.CoinsPerUTxOSize != "4310" {
		t.Fatalf("parameters %+v", p)
	}
	b, err := cardano.BuildPayment(cardano.PaymentSpec{
		From:   []cardano.UTxO{{Input: cardano.Input{TxID: fund, Index: 0}, Lovelace: 10_000_000}},
		To:     []cardano.Output{{Address: mustParse(t, shop), Lovelace: 2_000_000}},
		Change: wallet, Memo: "inv_test", Key: key,
		Params: cardano.FeeParams{MinFeeA: uint64(p.MinFeeA), MinFeeB: uint64(p.MinFeeB), CoinsPerUTxOByte: 4310},
	})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.api.TransactionSubmit(ctx, b.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	h.emu.AdvanceTip(1)
	tx, err := h.api.Transaction(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Fees != itoa(b.Fee) {
		t.Errorf("fees %s, built %d", tx.Fees, b.Fee)
	}
	utxos, err = h.api.AddressUTXOs(ctx, wallet.Bech32(), blockfrost.APIQueryParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(utxos) != 1 || utxos[0].TxHash != hash || utxos[0].Amount[0].Quantity != itoa(8_000_000-b.Fee) {
		t.Errorf("after paying, the wallet holds only its change: %+v", utxos)
	}
	// Spending the funding output again is the node's BadInputsUTxO.
	if _, err := h.api.TransactionSubmit(ctx, b.CBOR); err == nil {
		t.Error("the same transaction was accepted twice")
	}
}

func mustParse(t *testing.T, s string) cardano.Address {
	t.Helper()
	a, err := cardano.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
