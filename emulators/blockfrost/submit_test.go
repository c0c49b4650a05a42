package blockfrostemu_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/internal/testfiles"
)

// fixtureTx is one entry of testdata/cardano/transactions.json (repository root).
type fixtureTx struct {
	Name         string  `json:"name"`
	Network      string  `json:"network"`
	CBORHex      string  `json:"cbor_hex"`
	TxID         *string `json:"tx_id"`
	TxIDComputed string  `json:"tx_id_computed"`
	BodyOffset   [2]int  `json:"body_offset"`
	Fee          uint64  `json:"fee"`
	TTL          *int64  `json:"ttl"`
	IsValid      *bool   `json:"is_valid"`
	Inputs       []struct {
		TxID  string `json:"tx_id"`
		Index int    `json:"index"`
	} `json:"inputs"`
	Mint []struct {
		Unit     string `json:"unit"`
		Quantity int64  `json:"quantity"`
	} `json:"mint"`
	Outputs []struct {
		Address  string `json:"address"`
		Lovelace uint64 `json:"lovelace"`
		Assets   []struct {
			Unit     string `json:"unit"`
			Quantity uint64 `json:"quantity"`
		} `json:"assets"`
	} `json:"outputs"`
	AuxiliaryData *struct {
		Labels    []uint64 `json:"metadata_labels"`
		CIP20Msg  []string `json:"cip20_msg"`
		CIP20Full any      `json:"cip20_674"`
	} `json:"auxiliary_data"`
}

func (f fixtureTx) id() string {
	if f.TxID != nil {
		return *f.TxID
	}
	return f.TxIDComputed
}

func (f fixtureTx) network() blockfrostemu.Network {
	switch {
	case strings.HasPrefix(f.Network, "mainnet"):
		return blockfrostemu.Mainnet
	case strings.HasPrefix(f.Network, "preview"):
		return blockfrostemu.Preview
	}
	return blockfrostemu.Preprod // "preprod", and "testnet" (network id 0)
}

