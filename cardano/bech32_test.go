package cardano

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBech32BIP173Valid(t *testing.T) {
	// Valid checksums from BIP-173's test vectors.
	for _, s := range []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	} {
		hrp, groups, err := decodeBech32Groups(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if want := strings.ToLower(s[:strings.LastIndexByte(s, '1')]); hrp != want {
			t.Errorf("%q: hrp %q, want %q", s, hrp, want)
		}
		// Those whose 5-bit data regroups to bytes round-trip through the byte API.
		if hrp8, data, err := DecodeBech32(s); err == nil {
			again, err := EncodeBech32(hrp8, data)
			if err != nil || again != strings.ToLower(s) {
				t.Errorf("%q: re-encoded as %q (%v)", s, again, err)
			}
		} else if len(groups)*5%8 < 5 {
			t.Errorf("%q: DecodeBech32: %v", s, err)
		}
	}
}

func TestBech32BIP173Invalid(t *testing.T) {
	for _, s := range []string{
		"\x201nwldj5",                       // hrp character out of range
		"\x7f1axkwrx",                       // hrp character out of range
		"\x801eym55h",                       // hrp character out of range
		"pzry9x0s0muk",                      // no separator
		"1pzry9x0s0muk",                     // empty hrp
		"x1b4n0q5v",                         // invalid data character
		"li1dgmt3",                          // checksum too short
		"de1lg7wt\xff",                      // invalid character in checksum
		"A1G7SGD8",                          // checksum calculated with upper-case hrp
		"10a06t8",                           // empty hrp
		"1qzzfhee",                          // empty hrp
		"a12UEL5L",                          // mixed case
		"a12uel5m",                          // bad checksum
		"",                                  // empty
		"addr1",                             // nothing after separator
		strings.Repeat("a", 84) + "1qqqqqq", // hrp too long
	} {
		if _, _, err := DecodeBech32(s); !errors.Is(err, ErrBech32) {
			t.Errorf("%q: got %v, want ErrBech32", s, err)
		}
	}
}

func TestBech32Padding(t *testing.T) {
	encodeGroups := func(hrp string, groups []byte) string {
		var b strings.Builder
		b.WriteString(hrp + "1")
		for _, g := range append(append([]byte{}, groups...), bech32Checksum(hrp, groups)...) {
			b.WriteByte(bech32Charset[g])
		}
		return b.String()
	}
	// One 5-bit group cannot form a byte: excess padding.
	s := encodeGroups("test", []byte{0})
	if _, _, err := decodeBech32Groups(s); err != nil {
		t.Fatalf("checksum of constructed string: %v", err)
	}
	if _, _, err := DecodeBech32(s); err == nil || !strings.Contains(err.Error(), "padding") {
		t.Errorf("excess padding: got %v", err)
	}
	// Two groups = 10 bits = one byte + 2 padding bits, which must be zero.
	if _, data, err := DecodeBech32(encodeGroups("test", []byte{31, 28})); err != nil || !bytes.Equal(data, []byte{0xff}) {
		t.Errorf("zero padding: %x, %v", data, err)
	}
	if _, _, err := DecodeBech32(encodeGroups("test", []byte{31, 29})); err == nil || !strings.Contains(err.Error(), "padding") {
		t.Errorf("non-zero padding: got %v", err)
	}
}

func TestBech32LongAndRoundTrip(t *testing.T) {
	data := make([]byte, 200) // far beyond BIP-173's 90-character limit
	for i := range data {
		data[i] = byte(i * 7)
	}
	s, err := EncodeBech32("addr_test", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) <= 90 {
		t.Fatalf("expected a long string, got %d characters", len(s))
	}
	hrp, got, err := DecodeBech32(strings.ToUpper(s))
	if err != nil || hrp != "addr_test" || !bytes.Equal(got, data) {
		t.Fatalf("round trip: hrp %q, %v", hrp, err)
	}
	if s2, err := EncodeBech32("ADDR", nil); err != nil || !strings.HasPrefix(s2, "addr1") {
		t.Errorf("upper-case hrp: %q %v", s2, err)
	}
	for _, bad := range []string{"", "Addr", "a b", strings.Repeat("x", 84)} {
		if _, err := EncodeBech32(bad, []byte{1}); !errors.Is(err, ErrBech32) {
			t.Errorf("EncodeBech32(%q): got %v", bad, err)
		}
	}
}

