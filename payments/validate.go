package payments

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
)

// Bounds of the settings.
const (
	// MinUTxOLovelace is the smallest ADA output an invoice may ask for. The ledger's real minimum
	// is (160 + output size in bytes) × coinsPerUTxOByte (4310 lovelace): about 0.97 ADA for an
	// ADA-only output to a base address, 0.85 ADA to an enterprise address. 1 ADA covers both with
	// room for a fee-parameter change, so no invoice ever asks for an output the chain refuses.
	MinUTxOLovelace = 1_000_000
	// MinAssetUnits is the rule for native-asset invoices: every output must carry at least one
	// unit of the asset. The ADA that has to travel with tokens depends on the output's size (its
	// other assets, datum) and is the payer's to add; invoices never ask for it.
	MinAssetUnits = 1

	MaxDecimals         = 19
	MaxMinConfirmations = 2160 // Cardano's security parameter k: deeper is final anyway
	MinInvoiceTimeout   = 30 * time.Second
	MaxInvoiceTimeout   = 24 * time.Hour
	MaxBatchTarget      = 1_000_000
	MaxShares           = 10 // revenue-share outputs of one partner
	bpsWhole            = 10_000
)

// Defaults of optional settings.
const (
	DefaultMinConfirmations = 1
	DefaultInvoiceTimeout   = 300 * time.Second
	// A payment binds to its invoice by its unique amount (amount_offsets), so a memo is optional:
	// the vendor's own payer writes none.
	DefaultRequireMemo = false
	// DefaultAmountOffsets: each open invoice adds 1 to 999 smallest units (under 0.001 ADA) to its
	// price, unique among the open invoices to pay_to; so 999 invoices per price can be open at once
	// (an amount is held until its invoice is paid, or 5 minutes past its expiry).
	DefaultAmountOffsets = 999
	MaxAmountOffsets     = 1_000_000
	adaDecimals          = 6
)

var partnerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var topFields = []string{"network", "pay_to", "asset", "decimals", "min_confirmations", "invoice_timeout",
	"require_memo", "amount_offsets", "prices", "partners"}

// fromTree reads and checks the decoded file.
func fromTree(tree any) (*Config, error) {
	m, err := object("", tree, topFields...)
	if err != nil {
		return nil, err
	}
	c := &Config{MinConfirmations: DefaultMinConfirmations, InvoiceTimeout: DefaultInvoiceTimeout,
		RequireMemo: DefaultRequireMemo, AmountOffsets: DefaultAmountOffsets, Asset: AssetADA}
	for _, step := range []func(map[string]any) error{c.readNetwork, c.readPayTo, c.readAsset, c.readSettings,
		c.readPrices, c.readPartners} {
		if err := step(m); err != nil {
			return nil, err
		}
	}
	if err := c.checkOutputs(); err != nil {
		return nil, err
	}
	return c, nil
}

func required(m map[string]any, key string) (any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, cfgErr(key, "required")
	}
	return v, nil
}

func (c *Config) readNetwork(m map[string]any) error {
	v, err := required(m, "network")
	if err != nil {
		return err
	}
	s, err := str("network", v)
	if err != nil {
		return err
	}
	n, err := cardano.ParseNetwork(s)
	if err != nil {
		return cfgErr("network", "want mainnet, preprod or preview, got %q", abbrev(s, 40))
	}
	c.Network = n
	return nil
}

func (c *Config) readPayTo(m map[string]any) error {
	v, err := required(m, "pay_to")
	if err != nil {
		return err
	}
	s, err := str("pay_to", v)
	if err != nil {
		return err
	}
	if _, err := paymentAddress("pay_to", s, c.Network); err != nil {
		return err
	}
	c.PayTo = s
	return nil
}

