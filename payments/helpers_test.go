package payments_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

// addr returns a deterministic address of network: an enterprise key address (type 6) for
// seeds below 100, a base address (type 0) otherwise.
func addr(t testing.TB, network cardano.Network, seed byte) string {
	t.Helper()
	nib, hrp := byte(cardano.NetworkTestnet), "addr_test"
	if network == cardano.Mainnet {
		nib, hrp = cardano.NetworkMainnet, "addr"
	}
	raw := append([]byte{0x60 | nib}, bytes.Repeat([]byte{seed}, 28)...)
	if seed >= 100 {
		raw = append([]byte{0x00 | nib}, bytes.Repeat([]byte{seed}, 56)...)
	}
	s, err := cardano.EncodeBech32(hrp, raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rawAddr(t testing.TB, s string) []byte {
	t.Helper()
	a, err := cardano.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a.Raw
}

// baseConfig is a valid configuration as a tree that cases change before encoding it.
func baseConfig(t testing.TB) map[string]any {
	return map[string]any{
		"network":           "mainnet",
		"pay_to":            addr(t, cardano.Mainnet, 101),
		"asset":             "ADA",
		"decimals":          6,
		"min_confirmations": 2,
		"invoice_timeout":   "300s",
		"require_memo":      true,
		"prices": map[string]any{
			"/chat": 4_000_000, "/token-analysis": 4_000_000, "/images/generate": 5_000_000,
			"/images/edit": 5_000_000, "/images/upload-and-edit": 5_000_000,
		},
		"partners": map[string]any{
			"acme": map[string]any{
				"discount_bps": 2000, "batch_target": 100, "split_mode": "additional",
				"revenue_share": []any{map[string]any{"address": addr(t, cardano.Mainnet, 2), "bps": 1000}},
			},
			"beta": map[string]any{
				"discount_bps": 0, "split_mode": "inclusive",
				"revenue_share": []any{map[string]any{"address": addr(t, cardano.Mainnet, 3), "bps": 2500}},
			},
			"plain": map[string]any{"discount_bps": 1000},
		},
	}
}

func encodeYAML(t testing.TB, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, tree map[string]any) *payments.Config {
	t.Helper()
	c, err := payments.Parse(encodeYAML(t, tree), ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
