package tokenfacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/cardano"
)

// testAddr builds a mainnet bech32 address from a header byte and credentials made of one
// repeated byte; stake is used only for base addresses (header types 0–3).
func testAddr(t *testing.T, header, payment, stake byte) string {
	t.Helper()
	raw := append([]byte{header}, bytes.Repeat([]byte{payment}, cardano.CredentialLength)...)
	if header>>4 <= cardano.AddrBaseScriptScript {
		raw = append(raw, bytes.Repeat([]byte{stake}, cardano.CredentialLength)...)
	}
	s, err := cardano.EncodeBech32("addr", raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fp(x float64) *float64 { return &x }
func ip(x int) *int         { return &x }

func bi(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = error
	}{
		{"0", "0"},
		{"123", "123"},
		{"007", "7"},
		{"18446744073709551615", "18446744073709551615"},
		{"18446744073709551616", "18446744073709551616"}, // 2^64
		{strings.Repeat("9", MaxQuantityDigits), strings.Repeat("9", MaxQuantityDigits)},
		{strings.Repeat("9", MaxQuantityDigits+1), ""},
		{"", ""},
		{"-1", ""},
		{"+1", ""},
		{" 1", ""},
		{"1 ", ""},
		{"1.0", ""},
		{"1e3", ""},
		{"0x10", ""},
		{"1_000", ""},
		{"abc", ""},
		{"١٢", ""}, // Arabic-Indic digits
	}
	for _, tt := range tests {
		got, err := ParseQuantity(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, ErrQuantity) {
				t.Errorf("ParseQuantity(%q) = %v, %v; want ErrQuantity", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseQuantity(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestConcentration(t *testing.T) {
	const (
		baseKK    = 0x01 // base, payment key, stake key, mainnet
		baseSK    = 0x11 // base, payment script, stake key
		entKey    = 0x61 // enterprise, payment key
		entScript = 0x71 // enterprise, payment script
	)
	a := func(header, pay, stake byte) string { return testAddr(t, header, pay, stake) }
	two70 := new(big.Int).Lsh(big.NewInt(1), 70)

	tests := []struct {
		name     string
		holdings []Holding
		supply   *big.Int
		complete bool
		want     Holders
	}{
		{
			name: "four equal holders",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(25)},
				{a(baseKK, 2, 12), big.NewInt(25)},
				{a(baseKK, 3, 13), big.NewInt(25)},
				{a(baseKK, 4, 14), big.NewInt(25)},
			},
			supply: big.NewInt(100), complete: true,
			want: Holders{
				HolderCount: 4, StakeHolderCount: 4,
				Top1Pct: fp(25), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.25), Gini: fp(0), Nakamoto: ip(3), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			name: "three equal holders round to 4 decimals",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(1)},
				{a(baseKK, 2, 12), big.NewInt(1)},
				{a(baseKK, 3, 13), big.NewInt(1)},
			},
			supply: big.NewInt(3), complete: true,
			want: Holders{
				HolderCount: 3, StakeHolderCount: 3,
				Top1Pct: fp(33.3333), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.3333), Gini: fp(0), Nakamoto: ip(2), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			// Ascending 1,1,1,97: G = (2·394 − 5·100)/(4·100) = 0.72; HHI = .9409 + 3·.0001.
			name: "one whale",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(1)},
				{a(baseKK, 2, 12), big.NewInt(97)},
				{a(baseKK, 3, 13), big.NewInt(1)},
				{a(baseKK, 4, 14), big.NewInt(1)},
			},
			supply: big.NewInt(100), complete: true,
			want: Holders{
				HolderCount: 4, StakeHolderCount: 4,
				Top1Pct: fp(97), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.9412), Gini: fp(0.72), Nakamoto: ip(1), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			// Two base addresses share stake credential 11 → one group of 50; the enterprise
			// key address is its own group and not stake-keyed.
			name: "stake grouping merges base addresses",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(30)},
				{a(baseKK, 2, 11), big.NewInt(20)},
				{a(entKey, 3, 0), big.NewInt(50)},
			},
			supply: big.NewInt(100), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 1,
				Top1Pct: fp(50), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.5), Gini: fp(0), Nakamoto: ip(2), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			// Script holdings (40 at a script base address that shares stake key 11 with a key
			// holder, 20 at an enterprise script address) are excluded from holders and do not
			// merge into the key holder's group. Holders 30 and 10: HHI .09+.01; Gini
			// (2·70 − 3·40)/(2·40) = 0.25; 40% never exceeds half the supply → no Nakamoto.
			name: "script addresses excluded",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(30)},
				{a(baseSK, 5, 11), big.NewInt(40)},
				{a(entScript, 6, 0), big.NewInt(20)},
				{a(baseKK, 2, 12), big.NewInt(10)},
			},
			supply: big.NewInt(100), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 2,
				Top1Pct: fp(30), Top10Pct: fp(40), Top100Pct: fp(40),
				HHI: fp(0.1), Gini: fp(0.25), ScriptAddressPct: fp(60), Complete: true,
			},
		},
		{
			name: "partial scan leaves distribution figures nil",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(30)},
				{a(entScript, 6, 0), big.NewInt(20)},
				{a(baseKK, 2, 12), big.NewInt(10)},
			},
			supply: big.NewInt(1000), complete: false,
			want: Holders{
				HolderCount: 2, HolderCountIsLowerBound: true, StakeHolderCount: 2,
				ScriptAddressPct: fp(2), Complete: false,
			},
		},
		{
			// 3·2^70 and 2^70 of 2^72: top1 75%, HHI 9/16+1/16, Gini (2·7 − 3·4)/(2·4).
			name: "quantities beyond 2^64",
			holdings: []Holding{
				{a(baseKK, 1, 11), new(big.Int).Mul(two70, big.NewInt(3))},
				{a(baseKK, 2, 12), two70},
			},
			supply: new(big.Int).Lsh(big.NewInt(1), 72), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 2,
				Top1Pct: fp(75), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.625), Gini: fp(0.25), Nakamoto: ip(1), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			// Beyond float64 precision (10^30+2 is not representable): 10^30 of 10^30+2 is
			// just below 100% and rounds to 100; Gini (10^30−2)/(2·(10^30+2)) rounds to 0.5.
			name: "exact arithmetic at large magnitudes",
			holdings: []Holding{
				{a(baseKK, 1, 11), bi("1000000000000000000000000000000")},
				{a(baseKK, 2, 12), big.NewInt(2)},
			},
			supply: bi("1000000000000000000000000000002"), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 2,
				Top1Pct: fp(100), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(1), Gini: fp(0.5), Nakamoto: ip(1), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			name: "unparsed addresses grouped by raw text",
			holdings: []Holding{
				{"not-an-address", big.NewInt(10)},
				{"not-an-address", big.NewInt(10)},
				{a(baseKK, 1, 11), big.NewInt(20)},
			},
			supply: big.NewInt(40), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 1, Unparsed: 2,
				Top1Pct: fp(50), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.5), Gini: fp(0), Nakamoto: ip(2), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			name: "nil supply and zero quantities",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(3)},
				{a(baseKK, 2, 12), big.NewInt(1)},
				{a(baseKK, 3, 13), big.NewInt(0)},
				{a(baseKK, 4, 14), nil},
			},
			supply: nil, complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 2,
				Top1Pct: fp(75), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.625), Gini: fp(0.25), Nakamoto: ip(1), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			name: "supply smaller than holdings uses the holdings",
			holdings: []Holding{
				{a(baseKK, 1, 11), big.NewInt(3)},
				{a(baseKK, 2, 12), big.NewInt(1)},
			},
			supply: big.NewInt(2), complete: true,
			want: Holders{
				HolderCount: 2, StakeHolderCount: 2,
				Top1Pct: fp(75), Top10Pct: fp(100), Top100Pct: fp(100),
				HHI: fp(0.625), Gini: fp(0.25), Nakamoto: ip(1), ScriptAddressPct: fp(0), Complete: true,
			},
		},
		{
			name:     "no holdings",
			supply:   big.NewInt(0),
			complete: true,
			want:     Holders{Complete: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Concentration(tt.holdings, tt.supply, tt.complete)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("Concentration:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestConcentrationTopN(t *testing.T) {
	// 150 holders with balances 1..150: top 1 = 150, top 10 = Σ141..150, top 100 = Σ51..150.
	var hs []Holding
	var total int64
	for i := 1; i <= 150; i++ {
		raw := make([]byte, 1+2*cardano.CredentialLength)
		raw[0] = 0x01
		raw[1] = byte(i)
		raw[1+cardano.CredentialLength] = byte(i) // distinct stake credential per holder
		s, err := cardano.EncodeBech32("addr", raw)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, Holding{Address: s, Quantity: big.NewInt(int64(i))})
		total += int64(i)
	}
	got := Concentration(hs, big.NewInt(total), true)
	sum := func(lo, hi int64) float64 { return float64((lo + hi) * (hi - lo + 1) / 2) }
	check := func(name string, p *float64, want float64) {
		t.Helper()
		if p == nil || *p != *ratio(big.NewInt(int64(want)), big.NewInt(total), 100) {
			t.Errorf("%s = %v, want %v%% of %d", name, p, want, total)
		}
	}
	check("top1", got.Top1Pct, 150)
	check("top10", got.Top10Pct, sum(141, 150))
	check("top100", got.Top100Pct, sum(51, 150))
	if got.HolderCount != 150 || got.StakeHolderCount != 150 {
		t.Errorf("counts = %d, %d", got.HolderCount, got.StakeHolderCount)
	}
}

func TestHoldersJSON(t *testing.T) {
	b, err := json.Marshal(Concentration(nil, nil, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`"holder_count":0`, `"holder_count_is_lower_bound":true`, `"stake_holder_count":0`,
		`"top_1_pct":null`, `"top_10_pct":null`, `"top_100_pct":null`, `"hhi":null`, `"gini":null`,
		`"nakamoto":null`, `"script_address_pct":null`, `"complete":false`, `"unparsed":0`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}
