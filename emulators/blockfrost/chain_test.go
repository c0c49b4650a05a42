package blockfrostemu_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

func TestBlocksLatest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		net                 blockfrostemu.Network
		slot, epoch, height int
		time                int
	}{
		// Mainnet: time = slot + 1591566291 in the Shelley era; epoch 208 began at slot 4492800.
		{blockfrostemu.Mainnet, 150_000_000, 544, 11_600_000, 150_000_000 + 1591566291},
		{blockfrostemu.Preprod, 85_000_000, 200, 3_300_000, 85_000_000 + 1655683200},
		{blockfrostemu.Preview, 75_000_000, 868, 3_100_000, 75_000_000 + 1666656000},
	} {
		h := newHarness(t, blockfrostemu.WithNetwork(tc.net))
		b, err := h.api.BlockLatest(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if b.Slot != tc.slot || b.Epoch != tc.epoch || b.Height != tc.height || b.Time != tc.time ||
			b.Confirmations != 0 || b.NextBlock != nil || b.PreviousBlock == "" || len(b.Hash) != 64 ||
			!strings.HasPrefix(b.SlotLeader, "pool1") || b.BlockVRF == nil || len(*b.BlockVRF) != 65 {
			t.Fatalf("%s: %+v", tc.net, b)
		}
		tip := h.emu.Tip()
		if int(tip.Slot) != b.Slot || tip.Hash != b.Hash || int(tip.Epoch) != b.Epoch || int(tip.EpochSlot) != b.EpochSlot {
			t.Fatalf("%s: Tip() %+v vs %+v", tc.net, tip, b)
		}
		next := h.emu.AdvanceTip(3)
		b2, _ := h.api.BlockLatest(ctx(t))
		if b2.Height != tc.height+3 || b2.Slot != tc.slot+60 || b2.Time != tc.time+60 || int(next.Height) != b2.Height {
			t.Fatalf("%s: after 3 blocks %+v", tc.net, b2)
		}
		// Every address of the data set belongs to the network.
		prefix := "addr1"
		if tc.net != blockfrostemu.Mainnet {
			prefix = "addr_test1"
		}
		for _, tok := range h.emu.Tokens() {
			for _, holder := range h.emu.Holders(tok.Unit) {
				if !strings.HasPrefix(holder.Address, prefix) {
					t.Fatalf("%s: %s holder %s", tc.net, tok.Key, holder.Address)
				}
			}
		}
		if a := h.emu.Address("x"); !strings.HasPrefix(a, prefix) {
			t.Fatalf("%s: Address() = %s", tc.net, a)
		}
	}
}

