package payments_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/payments"
)

// imageRule is baseConfig with /images/generate priced per image, by size and by quality.
func imageRule(t *testing.T) *payments.Config {
	tree := baseConfig(t)
	tree["prices"].(map[string]any)["/images/generate"] = map[string]any{
		"price": 5_000_000, "per_image": true,
		"size_multipliers":    map[string]any{"1536x1024": 15000, "1024x1024": 10000},
		"quality_multipliers": map[string]any{"low": 8000, "high": 40000},
	}
	return mustParse(t, tree)
}

func TestImagePrices(t *testing.T) {
	c := imageRule(t)
	cases := []struct {
		p    payments.Params
		want uint64
	}{
		{payments.Params{}, 5_000_000},
		{payments.Params{N: 1, Size: "1024x1024"}, 5_000_000},
		{payments.Params{N: 3, Size: "1024x1024"}, 15_000_000},
		{payments.Params{N: 1, Size: "1024x1024", Quality: "low"}, 4_000_000},
		{payments.Params{N: 3, Size: "1024x1024", Quality: "medium"}, 15_000_000}, // no entry: ×1
		{payments.Params{N: 10, Size: "1536x1024", Quality: "high"}, 300_000_000},
		{payments.Params{N: 1, Size: "256x256"}, 5_000_000},
	}
	for _, tc := range cases {
		got, err := c.Price("/images/generate", tc.p)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %d, %v; want %d", tc.p, got, err, tc.want)
		}
	}
	// The partner's discount and shares apply to the scaled price.
	terms, err := c.TermsFor("/images/generate", "plain", payments.Params{N: 3, Size: "1536x1024"})
	if err != nil || terms.Price != 22_500_000 || terms.Amount != 20_250_000 {
		t.Fatalf("partner terms %+v, %v", terms, err)
	}
	pub := c.Public().PriceRules["/images/generate"]
	if !pub.PerImage || pub.SizeMultipliersBPS["1536x1024"] != 15000 || pub.QualityMultipliersBPS["high"] != 40000 || len(c.Public().PriceRules) != 1 {
		t.Fatalf("public rules %+v", c.Public().PriceRules)
	}
	// Flat routes ignore the parameters.
	if got, err := c.Price("/images/edit", payments.Params{N: 4, Quality: "high"}); err != nil || got != 5_000_000 {
		t.Fatalf("flat route: %d, %v", got, err)
	}
	// Rounding is down (the payer's favour); overflow is an error, never a wrap.
	tree := baseConfig(t)
	tree["partners"] = map[string]any{}
	tree["prices"].(map[string]any)["/images/generate"] = map[string]any{"price": 2_000_003, "per_image": true,
		"quality_multipliers": map[string]any{"low": 9999}}
	odd := mustParse(t, tree)
	if got, _ := odd.Price("/images/generate", payments.Params{N: 1, Quality: "low"}); got != 1_999_802 {
		t.Fatalf("rounding: %d", got)
	}
	tree["prices"].(map[string]any)["/images/generate"] = map[string]any{"price": math.MaxUint64 / 2, "per_image": true}
	tree["amount_offsets"] = 0
	huge := mustParse(t, tree)
	if _, err := huge.Price("/images/generate", payments.Params{N: 3}); !errors.Is(err, payments.ErrOverflow) {
		t.Fatalf("overflow: %v", err)
	}
}

// The binding differs whenever a priced parameter does; defaults are the caller's to fill.
func TestBinding(t *testing.T) {
	base := payments.Params{N: 1, Size: "1024x1024", Quality: "low", Model: "gpt-image-1"}
	seen := map[string]payments.Params{payments.Binding("/images/generate", base): base}
	for _, p := range []payments.Params{
		{N: 10, Size: "1024x1024", Quality: "low", Model: "gpt-image-1"},
		{N: 1, Size: "1536x1024", Quality: "low", Model: "gpt-image-1"},
		{N: 1, Size: "1024x1024", Quality: "high", Model: "gpt-image-1"},
		{N: 1, Size: "1024x1024", Quality: "low", Model: "dall-e-3"},
	} {
		b := payments.Binding("/images/generate", p)
		if _, dup := seen[b]; dup {
			t.Fatalf("%+v binds like %+v", p, seen[b])
		}
		seen[b] = p
	}
	if payments.Binding("/images/edit", base) == payments.Binding("/images/generate", base) || payments.Binding("/chat", payments.Params{}) != "" {
		t.Fatal("the route is not bound")
	}
}

func TestPriceRuleConfig(t *testing.T) {
	set := func(route string, v any) string {
		tree := baseConfig(t)
		tree["prices"].(map[string]any)[route] = v
		_, err := payments.Parse(encodeYAML(t, tree), ".yaml")
		if err == nil {
			return ""
		}
		return err.Error()
	}
	for _, tc := range []struct {
		route string
		v     any
		want  string
	}{
		{"/chat", map[string]any{"price": 4_000_000, "per_image": true}, "prices./chat: only image routes"},
		{"/images/generate", map[string]any{"per_image": true}, "prices./images/generate.price: required"},
		{"/images/generate", map[string]any{"price": 5_000_000, "colour": 1}, `prices./images/generate: unknown field "colour"`},
		{"/images/generate", map[string]any{"price": 5_000_000, "size_multipliers": map[string]any{"big": 20000}}, `prices./images/generate.size_multipliers: invalid key "big"`},
		{"/images/generate", map[string]any{"price": 5_000_000, "quality_multipliers": map[string]any{"low": 0}}, "prices./images/generate.quality_multipliers.low: want a whole number from 1 to 1000000"},
		// A multiplier that takes an output below the minimum UTxO is refused at load.
		{"/images/generate", map[string]any{"price": 5_000_000, "quality_multipliers": map[string]any{"low": 1000}}, `prices./images/generate: 500000 lovelace is below`},
		{"/images/generate", map[string]any{"price": 5_000_000, "per_image": true, "size_multipliers": map[string]any{"1536x1024": 15000}}, ""},
	} {
		if got := set(tc.route, tc.v); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s %v: %q, want %q", tc.route, tc.v, got, tc.want)
		}
	}
}
