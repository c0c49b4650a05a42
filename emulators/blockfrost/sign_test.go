package blockfrostemu_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/emulators/blockfrost"
)

// A transaction built by EncodeTx decodes with the cardano package to the same id and content,
// is accepted by /tx/submit, and reads back through /txs once in a block.
func TestEncodeTxRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	payee, change := h.emu.Address("payee"), h.emu.Address("change")
	unit := strings.Repeat("ab", 28) + "534e454b"
	spec := blockfrostemu.Signed{
		Outputs: []blockfrostemu.Output{
			{Address: payee, Lovelace: 2_500_000, Assets: []blockfrostemu.Asset{{Unit: unit, Quantity: 42}}},
			{Address: change, Lovelace: 7_000_000},
		},
		CollateralReturn: &blockfrostemu.Output{Address: change, Lovelace: 4_000_000},
		InvalidBefore:    blockfrostemu.Slot(h.emu.Tip().Slot - 10),
		InvalidHereafter: blockfrostemu.Slot(h.emu.Tip().Slot + 1000),
		NetworkID:        ptrTo(uint64(1)),
		Metadata:         []blockfrostemu.Metadata{blockfrostemu.CIP20("pay inv_abc", strings.Repeat("x", 70))},
		Seed:             "round-trip",
	}
	raw, err := blockfrostemu.EncodeTx(spec)
	if err != nil {
		t.Fatal(err)
	}
	id, err := blockfrostemu.TxID(raw)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := cardano.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tx.IDHex() != id || len(tx.Outputs) != 2 || tx.Outputs[0].Address.Bech32() != payee ||
		tx.Outputs[0].Quantity(unit) != 42 || tx.Outputs[1].Lovelace != 7_000_000 || tx.CollateralReturn == nil ||
		*tx.NetworkID != 1 || !tx.IsValid || fmt.Sprint(tx.Memo) != fmt.Sprint([]string{"pay inv_abc", strings.Repeat("x", 64), "xxxxxx"}) {
		t.Fatalf("decoded %+v (id %s want %s)", tx, tx.IDHex(), id)
	}
	got, err := h.api.TransactionSubmit(ctx(t), raw)
	if err != nil || got != id {
		t.Fatalf("submit: %s %v, want %s", got, err, id)
	}
	h.emu.AdvanceTip(1)
	content, err := h.api.Transaction(ctx(t), id)
	if err != nil || !content.ValidContract || *content.InvalidBefore != fmt.Sprint(*spec.InvalidBefore) {
		t.Fatalf("tx %+v %v", content, err)
	}
	utxos, err := h.api.TransactionUTXOs(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if o := utxos.Outputs[0]; o.Address != payee || o.Amount[0].Quantity != "2500000" || o.Amount[1].Unit != unit || o.Collateral {
		t.Fatalf("output 0 %+v", o)
	}
	if o := utxos.Outputs[2]; !o.Collateral || o.Address != change {
		t.Fatalf("collateral return %+v", o)
	}
	md, err := h.api.TransactionMetadata(ctx(t), id)
	if err != nil || len(md) != 1 || md[0].Label != "674" {
		t.Fatalf("metadata %+v %v", md, err)
	}

	// A failed-scripts transaction: only the collateral moves.
	spec.Invalid, spec.Seed = true, "invalid"
	raw, err = blockfrostemu.EncodeTx(spec)
	if err != nil {
		t.Fatal(err)
	}
	id, err = h.api.TransactionSubmit(ctx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	h.emu.AdvanceTip(1)
	if content, err := h.api.Transaction(ctx(t), id); err != nil || content.ValidContract {
		t.Fatalf("invalid tx %+v %v", content, err)
	}
}

func TestEncodeTxErrors(t *testing.T) {
	t.Parallel()
	good := blockfrostemu.Output{Address: blockfrostemu.New("p").Address("x"), Lovelace: 1}
	for name, s := range map[string]blockfrostemu.Signed{
		"no outputs":    {},
		"bad address":   {Outputs: []blockfrostemu.Output{{Address: "addr1nope", Lovelace: 1}}},
		"bad unit":      {Outputs: []blockfrostemu.Output{{Address: good.Address, Assets: []blockfrostemu.Asset{{Unit: "zz", Quantity: 1}}}}},
		"bad input":     {Outputs: []blockfrostemu.Output{good}, Inputs: []blockfrostemu.Input{{TxHash: "abc"}}},
		"negative slot": {Outputs: []blockfrostemu.Output{good}, InvalidHereafter: blockfrostemu.Slot(-1)},
		"bad metadata":  {Outputs: []blockfrostemu.Output{good}, Metadata: []blockfrostemu.Metadata{{Label: 1, JSON: 1.5}}},
	} {
		if _, err := blockfrostemu.EncodeTx(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
