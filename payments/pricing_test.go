package payments_test

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

func TestTerms(t *testing.T) {
	a, b := addr(t, cardano.Mainnet, 2), addr(t, cardano.Mainnet, 3)
	partner := func(discount, batch int, split string, shares ...payments.Share) map[string]payments.Partner {
		return map[string]payments.Partner{"p": {Name: "p", DiscountBPS: discount, BatchTarget: batch, SplitMode: split, RevenueShare: shares}}
	}
	out := func(address string, units uint64) payments.InvoiceOutput {
		return payments.InvoiceOutput{Address: address, AmountUnits: units}
	}
	cases := []struct {
		name     string
		price    uint64
		partners map[string]payments.Partner
		partner  string
		want     payments.Terms
	}{
		{name: "list price", price: 1_000_000,
			want: payments.Terms{Price: 1_000_000, Discounted: 1_000_000, Amount: 1_000_000, Total: 1_000_000}},
		{name: "partner without terms pays list price", price: 1_000_000, partners: partner(0, 0, "additional"), partner: "p",
			want: payments.Terms{Partner: "p", Price: 1_000_000, Discounted: 1_000_000, Amount: 1_000_000, Total: 1_000_000}},
		{name: "discount rounds down", price: 1_000_001, partners: partner(2000, 0, "additional"), partner: "p",
			want: payments.Terms{Partner: "p", Price: 1_000_001, DiscountBPS: 2000, Discounted: 800_000, Amount: 800_000, Total: 800_000}},
		{name: "additional share on top of the discounted price", price: 1_000_001, partner: "p",
			partners: partner(2000, 0, "additional", payments.Share{Address: a, BPS: 1000}),
			want: payments.Terms{Partner: "p", Price: 1_000_001, DiscountBPS: 2000, Discounted: 800_000, Amount: 800_000,
				Outputs: []payments.InvoiceOutput{out(a, 80_000)}, Split: "additional", Total: 880_000}},
		{name: "inclusive shares round down, pay_to keeps the remainder", price: 1_000_003, partner: "p",
			partners: partner(0, 0, "inclusive", payments.Share{Address: a, BPS: 2500}, payments.Share{Address: b, BPS: 3333}),
			want: payments.Terms{Partner: "p", Price: 1_000_003, Discounted: 1_000_003, Amount: 416_703,
				Outputs: []payments.InvoiceOutput{out(a, 250_000), out(b, 333_300)}, Split: "inclusive", Total: 1_000_003}},
		{name: "batch multiplies before the discount", price: 1_000_003, partner: "p",
			partners: partner(2000, 100, "additional", payments.Share{Address: a, BPS: 1}),
			want: payments.Terms{Partner: "p", Price: 1_000_003, BatchTarget: 100, DiscountBPS: 2000, Discounted: 80_000_240,
				Amount: 80_000_240, Outputs: []payments.InvoiceOutput{out(a, 8_000)}, Split: "additional", Total: 80_008_240}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &payments.Config{Prices: map[string]uint64{"/chat": c.price}, Partners: c.partners}
			got, err := cfg.Terms("/chat", c.partner)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Route = "/chat"
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestTermsFullRange(t *testing.T) {
	// ⌊x × bps / 10000⌋ stays exact where x × bps needs 128 bits.
	cfg := &payments.Config{Prices: map[string]uint64{"/chat": math.MaxUint64},
		Partners: map[string]payments.Partner{"p": {DiscountBPS: 1, SplitMode: "inclusive",
			RevenueShare: []payments.Share{{Address: "x", BPS: 3333}}}}}
	got, err := cfg.Terms("/chat", "p")
	if err != nil {
		t.Fatal(err)
	}
	bpsOf := func(x uint64, bps int64) uint64 {
		v := new(big.Int).Mul(new(big.Int).SetUint64(x), big.NewInt(bps))
		return v.Div(v, big.NewInt(10000)).Uint64()
	}
	disc := bpsOf(math.MaxUint64, 9999)
	if got.Discounted != disc || got.Outputs[0].AmountUnits != bpsOf(disc, 3333) || got.Amount != disc-bpsOf(disc, 3333) {
		t.Fatalf("%+v", got)
	}
}

func TestTermsErrors(t *testing.T) {
	share := []payments.Share{{Address: "x", BPS: 10000}}
	cfg := &payments.Config{Prices: map[string]uint64{"/chat": math.MaxUint64/2 + 1, "/token-analysis": math.MaxUint64},
		Partners: map[string]payments.Partner{
			"batch": {BatchTarget: 2, SplitMode: "additional"},
			"share": {SplitMode: "additional", RevenueShare: share},
			"over":  {SplitMode: "inclusive", RevenueShare: append(share, share...)},
		}}
	for _, c := range []struct {
		route, partner string
		want           error
	}{
		{"/images/variations", "", payments.ErrNotPriced},
		{"/nope", "", payments.ErrNotPriced},
		{"/chat", "nobody", payments.ErrUnknownPartner},
		{"/chat", "batch", payments.ErrOverflow},
		{"/token-analysis", "share", payments.ErrOverflow},
	} {
		if _, err := cfg.Terms(c.route, c.partner); !errors.Is(err, c.want) {
			t.Errorf("%s/%s: %v, want %v", c.route, c.partner, err, c.want)
		}
	}
	if _, err := cfg.Terms("/chat", "over"); err == nil {
		t.Error("shares above the price accepted")
	}
}
