package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
)

// paidPrice is what POST /chat costs without an api-key in the benchmark's payments file.
const paidPrice = 2_000_000

// writePaymentsConfig writes the api's PAYMENTS_CONFIG: /chat priced, paid to an address of the
// Blockfrost emulator's chain, one confirmation, memo required (the checks a real payment gets).
func (e *env) writePaymentsConfig() (string, error) {
	path := filepath.Join(e.dir, "payments.yaml")
	cfg := fmt.Sprintf("network: mainnet\npay_to: %s\nmin_confirmations: 1\ninvoice_timeout: 600s\nrequire_memo: true\nprices: {/chat: %d}\n",
		e.bf.Address("tbench-shop"), paidPrice)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// measurePayments is figure 6: a paid retry (X-Invoice-Id + X-Payment naming a confirmed
// transaction: the payment check job, the reservation, the call, the settlement) against the
// same call with an api-key, interleaved one for one. The invoices are opened and paid on the
// emulator's chain first (untimed): what is timed is the retry a paying client makes.
func measurePayments(ctx context.Context, e *env, sz sizes) ([]row, error) {
	n := sz.payments
	// The chain's tip stands where it was at start-up: bring it to now, so that the block paying
	// the invoices comes after them (as on the real chain).
	if behind := time.Now().Unix() - e.bf.Tip().Time; behind > 0 {
		e.bf.AdvanceTip(int(behind/20) + 1)
	}
	type invoice struct{ id, tx, body string }
	invs := make([]invoice, 0, n)
	for i := range n {
		body := fmt.Sprintf(`{"message":"tbench paid call %d","max_tokens":16}`, i)
		raw, _, err := e.call(ctx, "POST", e.apiURL+"/chat", []byte(body), nil, 402)
		if err != nil {
			return nil, fmt.Errorf("opening invoice %d: %w", i, err)
		}
		var inv struct {
			Detail struct {
				InvoiceID   string `json:"invoiceId"`
				AmountUnits string `json:"amountUnits"`
				PayTo       string `json:"payTo"`
				Extra       struct {
					Memo *string `json:"memo"`
				} `json:"extra"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &inv); err != nil {
			return nil, fmt.Errorf("invoice %d: %w", i, err)
		}
		amount, err := strconv.ParseUint(inv.Detail.AmountUnits, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invoice %d amount: %w", i, err)
		}
		tx := blockfrostemu.Tx{Outputs: []blockfrostemu.Output{
			{Address: inv.Detail.PayTo, Lovelace: amount},
			{Address: e.bf.Address("tbench-payer"), Lovelace: 3_000_000},
		}}
		if inv.Detail.Extra.Memo != nil {
			tx.Metadata = []blockfrostemu.Metadata{blockfrostemu.CIP20(*inv.Detail.Extra.Memo)}
		}
		hash, err := e.bf.AddTx(tx)
		if err != nil {
			return nil, fmt.Errorf("paying invoice %d: %w", i, err)
		}
		invs = append(invs, invoice{inv.Detail.InvoiceID, hash, body})
	}
	e.bf.AdvanceTip(1) // every payment in a block: one confirmation, as configured
	var paid, keyed result
	for _, inv := range invs {
		hdr := map[string]string{"X-Invoice-Id": inv.id, "X-Payment": inv.tx}
		t0 := time.Now()
		if _, _, err := e.call(ctx, "POST", e.apiURL+"/chat", []byte(inv.body), hdr, 200); err != nil {
			return nil, fmt.Errorf("paid retry: %w", err)
		}
		paid.lat = append(paid.lat, time.Since(t0))
		t0 = time.Now()
		if _, _, err := e.call(ctx, "POST", e.apiURL+"/chat", []byte(inv.body), e.keyed(), 200); err != nil {
			return nil, fmt.Errorf("keyed call: %w", err)
		}
		keyed.lat = append(keyed.lat, time.Since(t0))
	}
	slices.Sort(paid.lat)
	slices.Sort(keyed.lat)
	note := fmt.Sprintf("%d paid retries and %d keyed calls, interleaved", len(paid.lat), len(keyed.lat))
	return []row{
		versus("paid retry latency p50", "ms", ms(paid.p(.5)), ms(keyed.p(.5)), note).want(targetAddedMax, 20),
		versus("paid retry latency p99", "ms", ms(paid.p(.99)), ms(keyed.p(.99)), ""),
	}, nil
}