func TestAssetFingerprintCIP14(t *testing.T) {
	// The CIP-14 test vectors.
	for _, v := range []struct{ policy, name, want string }{
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "", "asset1rjklcrnsdzqp65wjgrg55sy9723kw09mlgvlc3"},
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc37e", "", "asset1nl0puwxmhas8fawxp8nx4e2q3wekg969n2auw3"},
		{"1e349c9bdea19fd6c147626a5260bc44b71635f398b67c59881df209", "", "asset1uyuxku60yqe57nusqzjx38aan3f2wq6s93f6ea"},
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "504154415445", "asset13n25uv0yaf5kus35fm2k86cqy60z58d9xmde92"},
		{"1e349c9bdea19fd6c147626a5260bc44b71635f398b67c59881df209", "504154415445", "asset1hv4p5tv2a837mzqrst04d0dcptdjmluqvdx9k3"},
		{"1e349c9bdea19fd6c147626a5260bc44b71635f398b67c59881df209", "7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "asset1aqrdypg669jgazruv5ah07nuyqe0wxjhe2el6f"},
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "1e349c9bdea19fd6c147626a5260bc44b71635f398b67c59881df209", "asset17jd78wukhtrnmjh3fngzasxm8rck0l2r4hhyyt"},
		{"7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "0000000000000000000000000000000000000000000000000000000000000000", "asset1pkpwyknlvul7az0xx8czhl60pyel45rpje4z8w"},
	} {
		got, err := AssetFingerprint(v.policy, v.name)
		if err != nil || got != v.want {
			t.Errorf("AssetFingerprint(%s, %q) = %q, %v; want %q", v.policy, v.name, got, err, v.want)
		}
	}
	for _, bad := range [][2]string{
		{"7eae", ""},
		{"zz" + strings.Repeat("00", 27), ""},
		{strings.Repeat("00", 28), strings.Repeat("00", 33)},
		{strings.Repeat("00", 28), "0"},
	} {
		if _, err := AssetFingerprint(bad[0], bad[1]); !errors.Is(err, ErrBech32) {
			t.Errorf("AssetFingerprint(%q, %q): got %v", bad[0], bad[1], err)
		}
	}
}

func TestAssetFingerprintSNEK(t *testing.T) {
	var reg struct {
		Subject string `json:"subject"`
		Ticker  struct {
			Value string `json:"value"`
		} `json:"ticker"`
	}
	if err := json.Unmarshal(readFixture(t, "snek.json"), &reg); err != nil {
		t.Fatal(err)
	}
	if reg.Ticker.Value != "SNEK" || len(reg.Subject) != 2*PolicyIDLength+8 {
		t.Fatalf("unexpected registry entry: %+v", reg)
	}
	got, err := AssetFingerprint(reg.Subject[:2*PolicyIDLength], reg.Subject[2*PolicyIDLength:])
	if err != nil {
		t.Fatal(err)
	}
	// SNEK's fingerprint as shown by explorers.
	if want := "asset108xu02ckwrfc8qs9d97mgyh4kn8gdu9w8f5sxk"; got != want {
		t.Errorf("SNEK fingerprint %s, want %s", got, want)
	}
}

func TestBase58(t *testing.T) {
	for _, v := range []struct {
		raw []byte
		enc string
	}{
		{nil, ""},
		{[]byte{0}, "1"},
		{[]byte{0, 0, 1}, "112"},
		{[]byte("hello world"), "StV1DL6CwTryKyV"},
		{[]byte{0xff, 0xff}, "LUv"},
	} {
		if got := base58Encode(v.raw); got != v.enc {
			t.Errorf("encode %x = %q, want %q", v.raw, got, v.enc)
		}
		if v.enc == "" {
			continue
		}
		if got, err := base58Decode(v.enc); err != nil || !bytes.Equal(got, v.raw) {
			t.Errorf("decode %q = %x, %v", v.enc, got, err)
		}
	}
	for _, bad := range []string{"", "0", "O", "I", "l", "abc+", strings.Repeat("2", maxBase58Length+1)} {
		if _, err := base58Decode(bad); !errors.Is(err, errBase58) {
			t.Errorf("decode %q: got %v", bad, err)
		}
	}
}