// paymentAddress checks that s is a bech32 Shelley payment address of network.
func paymentAddress(field, s string, network cardano.Network) (cardano.Address, error) {
	if s == "" {
		return cardano.Address{}, cfgErr(field, "required")
	}
	a, err := cardano.ParseAddress(s)
	if err != nil {
		return cardano.Address{}, cfgErr(field, "%s is not a Cardano address", abbrev(s, 24))
	}
	switch {
	case a.Byron:
		return a, cfgErr(field, "%s is a Byron address; use a Shelley address (addr1… / addr_test1…)", abbrev(s, 24))
	case a.IsReward():
		return a, cfgErr(field, "%s is a stake address, which cannot receive payments", abbrev(s, 24))
	case !strings.HasPrefix(strings.ToLower(s), "addr"):
		return a, cfgErr(field, "write the address in bech32 (addr1… / addr_test1…), not hex")
	}
	if !network.Owns(a) {
		kind := "a preprod/preview"
		if a.Network == cardano.NetworkMainnet {
			kind = "a mainnet"
		}
		return a, cfgErr(field, "%s is %s address but network is %s", abbrev(s, 16), kind, network)
	}
	if a.Bech32() != strings.ToLower(s) {
		return a, cfgErr(field, "%s: the bech32 prefix does not match the address's network", abbrev(s, 24))
	}
	return a, nil
}

func (c *Config) readAsset(m map[string]any) error {
	if v, ok := m["asset"]; ok {
		s, err := str("asset", v)
		if err != nil {
			return err
		}
		unit, err := assetUnit(s)
		if err != nil {
			return err
		}
		c.Asset = unit
	}
	c.Decimals = adaDecimals
	v, ok := m["decimals"]
	if !ok {
		if c.Asset != AssetADA {
			return cfgErr("decimals", "required for a native asset")
		}
		return nil
	}
	d, err := bounded("decimals", v, 0, MaxDecimals)
	if err != nil {
		return err
	}
	if c.Asset == AssetADA && d != adaDecimals {
		return cfgErr("decimals", "ADA has %d decimals, got %d", adaDecimals, d)
	}
	c.Decimals = d
	return nil
}

// assetUnit accepts "ADA" (any case) or policy id hex (56) + asset name hex (0–64), lower-cased.
func assetUnit(s string) (string, error) {
	if strings.EqualFold(s, AssetADA) {
		return AssetADA, nil
	}
	u := strings.ToLower(s)
	if _, err := hex.DecodeString(u); err != nil || len(u) < 56 || len(u) > 56+64 {
		return "", cfgErr("asset", "want ADA or a native asset unit (56 hex characters of policy id + up to 64 of asset name), got %q", abbrev(s, 40))
	}
	return u, nil
}

func (c *Config) readSettings(m map[string]any) error {
	var err error
	if v, ok := m["min_confirmations"]; ok {
		if c.MinConfirmations, err = bounded("min_confirmations", v, 1, MaxMinConfirmations); err != nil {
			return err
		}
	}
	if v, ok := m["invoice_timeout"]; ok {
		d, err := duration("invoice_timeout", v)
		if err != nil {
			return err
		}
		if d < MinInvoiceTimeout || d > MaxInvoiceTimeout || d%time.Second != 0 {
			return cfgErr("invoice_timeout", "want whole seconds from %s to %s, got %s", MinInvoiceTimeout, MaxInvoiceTimeout, d)
		}
		c.InvoiceTimeout = d
	}
	if v, ok := m["require_memo"]; ok {
		if c.RequireMemo, err = boolean("require_memo", v); err != nil {
			return err
		}
	}
	if v, ok := m["amount_offsets"]; ok {
		n, err := bounded("amount_offsets", v, 0, MaxAmountOffsets)
		if err != nil {
			return err
		}
		c.AmountOffsets = uint64(n)
	}
	if c.AmountOffsets == 0 && !c.RequireMemo {
		return cfgErr("amount_offsets", "0 needs require_memo: true (without a unique amount or a memo, any payment of the price could be claimed for any invoice)")
	}
	return nil
}

