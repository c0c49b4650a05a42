package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tbackend/tbackend/cardano"
)

// AssetADA is the asset value of invoices paid in lovelace.
const AssetADA = "ADA"

// Split modes of a partner's revenue share.
const (
	SplitAdditional = "additional" // the shares are paid on top of the route price
	SplitInclusive  = "inclusive"  // the shares are taken out of the route price
)

// PricedRoutes are the routes a price may be set for. /images/variations is deliberately not one:
// it is only available with an API key.
var PricedRoutes = []string{"/chat", "/token-analysis", "/images/generate", "/images/edit", "/images/upload-and-edit"}

// Config is a validated payments configuration. Build it with Load or Parse; every field is
// checked, so code using a *Config can rely on it.
type Config struct {
	Network          cardano.Network
	PayTo            string // bech32 address, as written in the file
	Asset            string // AssetADA or a native asset unit (policy id hex + asset name hex, lower case)
	Decimals         int
	MinConfirmations int
	InvoiceTimeout   time.Duration
	RequireMemo      bool                 // the paying transaction must carry the invoice's memo (a CIP-20 message)
	AmountOffsets    uint64               // an invoice's amount is its price plus a unique 1..AmountOffsets (0: the price)
	Prices           map[string]uint64    // route → price per call, in the asset's smallest unit
	Rules            map[string]PriceRule // image route → how its price scales with the request (absent: flat)
	Partners         map[string]Partner
}

// Partner is one X-Partner's terms.
type Partner struct {
	Name         string
	DiscountBPS  int // basis points off the route price (0–10000)
	BatchTarget  int // calls one invoice buys (prepaid credits); 0 = pay per call
	RevenueShare []Share
	SplitMode    string // SplitAdditional or SplitInclusive
}

// Share is one revenue-share output: BPS basis points of the (discounted) price, paid to Address.
type Share struct {
	Address string
	BPS     int
}

// Chain is the chain name of the 402 body ("cardano-mainnet", …).
func (c *Config) Chain() string { return c.Network.Chain() }

// ConfigError is one invalid setting. Its text is a single line naming the field, e.g.
// `prices: unknown route "/foo"`; the caller adds the variable name (PAYMENTS_CONFIG).
type ConfigError struct {
	Field string // dotted path: "pay_to", "partners.acme.revenue_share[0]"; "" for the whole file
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxConfigBytes bounds the file: a real one is a few kilobytes.
const maxConfigBytes = 1 << 20

// Load reads and validates the file at path; the extension (.yaml, .yml or .json) picks the format.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return Parse(data, filepath.Ext(path))
}

// Parse validates a configuration given as YAML or JSON; ext is the file extension
// (".yaml", ".yml" or ".json", with or without the dot). Unknown fields are errors.
func Parse(data []byte, ext string) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, cfgErr("", "the file is larger than %d bytes", maxConfigBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, cfgErr("", "the file is empty")
	}
	var tree any
	switch strings.ToLower(strings.TrimPrefix(ext, ".")) {
	case "yaml", "yml":
		if err := yaml.Unmarshal(data, &tree); err != nil {
			return nil, cfgErr("", "invalid YAML: %s", oneLine(err.Error()))
		}
	case "json":
		if err := decodeJSON(data, &tree); err != nil {
			return nil, cfgErr("", "invalid JSON: %s", oneLine(err.Error()))
		}
	default:
		return nil, cfgErr("", "unsupported file extension %q (want .yaml, .yml or .json)", ext)
	}
	return fromTree(tree)
}

// decodeJSON decodes one JSON value, keeping numbers exact and refusing duplicate keys (a second
// "prices" silently winning would be a costly surprise).
func decodeJSON(data []byte, v *any) error {
	if err := checkJSONDuplicates(json.NewDecoder(bytes.NewReader(data))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return errors.New("data after the top-level value")
	}
	return nil
}

// checkJSONDuplicates walks the tokens of one JSON value and reports a key repeated in an object.
func checkJSONDuplicates(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("duplicate key %q", key)
			}
			seen[key] = true
			if err := checkJSONDuplicates(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := checkJSONDuplicates(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
