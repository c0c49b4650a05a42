package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

// payTerms is what a payment must do, as the invoice states it.
type payTerms struct {
	InvoiceID string
	Network   cardano.Network
	Asset     string // payments.AssetADA or a native asset unit
	Amount    uint64 // due to PayTo, in the asset's smallest unit
	PayTo     string
	Outputs   []payOutput // revenue shares, each on top
	Memo      string      // the CIP-20 message to write; "" for none
}

type payOutput struct {
	Address     string `json:"address"`
	AmountUnits string `json:"amountUnits"`
}

// invoiceJSON is the part of a 402 detail (or of GET /payments/status) the payer reads.
type invoiceJSON struct {
	InvoiceID   string      `json:"invoiceId"`
	Chain       string      `json:"chain"`
	Asset       string      `json:"asset"`
	AmountUnits string      `json:"amountUnits"` // 402 detail
	Amount      string      `json:"amount"`      // /payments/status
	PayTo       string      `json:"payTo"`
	Status      string      `json:"status"`
	Memo        *string     `json:"memo"` // /payments/status
	Outputs     []payOutput `json:"outputs"`
	Extra       struct {
		Memo    *string     `json:"memo"`
		Outputs []payOutput `json:"outputs"`
	} `json:"extra"`
}

// termsFrom402 reads a saved 402 answer ({"detail": {…}}, or the detail alone).
func termsFrom402(path string) (payTerms, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return payTerms{}, err
	}
	var wrapped struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		return payTerms{}, fmt.Errorf("%s is not a saved 402 answer (JSON): %v", path, err)
	}
	raw := json.RawMessage(data)
	if len(wrapped.Detail) > 0 && wrapped.Detail[0] == '{' {
		raw = wrapped.Detail
	}
	var inv invoiceJSON
	if err := json.Unmarshal(raw, &inv); err != nil || inv.InvoiceID == "" {
		return payTerms{}, fmt.Errorf("%s holds no invoice (want the body of a 402 answer, with detail.invoiceId)", path)
	}
	return inv.terms(inv.AmountUnits, inv.Extra.Memo, inv.Extra.Outputs)
}

// termsFromAPI asks the service for an invoice's terms.
func termsFromAPI(ctx context.Context, client *http.Client, api, id string) (payTerms, error) {
	u := strings.TrimRight(api, "/") + "/payments/status/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return payTerms{}, err
	}
	res, err := client.Do(req)
	if err != nil {
		return payTerms{}, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return payTerms{}, fmt.Errorf("GET %s: %s %s", u, res.Status, strings.TrimSpace(string(body)))
	}
	var inv invoiceJSON
	if err := json.Unmarshal(body, &inv); err != nil {
		return payTerms{}, fmt.Errorf("GET %s: %v", u, err)
	}
	if inv.Status != "pending" {
		return payTerms{}, fmt.Errorf("invoice %s is %s: nothing to pay", id, inv.Status)
	}
	return inv.terms(inv.Amount, inv.Memo, inv.Outputs)
}

func (inv invoiceJSON) terms(amount string, memo *string, outs []payOutput) (payTerms, error) {
	t := payTerms{InvoiceID: inv.InvoiceID, Asset: inv.Asset, PayTo: inv.PayTo, Outputs: outs}
	network, ok := cardano.ParseChain(inv.Chain)
	if !ok || !strings.HasPrefix(inv.Chain, "cardano-") {
		return t, fmt.Errorf("invoice %s: chain %q is not a Cardano network this payer knows", inv.InvoiceID, inv.Chain)
	}
	t.Network = network
	var err error
	if t.Amount, err = strconv.ParseUint(amount, 10, 64); err != nil || t.Amount == 0 {
		return t, fmt.Errorf("invoice %s: amount %q is not a positive whole number", inv.InvoiceID, amount)
	}
	if memo != nil {
		t.Memo = *memo
	}
	return t, nil
}

// outputs are the transaction outputs the terms ask for.
func (t payTerms) outputs() ([]cardano.Output, error) {
	one := func(address string, amount uint64) (cardano.Output, error) {
		a, err := cardano.ParseAddress(address)
		if err != nil {
			return cardano.Output{}, fmt.Errorf("invoice %s: address %q: %w", t.InvoiceID, address, err)
		}
		o := cardano.Output{Address: a}
		if t.Asset == payments.AssetADA {
			o.Lovelace = amount
			return o, nil
		}
		unit := strings.ToLower(t.Asset)
		if len(unit) < 56 || !cardano.IsHex(unit) || len(unit)%2 != 0 {
			return o, fmt.Errorf("invoice %s: asset %q is neither ADA nor a native asset unit", t.InvoiceID, t.Asset)
		}
		o.Assets = map[string]map[string]uint64{unit[:56]: {unit[56:]: amount}} // min ada is added by the builder
		return o, nil
	}
	first, err := one(t.PayTo, t.Amount)
	if err != nil {
		return nil, err
	}
	outs := []cardano.Output{first}
	for i, o := range t.Outputs {
		n, err := strconv.ParseUint(o.AmountUnits, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invoice %s: output %d amount %q is not a whole number", t.InvoiceID, i, o.AmountUnits)
		}
		out, err := one(o.Address, n)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

var errNoTerms = errors.New("pay: say which invoice: --invoice ID (asks --api) or --from-402 FILE")