// A payment as the payments feature sees it: added, then confirmed block by block, with a
// CIP-20 message, a validity interval and a token.
func TestAddTxConfirmations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	payer, merchant := h.emu.Address("payer"), h.emu.Address("merchant")
	snek := blockfrostemu.SNEKUnit
	tip0 := h.emu.Tip()
	hash, err := h.emu.AddTx(blockfrostemu.Tx{
		Inputs: []blockfrostemu.Input{{Address: payer, Lovelace: 20_000_000, Assets: []blockfrostemu.Asset{{Unit: snek, Quantity: 700}}}},
		Outputs: []blockfrostemu.Output{
			{Address: merchant, Lovelace: 2_000_000, Assets: []blockfrostemu.Asset{{Unit: snek, Quantity: 500}}},
			{Address: payer, Lovelace: 17_800_000, Assets: []blockfrostemu.Asset{{Unit: snek, Quantity: 200}}},
		},
		Fee:              200_000,
		InvalidBefore:    blockfrostemu.Slot(tip0.Slot - 100),
		InvalidHereafter: blockfrostemu.Slot(tip0.Slot + 7200),
		Metadata:         []blockfrostemu.Metadata{blockfrostemu.CIP20("invoice inv_123", strings.Repeat("é", 40))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.api.Transaction(ctx(t), hash); !isStatus(err, 404) {
		t.Fatalf("a pending transaction is visible: %v", err)
	}
	if _, ok := h.emu.Confirmations(hash); ok {
		t.Fatal("confirmations of a pending transaction")
	}
	tip := h.emu.AdvanceTip(1)
	tx, err := h.api.Transaction(ctx(t), hash)
	if err != nil {
		t.Fatal(err)
	}
	if tx.BlockHeight != int(tip.Height) || tx.Index != 0 || tx.Fees != "200000" || !tx.ValidContract ||
		*tx.InvalidBefore != strconv.FormatInt(tip0.Slot-100, 10) || *tx.InvalidHereafter != strconv.FormatInt(tip0.Slot+7200, 10) ||
		tx.UtxoCount != 3 || tx.OutputAmount[0].Quantity != "19800000" || tx.OutputAmount[1].Quantity != "700" {
		t.Fatalf("tx %+v", tx)
	}
	latest, _ := h.api.BlockLatest(ctx(t))
	if latest.TxCount != 1 || latest.Hash != tx.Block || *latest.Fees != "200000" || *latest.Output != "19800000" {
		t.Fatalf("block %+v", latest)
	}
	for i := 1; i <= 5; i++ {
		h.emu.AdvanceTip(1)
		latest, _ := h.api.BlockLatest(ctx(t))
		if n, _ := h.emu.Confirmations(hash); n != int64(i) || latest.Height-tx.BlockHeight != i {
			t.Fatalf("after %d blocks: %d confirmations", i, n)
		}
	}
	md, err := h.api.TransactionMetadata(ctx(t), hash)
	if err != nil || len(md) != 1 || md[0].Label != "674" {
		t.Fatalf("metadata %+v %v", md, err)
	}
	msg := md[0].JsonMetadata.(map[string]any)["msg"].([]any)
	if len(msg) != 3 || msg[0] != "invoice inv_123" || len(msg[1].(string)) > 64 || msg[1].(string)+msg[2].(string) != strings.Repeat("é", 40) {
		t.Fatalf("CIP-20 lines %q", msg)
	}
	// Token movements update holders: new holders appear at the end (first appearance). The
	// payer held no SNEK the emulator knew of, so its change makes it a new holder too.
	holders := h.emu.Holders(snek)
	n := len(holders)
	if holders[n-2].Address != merchant || holders[n-2].Quantity != 500 || holders[n-1].Address != payer || holders[n-1].Quantity != 200 {
		t.Fatalf("last SNEK holders %+v", holders[n-2:])
	}
	// The payer's output can be spent by a later transaction, once.
	spend := blockfrostemu.Tx{Inputs: []blockfrostemu.Input{{TxHash: hash, OutputIndex: 1}},
		Outputs: []blockfrostemu.Output{{Address: merchant, Lovelace: 17_600_000, Assets: []blockfrostemu.Asset{{Unit: snek, Quantity: 200}}}}}
	h2, err := h.emu.AddTx(spend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.emu.AddTx(spend); err == nil || !strings.Contains(err.Error(), "BadInputsUTxO") {
		t.Fatalf("double spend in the mempool: %v", err)
	}
	h.emu.AdvanceTip(1)
	if _, err := h.emu.AddTx(spend); err == nil {
		t.Fatal("double spend on chain accepted")
	}
	utxos, err := h.api.TransactionUTXOs(ctx(t), hash)
	if err != nil || utxos.Outputs[1].ConsumedByTx == nil || *utxos.Outputs[1].ConsumedByTx != h2 || utxos.Outputs[0].ConsumedByTx != nil {
		t.Fatalf("consumed_by_tx %+v %v", utxos.Outputs, err)
	}
	in, _ := h.api.TransactionUTXOs(ctx(t), h2)
	if in.Inputs[0].Address != payer || in.Inputs[0].TxHash != hash || in.Inputs[0].OutputIndex != 1 {
		t.Fatalf("spending input %+v", in.Inputs[0])
	}
	// Spending the payer's only SNEK output removed it from the holders.
	holders = h.emu.Holders(snek)
	if len(holders) != n-1 || holders[n-2].Address != merchant || holders[n-2].Quantity != 700 {
		t.Fatalf("after the spend: %+v", holders[len(holders)-2:])
	}
	// The transactions list of the asset gained both.
	txs, _ := h.api.AssetTransactions(ctx(t), snek, blockfrost.APIQueryParams{Order: "desc", Count: 2})
	if len(txs) != 2 || txs[0].TxHash != h2 || txs[1].TxHash != hash {
		t.Fatalf("asset transactions %+v", txs)
	}
}

func TestAddTxScriptFailureAndMint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, blockfrostemu.WithNetwork(blockfrostemu.Preprod))
	script := h.emu.Address("dex")
	user := h.emu.Address("user")
	// A phase-2 failure: collateral consumed, collateral return paid, outputs not created.
	bad, err := h.emu.AddTx(blockfrostemu.Tx{
		Inputs:           []blockfrostemu.Input{{Address: user, Lovelace: 10_000_000}},
		CollateralInputs: []blockfrostemu.Input{{Address: user, Lovelace: 5_000_000}},
		CollateralReturn: &blockfrostemu.Output{Address: user, Lovelace: 4_500_000},
		Outputs:          []blockfrostemu.Output{{Address: script, Lovelace: 9_500_000}},
		Fee:              500_000, Invalid: true, RedeemerCount: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A mint of a new token under an unknown policy.
	unit := strings.Repeat("ab", 28) + "4e4557"
	mint, err := h.emu.AddTx(blockfrostemu.Tx{
		Mint:    []blockfrostemu.Mint{{Unit: unit, Quantity: 1000}},
		Outputs: []blockfrostemu.Output{{Address: user, Lovelace: 1_500_000, Assets: []blockfrostemu.Asset{{Unit: unit, Quantity: 1000}}}},
		Metadata: []blockfrostemu.Metadata{{Label: 721, JSON: map[string]any{unit[:56]: map[string]any{
			"NEW": map[string]any{"name": "New", "image": "ipfs://x"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := h.emu.Pending(); fmt.Sprint(p) != fmt.Sprint([]string{bad, mint}) {
		t.Fatalf("pending %v", p)
	}
	h.emu.AdvanceTip(1)
	tx, err := h.api.Transaction(ctx(t), bad)
	if err != nil || tx.ValidContract || tx.RedeemerCount != 1 || tx.Index != 0 {
		t.Fatalf("failed tx %+v %v", tx, err)
	}
	u, _ := h.api.TransactionUTXOs(ctx(t), bad)
	if len(u.Inputs) != 2 || !u.Inputs[1].Collateral || len(u.Outputs) != 2 || !u.Outputs[1].Collateral || u.Outputs[1].OutputIndex != 1 {
		t.Fatalf("failed tx utxos %+v", u)
	}
	m, err := h.api.Transaction(ctx(t), mint)
	if err != nil || m.Index != 1 || m.AssetMintOrBurnCount != 1 {
		t.Fatalf("mint tx %+v %v", m, err)
	}
	a, err := h.api.Asset(ctx(t), unit)
	if err != nil || a.Quantity != "1000" || a.InitialMintTxHash != mint || a.OnchainMetadataStandard == nil ||
		*a.OnchainMetadataStandard != "CIP25v1" || a.Fingerprint == "" || a.AssetName != "4e4557" {
		t.Fatalf("new asset %+v %v", a, err)
	}
	if holders, _ := h.api.AssetAddresses(ctx(t), unit, blockfrost.APIQueryParams{}); len(holders) != 1 || holders[0].Address != user {
		t.Fatalf("holders %+v", holders)
	}

	// Invalid specs are refused.
	for name, bad := range map[string]blockfrostemu.Tx{
		"no outputs":      {},
		"mainnet address": {Outputs: []blockfrostemu.Output{{Address: "addr1vy2gntqvytqy40yudhnljht3uxaze9wfkn30du5spa5z9pgu45cg7", Lovelace: 1}}},
		"bad address":     {Outputs: []blockfrostemu.Output{{Address: "addr_test1xyz", Lovelace: 1}}},
		"bad unit":        {Outputs: []blockfrostemu.Output{{Address: user, Lovelace: 1, Assets: []blockfrostemu.Asset{{Unit: "zz", Quantity: 1}}}}},
		"bad hash":        {Hash: "ABC", Outputs: []blockfrostemu.Output{{Address: user, Lovelace: 1}}},
		"duplicate hash":  {Hash: mint, Outputs: []blockfrostemu.Output{{Address: user, Lovelace: 1}}},
		"unknown output":  {Inputs: []blockfrostemu.Input{{TxHash: mint, OutputIndex: 7}}, Outputs: []blockfrostemu.Output{{Address: user, Lovelace: 1}}},
	} {
		if _, err := h.emu.AddTx(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLiveChain(t *testing.T) {
	t.Parallel()
	emu := blockfrostemu.New(testProject, blockfrostemu.WithLiveChain(20*time.Millisecond))
	defer emu.Close()
	start := emu.Tip()
	now := time.Now().Unix()
	if start.Time < now-2 || start.Time > now+2 {
		t.Fatalf("live tip time %d, now %d", start.Time, now)
	}
	deadline := time.Now().Add(5 * time.Second)
	for emu.Tip().Height < start.Height+3 {
		if time.Now().After(deadline) {
			t.Fatal("the live chain produced no blocks")
		}
		time.Sleep(10 * time.Millisecond)
	}
	hash, err := emu.AddTx(blockfrostemu.Tx{Outputs: []blockfrostemu.Output{{Address: emu.Address("a"), Lovelace: 1_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := emu.Confirmations(hash); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the live chain did not include the transaction")
		}
		time.Sleep(10 * time.Millisecond)
	}
	emu.Close()
	h := emu.Tip().Height
	time.Sleep(60 * time.Millisecond)
	if emu.Tip().Height != h {
		t.Fatal("blocks after Close")
	}
}