func (c *Config) readPrices(m map[string]any) error {
	v, err := required(m, "prices")
	if err != nil {
		return err
	}
	pm, err := object("prices", v)
	if err != nil {
		return err
	}
	if len(pm) == 0 {
		return cfgErr("prices", "price at least one route (%s)", strings.Join(PricedRoutes, ", "))
	}
	c.Prices = make(map[string]uint64, len(pm))
	for _, route := range sortedKeys(pm) {
		if !slices.Contains(PricedRoutes, route) {
			return cfgErr("prices", "unknown route %q (priced routes: %s)", abbrev(route, 40), strings.Join(PricedRoutes, ", "))
		}
		var p uint64
		if _, isRule := pm[route].(map[string]any); isRule {
			var r PriceRule
			if p, r, err = readRule("prices."+route, route, pm[route]); err != nil {
				return err
			}
			if c.Rules == nil {
				c.Rules = map[string]PriceRule{}
			}
			c.Rules[route] = r
		} else if p, err = whole("prices."+route, pm[route]); err != nil {
			return err
		}
		if p == 0 {
			return cfgErr("prices."+route, "a price must be above 0")
		}
		c.Prices[route] = p
	}
	return nil
}

var partnerFields = []string{"discount_bps", "batch_target", "revenue_share", "split_mode"}

func (c *Config) readPartners(m map[string]any) error {
	v, ok := m["partners"]
	if !ok || v == nil {
		return nil
	}
	pm, err := object("partners", v)
	if err != nil {
		return err
	}
	c.Partners = make(map[string]Partner, len(pm))
	for _, name := range sortedKeys(pm) {
		if !partnerName.MatchString(name) {
			return cfgErr("partners", "partner name %q: want 1–64 letters, digits, '.', '_' or '-'", abbrev(name, 40))
		}
		p, err := c.readPartner("partners."+name, name, pm[name])
		if err != nil {
			return err
		}
		c.Partners[name] = p
	}
	return nil
}

func (c *Config) readPartner(path, name string, v any) (Partner, error) {
	m, err := object(path, v, partnerFields...)
	if err != nil {
		return Partner{}, err
	}
	p := Partner{Name: name, SplitMode: SplitAdditional}
	if v, ok := m["discount_bps"]; ok {
		if p.DiscountBPS, err = bounded(path+".discount_bps", v, 0, bpsWhole); err != nil {
			return Partner{}, err
		}
	}
	if v, ok := m["batch_target"]; ok && v != nil {
		if p.BatchTarget, err = bounded(path+".batch_target", v, 0, MaxBatchTarget); err != nil {
			return Partner{}, err
		}
	}
	if v, ok := m["split_mode"]; ok {
		s, err := str(path+".split_mode", v)
		if err != nil {
			return Partner{}, err
		}
		if s != SplitAdditional && s != SplitInclusive {
			return Partner{}, cfgErr(path+".split_mode", "want additional or inclusive, got %q", abbrev(s, 40))
		}
		p.SplitMode = s
	}
	if v, ok := m["revenue_share"]; ok && v != nil {
		if p.RevenueShare, err = c.readShares(path+".revenue_share", v); err != nil {
			return Partner{}, err
		}
	}
	return p, checkShareTotal(path, p)
}

