package payments_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

func TestParseValid(t *testing.T) {
	tree := baseConfig(t)
	for _, format := range []string{".yaml", ".yml", ".json", "json"} {
		data := encodeYAML(t, tree)
		if strings.HasSuffix(format, "json") {
			data = encodeJSON(t, tree)
		}
		c, err := payments.Parse(data, format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		want := &payments.Config{
			Network: "mainnet", PayTo: addr(t, cardano.Mainnet, 101), Asset: "ADA", Decimals: 6,
			MinConfirmations: 2, InvoiceTimeout: 300 * time.Second, RequireMemo: true, AmountOffsets: 999,
			Prices: map[string]uint64{"/chat": 4_000_000, "/token-analysis": 4_000_000, "/images/generate": 5_000_000,
				"/images/edit": 5_000_000, "/images/upload-and-edit": 5_000_000},
			Partners: map[string]payments.Partner{
				"acme": {Name: "acme", DiscountBPS: 2000, BatchTarget: 100, SplitMode: "additional",
					RevenueShare: []payments.Share{{Address: addr(t, cardano.Mainnet, 2), BPS: 1000}}},
				"beta": {Name: "beta", SplitMode: "inclusive",
					RevenueShare: []payments.Share{{Address: addr(t, cardano.Mainnet, 3), BPS: 2500}}},
				"plain": {Name: "plain", DiscountBPS: 1000, SplitMode: "additional"},
			},
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", format, c, want)
		}
		if c.Chain() != "cardano-mainnet" {
			t.Fatalf("chain %q", c.Chain())
		}
	}
}

func TestParseDefaultsAndNativeAsset(t *testing.T) {
	c, err := payments.Parse([]byte("network: preprod\npay_to: "+addr(t, cardano.Preprod, 9)+"\nprices: {/chat: 1000000}\n"), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Asset != "ADA" || c.Decimals != 6 || c.MinConfirmations != 1 || c.InvoiceTimeout != 300*time.Second ||
		c.RequireMemo || c.AmountOffsets != 999 || len(c.Partners) != 0 || c.Chain() != "cardano-preprod" {
		t.Fatalf("defaults: %+v", c)
	}
	unit := strings.Repeat("AB", 28) + "534E454B"
	c, err = payments.Parse([]byte(`{"network":"preview","pay_to":"`+addr(t, cardano.Preview, 9)+`","asset":"`+unit+
		`","decimals":0,"invoice_timeout":90,"require_memo":true,"amount_offsets":0,"prices":{"/chat":1}}`), ".json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Asset != strings.ToLower(unit) || c.Decimals != 0 || c.InvoiceTimeout != 90*time.Second || !c.RequireMemo || c.AmountOffsets != 0 {
		t.Fatalf("native: %+v", c)
	}
}

// Every invalid setting fails with one line naming the field, in YAML and in JSON alike.
func TestParseInvalid(t *testing.T) {
	testnet := addr(t, cardano.Preprod, 7)
	mainnet2 := addr(t, cardano.Mainnet, 2)
	set := func(key string, v any) func(map[string]any) {
		return func(m map[string]any) { m[key] = v }
	}
	del := func(key string) func(map[string]any) { return func(m map[string]any) { delete(m, key) } }
	partner := func(name string, p map[string]any) func(map[string]any) {
		return func(m map[string]any) { m["partners"].(map[string]any)[name] = p }
	}
	price := func(route string, v any) func(map[string]any) {
		return func(m map[string]any) { m["prices"].(map[string]any)[route] = v }
	}
	share := func(address string, bps any) map[string]any { return map[string]any{"address": address, "bps": bps} }
	routes := "/chat, /token-analysis, /images/generate, /images/edit, /images/upload-and-edit"
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown field", set("pricez", 1), `unknown field "pricez" (known fields: network, pay_to, asset, decimals, min_confirmations, invoice_timeout, require_memo, amount_offsets, prices, partners)`},
		{"no network", del("network"), "network: required"},
		{"amount_offsets too big", set("amount_offsets", 1_000_001), "amount_offsets: want a whole number from 0 to 1000000, got 1000001"},
		{"no unique amount and no memo", func(m map[string]any) {
			m["amount_offsets"], m["require_memo"] = 0, false
		}, "amount_offsets: 0 needs require_memo: true (without a unique amount or a memo, any payment of the price could be claimed for any invoice)"},
		{"bad network", set("network", "testnet"), `network: want mainnet, preprod or preview, got "testnet"`},
		{"network not a string", set("network", 1), "network: want a string, got 1"},
		{"no pay_to", del("pay_to"), "pay_to: required"},
		{"testnet pay_to on mainnet", set("pay_to", testnet), "pay_to: " + testnet[:16] + "… is a preprod/preview address but network is mainnet"},
		{"mainnet pay_to on preprod", func(m map[string]any) {
			m["network"] = "preprod"
			m["partners"] = nil
		}, "pay_to: " + addr(t, cardano.Mainnet, 101)[:16] + "… is a mainnet address but network is preprod"},
		{"stake address", set("pay_to", "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"), "pay_to: stake1uyehkck0lajq8gr28t… is a stake address, which cannot receive payments"},
		{"hex address", set("pay_to", "61"+strings.Repeat("11", 28)), "pay_to: write the address in bech32 (addr1… / addr_test1…), not hex"},
		{"not an address", set("pay_to", "addr1notanaddress"), "pay_to: addr1notanaddress is not a Cardano address"},
		{"byron", set("pay_to", "37btjrVyb4KDXBNC4haBVPCrro8AQPHwvCMp3RFhhSVWwfFmZ6wwzSK6JK1hY6wHNmtrpTf1kdbva8TCneM2YsiXT7mrzT21EacHnPpz5YyUdj64na"), "pay_to: 37btjrVyb4KDXBNC4haBVPCr… is a Byron address; use a Shelley address (addr1… / addr_test1…)"},
		{"prefix of another network", set("pay_to", "addr1vpu5vlrf4xkxv2qpwngf6cjhtw542ayty80v8dyr49rf5eg0yu80w"), "pay_to: addr1vpu5vlrf4xk… is a preprod/preview address but network is mainnet"},
		{"bad asset", set("asset", "SNEK"), `asset: want ADA or a native asset unit (56 hex characters of policy id + up to 64 of asset name), got "SNEK"`},
		{"asset name too long", set("asset", strings.Repeat("ab", 28+33)), `asset: want ADA or a native asset unit (56 hex characters of policy id + up to 64 of asset name), got "` + strings.Repeat("ab", 20) + `…"`},
		{"native asset without decimals", func(m map[string]any) {
			m["asset"] = strings.Repeat("ab", 28)
			delete(m, "decimals")
		}, "decimals: required for a native asset"},
		{"decimals too big", func(m map[string]any) {
			m["asset"] = strings.Repeat("ab", 28)
			m["decimals"] = 20
		}, "decimals: want a whole number from 0 to 19, got 20"},
		{"ADA decimals", set("decimals", 2), "decimals: ADA has 6 decimals, got 2"},
		{"negative decimals", set("decimals", -1), "decimals: want a whole number from 0 to 19, got -1"},
		{"min_confirmations 0", set("min_confirmations", 0), "min_confirmations: want a whole number from 1 to 2160, got 0"},
		{"timeout too short", set("invoice_timeout", "10s"), "invoice_timeout: want whole seconds from 30s to 24h0m0s, got 10s"},
		{"timeout too long", set("invoice_timeout", "25h"), "invoice_timeout: want whole seconds from 30s to 24h0m0s, got 25h0m0s"},
		{"timeout fraction", set("invoice_timeout", "90.5s"), "invoice_timeout: want whole seconds from 30s to 24h0m0s, got 1m30.5s"},
		{"timeout garbage", set("invoice_timeout", "soon"), `invoice_timeout: want a duration such as 300s or 5m, got "soon"`},
		{"require_memo string", set("require_memo", "yes"), `require_memo: want true or false, got "yes"`},
		{"no prices", del("prices"), "prices: required"},
		{"empty prices", set("prices", map[string]any{}), "prices: price at least one route (" + routes + ")"},
		{"prices not a map", set("prices", []any{1}), "prices: want a mapping, got a list"},
		{"unknown route", price("/foo", 1_000_000), `prices: unknown route "/foo" (priced routes: ` + routes + ")"},
		{"variations not priced", price("/images/variations", 1_000_000), `prices: unknown route "/images/variations" (priced routes: ` + routes + ")"},
		{"zero price", price("/chat", 0), "prices./chat: a price must be above 0"},
		{"negative price", price("/chat", -5), "prices./chat: want a whole number ≥ 0, got -5"},
		{"fractional price", price("/chat", 1.5), "prices./chat: want a whole number ≥ 0, got 1.5"},
		{"price below min UTxO", price("/chat", 999_999), "prices./chat: 999999 lovelace is below the minimum UTxO (1000000 lovelace, ~1 ADA)"},
		{"partner unknown field", partner("acme", map[string]any{"discount": 1}), `partners.acme: unknown field "discount" (known fields: discount_bps, batch_target, revenue_share, split_mode)`},
		{"partner bad name", partner("a b", map[string]any{}), `partners: partner name "a b": want 1–64 letters, digits, '.', '_' or '-'`},
		{"discount above 100%", partner("acme", map[string]any{"discount_bps": 10001}), "partners.acme.discount_bps: want a whole number from 0 to 10000, got 10001"},
		{"discount below min UTxO", partner("acme", map[string]any{"discount_bps": 8000}), "partners.acme: on /chat pay_to would receive 800000 lovelace, below the minimum UTxO (1000000 lovelace, ~1 ADA)"},
		{"full discount", partner("acme", map[string]any{"discount_bps": 10000}), "partners.acme: on /chat pay_to would receive 0 lovelace, below the minimum UTxO (1000000 lovelace, ~1 ADA)"},
		{"batch negative", partner("acme", map[string]any{"batch_target": -1}), "partners.acme.batch_target: want a whole number from 0 to 1000000, got -1"},
		{"split mode", partner("acme", map[string]any{"split_mode": "half"}), `partners.acme.split_mode: want additional or inclusive, got "half"`},
		{"share not a list", partner("acme", map[string]any{"revenue_share": "all"}), `partners.acme.revenue_share: want a list of {address, bps}, got "all"`},
		{"share unknown field", partner("acme", map[string]any{"revenue_share": []any{map[string]any{"address": mainnet2, "bps": 5000, "memo": "x"}}}),
			`partners.acme.revenue_share[0]: unknown field "memo" (known fields: address, bps)`},
		{"share without address", partner("acme", map[string]any{"revenue_share": []any{map[string]any{"bps": 5000}}}), "partners.acme.revenue_share[0].address: required"},
		{"share without bps", partner("acme", map[string]any{"revenue_share": []any{map[string]any{"address": mainnet2}}}), "partners.acme.revenue_share[0].bps: required"},
		{"share wrong network", partner("acme", map[string]any{"revenue_share": []any{share(testnet, 5000)}}),
			"partners.acme.revenue_share[0].address: " + testnet[:16] + "… is a preprod/preview address but network is mainnet"},
		{"share to pay_to", partner("acme", map[string]any{"revenue_share": []any{share(addr(t, cardano.Mainnet, 101), 5000)}}),
			"partners.acme.revenue_share[0].address: is pay_to itself; a share must go to another address"},
		{"duplicate share", partner("acme", map[string]any{"revenue_share": []any{share(mainnet2, 5000), share(mainnet2, 5000)}}),
			"partners.acme.revenue_share[1].address: same address as partners.acme.revenue_share[0]; merge the two"},
		{"share bps 0", partner("acme", map[string]any{"revenue_share": []any{share(mainnet2, 0)}}), "partners.acme.revenue_share[0].bps: want a whole number from 1 to 10000, got 0"},
		{"share below min UTxO", partner("acme", map[string]any{"revenue_share": []any{share(mainnet2, 1000)}}),
			"partners.acme.revenue_share[0]: 400000 lovelace on /chat is below the minimum UTxO (1000000 lovelace, ~1 ADA)"},
		{"inclusive leaves pay_to below min", partner("acme", map[string]any{"split_mode": "inclusive", "revenue_share": []any{share(mainnet2, 8000)}}),
			"partners.acme: on /chat pay_to would receive 800000 lovelace, below the minimum UTxO (1000000 lovelace, ~1 ADA)"},
		{"inclusive takes everything", partner("acme", map[string]any{"split_mode": "inclusive", "revenue_share": []any{share(mainnet2, 10000)}}),
			"partners.acme.revenue_share: inclusive shares total 10000 bps; they must leave pay_to part of the price (< 10000)"},
		{"additional above 100%", partner("acme", map[string]any{"revenue_share": []any{share(mainnet2, 6000), share(addr(t, cardano.Mainnet, 4), 4001)}}),
			"partners.acme.revenue_share: shares total 10001 bps, more than the price itself (10000)"},
		{"batch overflow", func(m map[string]any) {
			m["prices"] = map[string]any{"/chat": uint64(1) << 60}
			m["partners"] = map[string]any{"acme": map[string]any{"batch_target": 1000}}
		}, "partners.acme: on /chat: payments: amount overflows 64 bits: price 1152921504606846976 × batch 1000"},
		{"native asset zero share", func(m map[string]any) {
			m["asset"] = strings.Repeat("ab", 28)
			m["decimals"] = 0
			m["prices"] = map[string]any{"/chat": 5}
			m["partners"] = map[string]any{"acme": map[string]any{"revenue_share": []any{share(mainnet2, 1000)}}}
		}, "partners.acme.revenue_share[0]: 0 units on /chat is below the minimum of 1 unit per output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree := baseConfig(t)
			c.change(tree)
			for _, f := range []struct {
				ext  string
				data []byte
			}{{".yaml", encodeYAML(t, tree)}, {".json", encodeJSON(t, tree)}} {
				cfg, err := payments.Parse(f.data, f.ext)
				if err == nil {
					t.Fatalf("%s: accepted: %+v", f.ext, cfg)
				}
				var ce *payments.ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("%s: %T %v, want a *ConfigError", f.ext, err, err)
				}
				if got := err.Error(); got != c.want {
					t.Fatalf("%s:\n got %s\nwant %s", f.ext, got, c.want)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("%s: error spans lines: %q", f.ext, err)
				}
			}
		})
	}
}

