package payments

import (
	"crypto/rand"
	"strconv"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

// InvoiceVersion is the version of the 402 body.
const InvoiceVersion = "0.1"

// NewInvoiceID returns a fresh invoice id: "inv_" and 26 base32 characters (130 random bits). It
// is the bearer secret of a paid invoice: it goes to the requester only, never on chain.
func NewInvoiceID() string { return "inv_" + strings.ToLower(rand.Text()) }

// NewMemo returns a fresh public reference for a memo: "ref_" and 26 base32 characters, drawn
// apart from the invoice id, so reading it on chain tells nothing about the id. It fits a CIP-20
// message line (64 bytes) with room to spare.
func NewMemo() string { return "ref_" + strings.ToLower(rand.Text()) }

// NewInvoice freezes everything a payment will be verified against: terms, address, asset, the
// range of its unique amount (the ledger draws it), confirmations and, when memos are required,
// the memo (a random reference, not the id).
func (c *Config) NewInvoice(id string, t Terms, wallet, requestKey string, now time.Time) Invoice {
	now = now.UTC()
	inv := Invoice{
		ID: id, Route: t.Route, Partner: t.Partner, Wallet: wallet, Network: c.Network.String(),
		Asset: c.Asset, Decimals: c.Decimals, AmountUnits: t.Amount, AmountOffsets: c.AmountOffsets, PayTo: c.PayTo,
		Outputs: t.Outputs, Split: t.Split, MinConfirmations: c.MinConfirmations, BatchTarget: t.BatchTarget,
		RequestKey: requestKey, Binding: t.Binding, CreatedAt: now, ExpiresAt: now.Add(c.InvoiceTimeout), Status: InvoicePending,
	}
	if c.Asset == AssetADA {
		inv.Lovelace = t.Amount
	}
	if c.RequireMemo {
		inv.Memo = NewMemo()
	}
	return inv
}

// InvoiceDetail is the "detail" object of a 402 answer. The api fills Status (pending /
// submitted) when a paid retry is still waiting, and Error (a Code* value) when a payment was
// refused; a fresh invoice has neither.
type InvoiceDetail struct {
	Version     string       `json:"version"`
	InvoiceID   string       `json:"invoiceId"`
	Chain       string       `json:"chain"`
	Asset       string       `json:"asset"`
	AmountUnits string       `json:"amountUnits"`
	Decimals    int          `json:"decimals"`
	PayTo       string       `json:"payTo"`
	Timeout     int64        `json:"timeout"` // seconds from creation to expiry
	Extra       InvoiceExtra `json:"extra"`
	Status      string       `json:"status,omitempty"`
	Error       string       `json:"error,omitempty"`
}

// InvoiceExtra is the Cardano-specific part of the 402 body.
type InvoiceExtra struct {
	Lovelace    bool            `json:"lovelace"`    // amountUnits are lovelace (the asset is ADA)
	Babel       bool            `json:"babel"`       // Babel fees (paying fees in tokens) are not offered
	Partner     *string         `json:"partner"`     // null without X-Partner
	BatchTarget int             `json:"batchTarget"` // credits the invoice buys; 0 = this call
	Memo        *string         `json:"memo"`        // a reference the payment's CIP-20 message must carry; null if none
	Outputs     []InvoiceOutput `json:"outputs,omitempty"`
	Split       string          `json:"split,omitempty"`
}

// InvoiceBody is the 402 detail of an invoice.
func InvoiceBody(inv Invoice) InvoiceDetail {
	d := InvoiceDetail{
		Version: InvoiceVersion, InvoiceID: inv.ID, Chain: cardano.Network(inv.Network).Chain(), Asset: inv.Asset,
		AmountUnits: strconv.FormatUint(inv.AmountUnits, 10), Decimals: inv.Decimals, PayTo: inv.PayTo,
		Timeout: int64(inv.ExpiresAt.Sub(inv.CreatedAt) / time.Second),
		Extra: InvoiceExtra{Lovelace: inv.Asset == AssetADA, BatchTarget: inv.BatchTarget,
			Outputs: inv.Outputs},
	}
	if inv.Partner != "" {
		d.Extra.Partner = &inv.Partner
	}
	if inv.Memo != "" {
		d.Extra.Memo = &inv.Memo
	}
	if len(inv.Outputs) > 0 {
		d.Extra.Split = inv.Split
	}
	return d
}

// FluxInvoice is the same invoice in the top-level fields of the 402 body that orynq-sdk's Flux
// transport reads. Amount is what the payer spends in all: what payTo receives, plus the splits
// when they are inclusive (that client pays payTo Amount less the splits then), so both readers
// pay the same outputs.
type FluxInvoice struct {
	InvoiceID string      `json:"invoiceId"`
	Amount    string      `json:"amount"`
	Currency  string      `json:"currency"` // "ADA" (lovelace) or the native asset unit
	Decimals  int         `json:"decimals"`
	PayTo     string      `json:"payTo"`
	Chain     string      `json:"chain"`
	ExpiresAt string      `json:"expiresAt"` // RFC 3339, UTC
	Partner   string      `json:"partner,omitempty"`
	Splits    []FluxSplit `json:"splits,omitempty"`
	SplitMode string      `json:"splitMode,omitempty"`
}

// FluxSplit is one revenue-share output of a FluxInvoice.
type FluxSplit struct {
	To       string `json:"to"`
	Amount   string `json:"amount"`
	Role     string `json:"role"` // "partner": every output is a partner's share
	Currency string `json:"currency"`
}

// FluxBody is the Flux view of inv; InvoiceBody is the guide's, made from the same invoice.
func FluxBody(inv Invoice) FluxInvoice {
	f := FluxInvoice{InvoiceID: inv.ID, Currency: inv.Asset, Decimals: inv.Decimals, PayTo: inv.PayTo,
		Chain: cardano.Network(inv.Network).Chain(), ExpiresAt: stamp(inv.ExpiresAt), Partner: inv.Partner}
	amount := inv.AmountUnits
	for _, o := range inv.Outputs {
		f.Splits = append(f.Splits, FluxSplit{To: o.Address, Amount: strconv.FormatUint(o.AmountUnits, 10),
			Role: "partner", Currency: inv.Asset})
		if inv.Split == SplitInclusive {
			amount += o.AmountUnits
		}
	}
	if len(inv.Outputs) > 0 {
		f.SplitMode = inv.Split
	}
	f.Amount = strconv.FormatUint(amount, 10)
	return f
}

// PublicConfig is what GET /payments/config shows: prices and terms, no revenue-share details.
type PublicConfig struct {
	Network          string            `json:"network"`
	Chain            string            `json:"chain"`
	Asset            string            `json:"asset"`
	Decimals         int               `json:"decimals"`
	PayTo            string            `json:"payTo"`
	MinConfirmations int               `json:"minConfirmations"`
	InvoiceTimeout   int64             `json:"invoiceTimeout"` // seconds
	RequireMemo      bool              `json:"requireMemo"`
	AmountOffsets    uint64            `json:"amountOffsets"` // an invoice asks for its price plus a unique 1..amountOffsets
	Prices           map[string]string `json:"prices"`        // route → amount units per call
	Partners         []PublicPartner   `json:"partners"`
	// PriceRules says how a route's price scales with the request (Config.Price); absent when
	// every price is flat.
	PriceRules map[string]PublicRule `json:"priceRules,omitempty"`
}

// PublicRule is a PriceRule as GET /payments/config shows it.
type PublicRule struct {
	PerImage              bool           `json:"perImage"`
	SizeMultipliersBPS    map[string]int `json:"sizeMultipliersBps"`
	QualityMultipliersBPS map[string]int `json:"qualityMultipliersBps"`
}

// PublicPartner is a partner as GET /payments/config shows it.
type PublicPartner struct {
	Name        string `json:"name"`
	DiscountBPS int    `json:"discountBps"`
	BatchTarget int    `json:"batchTarget"`
}

// Public returns the view of c for GET /payments/config (partners sorted by name).
func (c *Config) Public() PublicConfig {
	p := PublicConfig{Network: c.Network.String(), Chain: c.Chain(), Asset: c.Asset, Decimals: c.Decimals, PayTo: c.PayTo,
		MinConfirmations: c.MinConfirmations, InvoiceTimeout: int64(c.InvoiceTimeout / time.Second),
		RequireMemo: c.RequireMemo, AmountOffsets: c.AmountOffsets, Prices: make(map[string]string, len(c.Prices)), Partners: []PublicPartner{}}
	for route, price := range c.Prices {
		p.Prices[route] = strconv.FormatUint(price, 10)
	}
	for route, r := range c.Rules {
		if p.PriceRules == nil {
			p.PriceRules = map[string]PublicRule{}
		}
		p.PriceRules[route] = PublicRule{PerImage: r.PerImage, SizeMultipliersBPS: nonNil(r.SizeBPS), QualityMultipliersBPS: nonNil(r.QualityBPS)}
	}
	for _, name := range sortedKeys(c.Partners) {
		pt := c.Partners[name]
		p.Partners = append(p.Partners, PublicPartner{Name: name, DiscountBPS: pt.DiscountBPS, BatchTarget: pt.BatchTarget})
	}
	return p
}

// CheckInvoice tells whether inv can still be paid for, or used by, a call of route at now:
// CodeRouteMismatch, CodeInvoiceConsumed or CodeInvoiceExpired as an *Error, else nil. A
// confirmed invoice stays usable (it was paid in time). An unpaid one past its expiry is expired
// unless the retry brings a proof (withProof): inclusion decides, so a transaction in a block by
// the expiry still pays it, whenever its confirmations arrive; VerifyTx judges that.
func CheckInvoice(inv Invoice, route string, now time.Time, withProof bool) error {
	unpaid := inv.Status == InvoicePending || inv.Status == InvoiceExpired
	switch {
	case inv.Route != route:
		return refuse(CodeRouteMismatch, "invoice %s is for %s, not %s", inv.ID, inv.Route, route)
	case inv.Status == InvoiceConsumed:
		return refuse(CodeInvoiceConsumed, "invoice %s was already used", inv.ID)
	case unpaid && !withProof && (inv.Status == InvoiceExpired || now.After(inv.ExpiresAt)):
		return refuse(CodeInvoiceExpired, "invoice %s expired at %s", inv.ID, stamp(inv.ExpiresAt))
	}
	return nil
}

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}