func loadFixtureTxs(t *testing.T) []fixtureTx {
	t.Helper()
	raw := testfiles.Read(t, "cardano", "transactions.json")
	var doc struct {
		Transactions []fixtureTx `json:"transactions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Transactions) < 11 {
		t.Fatalf("%d fixture transactions, want 11", len(doc.Transactions))
	}
	return doc.Transactions
}

func TestTxIDOfRealTransactions(t *testing.T) {
	t.Parallel()
	stated := 0
	for _, f := range loadFixtureTxs(t) {
		raw, err := hex.DecodeString(f.CBORHex)
		if err != nil {
			t.Fatal(err)
		}
		id, err := blockfrostemu.TxID(raw)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if id != f.TxIDComputed {
			t.Errorf("%s: id %s, fixture computed %s", f.Name, id, f.TxIDComputed)
		}
		if f.TxID != nil {
			stated++
			if id != *f.TxID {
				t.Errorf("%s: id %s, the source states %s", f.Name, id, *f.TxID)
			}
		}
		// Malformed variants: cut short, trailing garbage, not an array.
		for name, bad := range map[string][]byte{
			"truncated": raw[:len(raw)-1], "trailing": append(append([]byte{}, raw...), 0x00),
			"body only": raw[f.BodyOffset[0]:f.BodyOffset[1]], "empty": nil,
		} {
			if _, err := blockfrostemu.TxID(bad); err == nil {
				t.Errorf("%s %s: no error", f.Name, name)
			}
		}
	}
	if stated != 9 {
		t.Fatalf("%d fixtures with a stated id, want 9", stated)
	}
}

// Every real transaction, submitted through blockfrost-go: the answer is its id; in the next
// block its content reads back through /txs.
func TestSubmitRealTransactions(t *testing.T) {
	t.Parallel()
	harnesses := map[blockfrostemu.Network]*harness{}
	for _, f := range loadFixtureTxs(t) {
		n := f.network()
		h := harnesses[n]
		if h == nil {
			h = newHarness(t, blockfrostemu.WithNetwork(n))
			harnesses[n] = h
		}
		raw, _ := hex.DecodeString(f.CBORHex)
		id, err := h.api.TransactionSubmit(ctx(t), raw)
		if err != nil {
			t.Fatalf("%s: submit: %v", f.Name, err)
		}
		if id != f.id() {
			t.Fatalf("%s: submit answered %s, want %s", f.Name, id, f.id())
		}
		// In the mempool: not under /txs yet; resubmitting is refused (its inputs are taken).
		if _, err := h.api.Transaction(ctx(t), id); !isStatus(err, 404) {
			t.Fatalf("%s: pending tx: %v", f.Name, err)
		}
		r := h.do("POST", "/tx/submit", "application/cbor", raw, nil)
		wantError(t, r, 400, "Bad Request", "")
		if !strings.Contains(string(r.body), "BadInputsUTxO") {
			t.Fatalf("%s: resubmission: %s", f.Name, r.body)
		}
		if got := h.emu.Pending(); len(got) != 1 || got[0] != id {
			t.Fatalf("%s: pending %v", f.Name, got)
		}
		tip := h.emu.AdvanceTip(1)

		tx, err := h.api.Transaction(ctx(t), id)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if tx.BlockHeight != int(tip.Height) || tx.Slot != int(tip.Slot) || tx.Fees != strconv.FormatUint(f.Fee, 10) ||
			tx.Size != len(raw) || tx.AssetMintOrBurnCount != len(f.Mint) {
			t.Fatalf("%s: tx %+v", f.Name, tx)
		}
		if f.TTL != nil && (tx.InvalidHereafter == nil || *tx.InvalidHereafter != strconv.FormatInt(*f.TTL, 10)) {
			t.Fatalf("%s: invalid_hereafter %v, want %d", f.Name, tx.InvalidHereafter, *f.TTL)
		}
		if f.IsValid != nil && tx.ValidContract != *f.IsValid {
			t.Fatalf("%s: valid_contract %v", f.Name, tx.ValidContract)
		}
		utxos, err := h.api.TransactionUTXOs(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		var outs []blockfrost.TransactionOutput
		for _, o := range utxos.Outputs {
			if !o.Collateral {
				outs = append(outs, o)
			}
		}
		if len(outs) != len(f.Outputs) {
			t.Fatalf("%s: %d outputs, want %d", f.Name, len(outs), len(f.Outputs))
		}
		for i, o := range f.Outputs {
			got := outs[i]
			want := []string{"lovelace=" + strconv.FormatUint(o.Lovelace, 10)}
			for _, a := range o.Assets {
				want = append(want, a.Unit+"="+strconv.FormatUint(a.Quantity, 10))
			}
			var have []string
			for _, a := range got.Amount {
				have = append(have, a.Unit+"="+a.Quantity)
			}
			if got.Address != o.Address || fmt.Sprint(have) != fmt.Sprint(want) || got.OutputIndex != i {
				t.Fatalf("%s: output %d = %s %v, want %s %v", f.Name, i, got.Address, have, o.Address, want)
			}
		}
		var ins []string
		for _, in := range utxos.Inputs {
			if !in.Collateral && (in.Reference == nil || !*in.Reference) {
				ins = append(ins, fmt.Sprintf("%s#%d", in.TxHash, int(in.OutputIndex)))
			}
		}
		var wantIns []string
		for _, in := range f.Inputs {
			wantIns = append(wantIns, fmt.Sprintf("%s#%d", in.TxID, in.Index))
		}
		if fmt.Sprint(ins) != fmt.Sprint(wantIns) {
			t.Fatalf("%s: inputs %v, want %v", f.Name, ins, wantIns)
		}
		md, err := h.api.TransactionMetadata(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, m := range md {
			labels = append(labels, m.Label)
		}
		var wantLabels []string
		if f.AuxiliaryData != nil {
			for _, l := range f.AuxiliaryData.Labels {
				wantLabels = append(wantLabels, strconv.FormatUint(l, 10))
			}
		}
		if fmt.Sprint(labels) != fmt.Sprint(wantLabels) {
			t.Fatalf("%s: metadata labels %v, want %v", f.Name, labels, wantLabels)
		}
		if f.AuxiliaryData != nil && len(f.AuxiliaryData.CIP20Msg) > 0 {
			msg := md[0].JsonMetadata.(map[string]any)["msg"]
			if fmt.Sprint(msg) != fmt.Sprint(f.AuxiliaryData.CIP20Msg) {
				t.Fatalf("%s: CIP-20 message %v, want %v", f.Name, msg, f.AuxiliaryData.CIP20Msg)
			}
		}
		// Minted assets now exist, with the transaction as their first mint.
		for _, m := range f.Mint {
			a, err := h.api.Asset(ctx(t), m.Unit)
			if err != nil {
				t.Fatalf("%s: minted %s: %v", f.Name, m.Unit, err)
			}
			if a.InitialMintTxHash != id || a.Quantity != strconv.FormatInt(m.Quantity, 10) && m.Quantity > 0 {
				t.Fatalf("%s: asset %+v", f.Name, a)
			}
		}
		// Confirmations grow with the tip.
		h.emu.AdvanceTip(2)
		if n, ok := h.emu.Confirmations(id); !ok || n != 2 {
			t.Fatalf("%s: confirmations %d %v", f.Name, n, ok)
		}
	}
	// The TomatoCoin mint reveals its native policy script: its hash is the policy id.
	h := harnesses[blockfrostemu.Mainnet]
	s, err := h.api.Script(ctx(t), "f523573c4df900cf0fe16312aa7445877098b2a001dced3cc1283358")
	if err != nil || s.Type != "timelock" {
		t.Fatalf("TomatoCoin policy script %+v %v", s, err)
	}
}

func isStatus(err error, status int) bool {
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	b, _ := json.Marshal(apiErr.Response)
	var e struct {
		StatusCode int `json:"status_code"`
	}
	_ = json.Unmarshal(b, &e)
	return e.StatusCode == status
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var preview fixtureTx
	var mainnet fixtureTx
	for _, f := range loadFixtureTxs(t) {
		switch f.Name {
		case "babbage12_preview_map_outputs":
			preview = f
		case "conway3_mainnet_tag258_inputs":
			mainnet = f
		}
	}
	raw, _ := hex.DecodeString(mainnet.CBORHex)

	r := h.do("POST", "/tx/submit", "application/json", raw, nil)
	wantError(t, r, 415, "Unsupported Media Type", "Unsupported Media Type: application/json")
	r = h.do("POST", "/tx/submit", "", raw, nil)
	wantError(t, r, 415, "Unsupported Media Type", "")
	for name, body := range map[string][]byte{
		"empty": nil, "not cbor": []byte("hello"), "truncated": raw[:len(raw)-3],
		"a map": {0xa0}, "one element": {0x81, 0xa0},
	} {
		r := h.do("POST", "/tx/submit", "application/cbor", body, nil)
		wantError(t, r, 400, "Bad Request", "")
		if !strings.Contains(string(r.body), "DeserialiseFailure") {
			t.Fatalf("%s: %s", name, r.body)
		}
	}
	// A preview transaction on mainnet: the ledger's WrongNetwork.
	pv, _ := hex.DecodeString(preview.CBORHex)
	r = h.do("POST", "/tx/submit", "application/cbor", pv, nil)
	wantError(t, r, 400, "Bad Request", "")
	if !strings.Contains(string(r.body), "WrongNetwork") {
		t.Fatalf("wrong network: %s", r.body)
	}
	// GET on the submit path does not exist.
	wantError(t, h.get("/tx/submit"), 400, "Bad Request", "Invalid path. Please check https://docs.blockfrost.io/")
	// Through blockfrost-go the 400 arrives as a BadRequest.
	_, err := h.api.TransactionSubmit(ctx(t), []byte{0x01})
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("client: %v", err)
	}
	if br, ok := apiErr.Response.(blockfrost.BadRequest); !ok || br.StatusCode != 400 {
		t.Fatalf("client: %#v", apiErr.Response)
	}
	if h.emu.Stats().Submitted != 0 || len(h.emu.Pending()) != 0 {
		t.Fatal("a refused transaction was accepted")
	}
	// The valid one still goes through.
	if id, err := h.api.TransactionSubmit(ctx(t), raw); err != nil || id != mainnet.id() {
		t.Fatalf("submit %s %v", id, err)
	}
	if h.emu.Stats().Submitted != 1 {
		t.Fatal("Submitted counter")
	}
}