func TestParseSyntax(t *testing.T) {
	cases := []struct {
		name, ext, data, want string
	}{
		{"empty", ".yaml", "  \n", "the file is empty"},
		{"bad yaml", ".yaml", "network: [", "invalid YAML: "},
		{"duplicate yaml key", ".yaml", "network: mainnet\nnetwork: preprod\n", "invalid YAML: "},
		{"bad json", ".json", `{"network": }`, "invalid JSON: "},
		{"duplicate json key", ".json", `{"network":"mainnet","network":"preprod"}`, `invalid JSON: duplicate key "network"`},
		{"nested duplicate json key", ".json", `{"prices":{"/chat":1,"/chat":2}}`, `invalid JSON: duplicate key "/chat"`},
		{"trailing json", ".json", `{"network":"mainnet"} {}`, "invalid JSON: data after the top-level value"},
		{"not a mapping", ".yaml", "- 1\n- 2\n", "want a mapping, got a list"},
		{"toml", ".toml", "network = 1", `unsupported file extension ".toml" (want .yaml, .yml or .json)`},
	}
	for _, c := range cases {
		_, err := payments.Parse([]byte(c.data), c.ext)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want %q…", c.name, err, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "payments.yaml")
	if err := os.WriteFile(good, encodeYAML(t, baseConfig(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := payments.Load(good); err != nil || c.Network != "mainnet" {
		t.Fatalf("Load: %+v %v", c, err)
	}
	js := filepath.Join(dir, "payments.json")
	if err := os.WriteFile(js, encodeJSON(t, baseConfig(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := payments.Load(js); err != nil {
		t.Fatalf("Load json: %v", err)
	}
	missing := filepath.Join(dir, "nope.yaml")
	if _, err := payments.Load(missing); err == nil || err.Error() != "cannot read "+missing+": no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := payments.Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encodeYAML(f, baseConfig(f)), ".yaml")
	f.Add(encodeJSON(f, baseConfig(f)), ".json")
	f.Add([]byte("network: preprod\npay_to: "+addr(f, cardano.Preprod, 9)+"\nprices: {/chat: 1000000}\n"), ".yml")
	f.Add([]byte(`{"prices":{"/chat":1e400}}`), ".json")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		c, err := payments.Parse(data, ext)
		if err != nil {
			var ce *payments.ConfigError
			if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("not a one-line *ConfigError: %q", err)
			}
			return
		}
		// Whatever loads prices every route for every partner.
		for route := range c.Prices {
			if _, err := c.Terms(route, ""); err != nil {
				t.Fatalf("%s: %v", route, err)
			}
			for name := range c.Partners {
				if _, err := c.Terms(route, name); err != nil {
					t.Fatalf("%s/%s: %v", route, name, err)
				}
			}
		}
	})
}

// The documented example loads, and prices as its comments say.
func TestExampleConfig(t *testing.T) {
	c, err := payments.Load("testdata/payments.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	acme, err := c.Terms("/chat", "acme")
	if err != nil || acme.Amount != 160_000_000 || acme.Outputs[0].AmountUnits != 16_000_000 || acme.Total != 176_000_000 {
		t.Fatalf("acme %+v %v", acme, err)
	}
	studio, err := c.Terms("/images/edit", "studio")
	if err != nil || studio.Amount != 2_500_000 || studio.Outputs[0].AmountUnits != 2_500_000 || studio.Total != 5_000_000 {
		t.Fatalf("studio %+v %v", studio, err)
	}
	if p, err := c.Price("/images/generate", payments.Params{N: 2, Size: "1536x1024", Quality: "high"}); err != nil || p != 30_000_000 {
		t.Fatalf("two wide high-quality images: %d %v", p, err)
	}
	if c.RequireMemo || c.AmountOffsets != 999 {
		t.Fatalf("memo %v, offsets %d", c.RequireMemo, c.AmountOffsets)
	}
}
