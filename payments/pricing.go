package payments

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Pricing errors.
var (
	ErrNotPriced      = errors.New("payments: route has no price")
	ErrUnknownPartner = errors.New("payments: unknown partner")
	ErrOverflow       = errors.New("payments: amount overflows 64 bits")
)

// Terms is what one invoice for a route (and partner) asks for. All amounts are in the asset's
// smallest unit.
//
// Arithmetic is integer-only and rounds down at each step, always in the payer's favour:
//
//	gross      = price × max(batch target, 1)
//	discounted = ⌊gross × (10000 − discount bps) / 10000⌋
//	share i    = ⌊discounted × bps_i / 10000⌋
//	Amount     = discounted − Σ shares   (inclusive split: pay_to keeps the rounding remainder)
//	           = discounted              (additional split: shares are paid on top)
//
// A product that does not fit 64 bits is ErrOverflow (Load rejects such a file).
type Terms struct {
	Route       string
	Partner     string // "" without X-Partner
	Price       uint64 // the list price of this call (Config.Price)
	BatchTarget int    // calls one invoice buys; 0 = this call only
	DiscountBPS int
	Discounted  uint64 // gross price after the discount: what the route costs this caller
	Amount      uint64 // due to pay_to
	Outputs     []InvoiceOutput
	Split       string // SplitAdditional / SplitInclusive when Outputs is set
	Total       uint64 // Amount + Σ Outputs: everything the payer sends
	Binding     string // Binding(Route, params): what a paid retry must match
}

// Cheaper reports whether partner's terms make a call of route with params cost its payer less
// than the list price (a batch compared call for call): a discount not outweighed by the
// partner's revenue-share outputs. Such terms belong to the partner's proven callers only.
func (c *Config) Cheaper(route, partner string, params Params) (bool, error) {
	if partner == "" {
		return false, nil
	}
	t, err := c.TermsFor(route, partner, params)
	if err != nil {
		return false, err
	}
	list := t.Price * uint64(max(t.BatchTarget, 1)) // TermsFor refused an overflow of this
	return t.Total < list, nil
}

// Terms prices a standard call of route for partner ("" for none).
func (c *Config) Terms(route, partner string) (Terms, error) {
	return c.TermsFor(route, partner, Params{})
}

// TermsFor prices a call of route with params for partner: Price, then the partner's terms.
func (c *Config) TermsFor(route, partner string, params Params) (Terms, error) {
	price, err := c.Price(route, params)
	if err != nil {
		return Terms{}, err
	}
	var p Partner
	var ok bool
	if partner != "" {
		if p, ok = c.Partners[partner]; !ok {
			return Terms{}, fmt.Errorf("%w: %q", ErrUnknownPartner, partner)
		}
	}
	t := Terms{Route: route, Partner: partner, Price: price, BatchTarget: p.BatchTarget, DiscountBPS: p.DiscountBPS,
		Binding: Binding(route, params)}
	gross := price
	if p.BatchTarget > 0 {
		hi, lo := bits.Mul64(price, uint64(p.BatchTarget))
		if hi != 0 {
			return Terms{}, fmt.Errorf("%w: price %d × batch %d", ErrOverflow, price, p.BatchTarget)
		}
		gross = lo
	}
	t.Discounted = bpsOf(gross, bpsWhole-p.DiscountBPS)
	t.Amount = t.Discounted
	var shares uint64
	for _, s := range p.RevenueShare {
		amt := bpsOf(t.Discounted, s.BPS)
		t.Outputs = append(t.Outputs, InvoiceOutput{Address: s.Address, AmountUnits: amt})
		var carry uint64
		if shares, carry = bits.Add64(shares, amt, 0); carry != 0 {
			return Terms{}, fmt.Errorf("%w: revenue shares", ErrOverflow)
		}
	}
	if len(t.Outputs) > 0 {
		t.Split = p.SplitMode
	}
	if shares > t.Discounted { // only a Config not built by Parse can get here
		return Terms{}, fmt.Errorf("payments: partner %q shares exceed the price", partner)
	}
	if t.Discounted > math.MaxUint64-c.AmountOffsets {
		return Terms{}, fmt.Errorf("%w: price %d plus its unique offset", ErrOverflow, t.Discounted)
	}
	if p.SplitMode == SplitInclusive {
		t.Amount -= shares
		t.Total = t.Discounted
		return t, nil
	}
	total, carry := bits.Add64(t.Discounted, shares, 0)
	if carry != 0 {
		return Terms{}, fmt.Errorf("%w: price %d plus shares %d", ErrOverflow, t.Discounted, shares)
	}
	t.Total = total
	return t, nil
}

// bpsOf is ⌊x × bps / 10000⌋ for bps ≤ 10000, exact over the full 64-bit range (the 128-bit
// product cannot overflow the quotient because the result is at most x).
func bpsOf(x uint64, bps int) uint64 {
	hi, lo := bits.Mul64(x, uint64(bps))
	q, _ := bits.Div64(hi, lo, bpsWhole)
	return q
}