func (c *Config) readShares(path string, v any) ([]Share, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, cfgErr(path, "want a list of {address, bps}, got %s", describe(v))
	}
	if len(list) > MaxShares {
		return nil, cfgErr(path, "at most %d outputs, got %d", MaxShares, len(list))
	}
	payTo, _ := cardano.ParseAddress(c.PayTo)
	seen := map[string]int{}
	shares := make([]Share, 0, len(list))
	for i, item := range list {
		at := fmt.Sprintf("%s[%d]", path, i)
		m, err := object(at, item, "address", "bps")
		if err != nil {
			return nil, err
		}
		av, err := required(m, "address")
		if err != nil {
			return nil, cfgErr(at+".address", "required")
		}
		s, err := str(at+".address", av)
		if err != nil {
			return nil, err
		}
		addr, err := paymentAddress(at+".address", s, c.Network)
		if err != nil {
			return nil, err
		}
		if addr.Equal(payTo) {
			return nil, cfgErr(at+".address", "is pay_to itself; a share must go to another address")
		}
		if j, dup := seen[addr.Hex()]; dup {
			return nil, cfgErr(at+".address", "same address as %s[%d]; merge the two", path, j)
		}
		seen[addr.Hex()] = i
		bv, err := required(m, "bps")
		if err != nil {
			return nil, cfgErr(at+".bps", "required")
		}
		bps, err := bounded(at+".bps", bv, 1, bpsWhole)
		if err != nil {
			return nil, err
		}
		shares = append(shares, Share{Address: s, BPS: bps})
	}
	return shares, nil
}

// checkShareTotal keeps an inclusive split from giving away the whole price, and an additional
// one from more than doubling it.
func checkShareTotal(path string, p Partner) error {
	total := 0
	for _, s := range p.RevenueShare {
		total += s.BPS
	}
	if p.SplitMode == SplitInclusive && total >= bpsWhole {
		return cfgErr(path+".revenue_share", "inclusive shares total %d bps; they must leave pay_to part of the price (< 10000)", total)
	}
	if total > bpsWhole {
		return cfgErr(path+".revenue_share", "shares total %d bps, more than the price itself (10000)", total)
	}
	return nil
}

// checkOutputs prices every route for every partner (and without one) and checks that no invoice
// could ask for an output below the minimum.
func (c *Config) checkOutputs() error {
	routes := sortedKeys(c.Prices)
	for _, route := range routes {
		for _, p := range c.cheapest(route) {
			t, err := c.TermsFor(route, "", p)
			if err != nil {
				return cfgErr("prices."+route, "%v", err)
			}
			if !c.enough(t.Amount) {
				return cfgErr("prices."+route, "%s is below %s%s", c.amount(t.Amount), c.minimum(), paramsNote(p))
			}
		}
	}
	for _, name := range sortedKeys(c.Partners) {
		path := "partners." + name
		for _, route := range routes {
			for _, p := range c.cheapest(route) {
				if err := c.checkPartner(path, route, name, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkPartner checks the outputs of one partner's invoice for route with p.
func (c *Config) checkPartner(path, route, name string, p Params) error {
	t, err := c.TermsFor(route, name, p)
	if err != nil {
		return cfgErr(path, "on %s: %v", route, err)
	}
	if !c.enough(t.Amount) {
		return cfgErr(path, "on %s pay_to would receive %s, below %s%s", route, c.amount(t.Amount), c.minimum(), paramsNote(p))
	}
	for i, o := range t.Outputs {
		if !c.enough(o.AmountUnits) {
			return cfgErr(fmt.Sprintf("%s.revenue_share[%d]", path, i), "%s on %s is below %s%s",
				c.amount(o.AmountUnits), route, c.minimum(), paramsNote(p))
		}
	}
	return nil
}

// paramsNote names the size and quality a price was checked at, when they are not the standard.
func paramsNote(p Params) string {
	if p.Size == "" && p.Quality == "" {
		return ""
	}
	return fmt.Sprintf(" (size %q, quality %q)", p.Size, p.Quality)
}

func (c *Config) enough(units uint64) bool {
	if c.Asset == AssetADA {
		return units >= MinUTxOLovelace
	}
	return units >= MinAssetUnits
}

func (c *Config) amount(units uint64) string {
	if c.Asset == AssetADA {
		return fmt.Sprintf("%d lovelace", units)
	}
	return fmt.Sprintf("%d units", units)
}

func (c *Config) minimum() string {
	if c.Asset == AssetADA {
		return fmt.Sprintf("the minimum UTxO (%d lovelace, ~1 ADA)", MinUTxOLovelace)
	}
	return fmt.Sprintf("the minimum of %d unit per output", MinAssetUnits)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
