package payments

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Params are the priced parameters of one request: what its price depends on besides the route
// and the partner. The api fills them with its defaults applied (n 1, the default size), so two
// requests that cost the same have equal Params. Zero Params are a standard call.
type Params struct {
	N       int    // images asked for (0 counts as 1)
	Size    string // "1024x1024", …
	Quality string // "" when the request names none
	Model   string // the image model that would run
}

// Binding is the digest of route and p an invoice is opened for: a paid retry must present the
// same, so a payment for one image at low quality never buys ten at high. "" for zero Params.
func Binding(route string, p Params) string {
	if p == (Params{}) {
		return ""
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s\x00%s", route, max(p.N, 1), p.Size, p.Quality, p.Model))
	return hex.EncodeToString(sum[:16])
}

// CheckRequest refuses a paid retry whose route and params differ from those inv was opened
// for (CodeRequestMismatch); invoices opened without a binding take any.
func CheckRequest(inv Invoice, route string, p Params) error {
	if inv.Binding == "" || inv.Binding == Binding(route, p) {
		return nil
	}
	return refuse(CodeRequestMismatch, "invoice %s was opened for other priced parameters (n, size, quality, model); repeat the original request, or pay a new invoice for this one", inv.ID)
}

// PriceRule scales an image route's price with the request. Multipliers are basis points
// (10000 = ×1); a size or quality without an entry costs ×1.
type PriceRule struct {
	PerImage   bool           // the price is per image: × n
	SizeBPS    map[string]int // size → multiplier
	QualityBPS map[string]int // quality → multiplier
}

// imageRoutes may have a PriceRule: the routes whose priced parameters the api reads before
// invoicing. (Edits stream their uploads; their price is flat for now.)
var imageRoutes = []string{"/images/generate"}

// MaxMultiplierBPS bounds a multiplier (×100).
const MaxMultiplierBPS = 1_000_000

// Price is the list price of one call of route with p:
//
//	price × n (per_image) × size bps / 10000 × quality bps / 10000
//
// rounding down at each step (in the payer's favour); ErrOverflow past 64 bits.
func (c *Config) Price(route string, p Params) (uint64, error) {
	price, ok := c.Prices[route]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrNotPriced, route)
	}
	r, ok := c.Rules[route]
	if !ok {
		return price, nil
	}
	if r.PerImage && p.N > 1 {
		hi, lo := bits.Mul64(price, uint64(p.N))
		if hi != 0 {
			return 0, fmt.Errorf("%w: price %d × %d images", ErrOverflow, price, p.N)
		}
		price = lo
	}
	for _, m := range []int{multiplier(r.SizeBPS, p.Size), multiplier(r.QualityBPS, p.Quality)} {
		hi, lo := bits.Mul64(price, uint64(m))
		if hi >= bpsWhole {
			return 0, fmt.Errorf("%w: price %d × %d bps", ErrOverflow, price, m)
		}
		price, _ = bits.Div64(hi, lo, bpsWhole)
	}
	return price, nil
}

func multiplier(m map[string]int, key string) int {
	if bps, ok := m[key]; ok {
		return bps
	}
	return bpsWhole
}

var sizeKey = regexp.MustCompile(`^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$`)

var ruleFields = []string{"price", "per_image", "size_multipliers", "quality_multipliers"}

// readRule reads a price written as a mapping: {price, per_image, size_multipliers,
// quality_multipliers}. A plain number is the old form (readPrices).
func readRule(path, route string, v any) (uint64, PriceRule, error) {
	var r PriceRule
	m, err := object(path, v, ruleFields...)
	if err != nil {
		return 0, r, err
	}
	if !slices.Contains(imageRoutes, route) {
		return 0, r, cfgErr(path, "only image routes (%s) scale their price; write %s's price as a number", strings.Join(imageRoutes, ", "), route)
	}
	pv, err := required(m, "price")
	if err != nil {
		return 0, r, cfgErr(path+".price", "required")
	}
	price, err := whole(path+".price", pv)
	if err != nil {
		return 0, r, err
	}
	if v, ok := m["per_image"]; ok {
		if r.PerImage, err = boolean(path+".per_image", v); err != nil {
			return 0, r, err
		}
	}
	if r.SizeBPS, err = multipliers(path+".size_multipliers", m["size_multipliers"], func(k string) bool { return sizeKey.MatchString(k) }); err != nil {
		return 0, r, err
	}
	if r.QualityBPS, err = multipliers(path+".quality_multipliers", m["quality_multipliers"], func(k string) bool { return k != "" && len(k) <= 32 }); err != nil {
		return 0, r, err
	}
	return price, r, nil
}

// multipliers reads a {key: bps} mapping (absent: nil).
func multipliers(path string, v any, validKey func(string) bool) (map[string]int, error) {
	if v == nil {
		return nil, nil
	}
	m, err := object(path, v)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(m))
	for _, k := range sortedKeys(m) {
		if !validKey(k) {
			return nil, cfgErr(path, "invalid key %s", strconv.Quote(abbrev(k, 40)))
		}
		if out[k], err = bounded(path+"."+k, m[k], 1, MaxMultiplierBPS); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cheapest lists the Params of route's cheapest calls under its rule (each size and quality
// with its lowest partner), for the load-time minimum-output check.
func (c *Config) cheapest(route string) []Params {
	r, ok := c.Rules[route]
	if !ok {
		return []Params{{}}
	}
	sizes, qualities := append([]string{""}, sortedKeys(r.SizeBPS)...), append([]string{""}, sortedKeys(r.QualityBPS)...)
	var out []Params
	for _, s := range sizes {
		for _, q := range qualities {
			out = append(out, Params{N: 1, Size: s, Quality: q})
		}
	}
	return out
}
