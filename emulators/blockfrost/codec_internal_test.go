package blockfrostemu

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func TestCBORWalker(t *testing.T) {
	t.Parallel()
	for hexIn, n := range map[string]int{
		"00": 1, "1903e8": 3, "3903e7": 3, "4401020304": 5, "6161": 2, "80": 1, "a0": 1,
		"9f0102ff":           4, // indefinite array
		"bf6161016162ff":     7, // indefinite map (value missing is caught below)
		"5f42010243030405ff": 9, // indefinite byte string of two chunks
		"d8184100":           4, // tag 24
		"f93c00":             3, "fa47c35000": 5, "fb3ff199999999999a": 9, "f5": 1, "f6": 1, "f7": 1, "f820": 2,
		"c249010000000000000000": 11, // bignum
		"83010203":               4,
	} {
		b, _ := hex.DecodeString(hexIn)
		if strings.HasPrefix(hexIn, "bf6161016162ff") {
			if _, err := cborItemEnd(b, 0); err == nil {
				t.Errorf("%s: odd indefinite map accepted", hexIn)
			}
			continue
		}
		end, err := cborItemEnd(b, 0)
		if err != nil || end != n {
			t.Errorf("%s: end %d %v, want %d", hexIn, end, err, n)
		}
		if _, end2, err := cborDecode(b, 0); err != nil || end2 != n {
			t.Errorf("%s: decode end %d %v", hexIn, end2, err)
		}
	}
	for _, bad := range []string{"", "18", "1a0001", "42ff", "8201", "ff", "1f", "5f4101", "5f6161ff", "9f01", "bf01", "1c"} {
		b, _ := hex.DecodeString(bad)
		if _, err := cborItemEnd(b, 0); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	deep := strings.Repeat("81", 500) + "00"
	b, _ := hex.DecodeString(deep)
	if _, err := cborItemEnd(b, 0); err == nil {
		t.Error("500 nested arrays accepted")
	}
	// A huge declared length must not allocate or loop.
	b, _ = hex.DecodeString("9bffffffffffffffff00")
	if _, err := cborItemEnd(b, 0); err == nil {
		t.Error("absurd array length accepted")
	}
}

func TestMetadatumJSON(t *testing.T) {
	t.Parallel()
	// {1: h'cafe', "msg": ["hi", -5], h'00': {2: 3}}
	b, _ := hex.DecodeString("a30142cafe636d7367826268692441" + "00a10203")
	v, _, err := cborDecode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(metadatumJSON(v))
	if string(out) != `{"0x00":{"2":3},"1":"0xcafe","msg":["hi",-5]}` {
		t.Fatalf("%s", out)
	}
}

func TestNativeScriptCBOR(t *testing.T) {
	t.Parallel()
	kh := make([]byte, 28)
	s := All(Sig(kh), Before(90915881), AtLeast(1, After(5)))
	c, err := s.CBOR()
	if err != nil {
		t.Fatal(err)
	}
	want := "8201" + "83" + "8200581c" + strings.Repeat("00", 28) + "82051a056b4429" + "830301" + "81" + "820405"
	if hex.EncodeToString(c) != want {
		t.Fatalf("%x\nwant %s", c, want)
	}
	v, _, _ := cborDecode(c, 0)
	back, err := nativeScriptFromCBOR(v)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := s.Hash()
	h2, _ := back.Hash()
	if h1 != h2 || len(h1) != 56 {
		t.Fatalf("round trip %s %s", h1, h2)
	}
	if _, err := (NativeScript{Type: "sig", KeyHash: "00"}).CBOR(); err == nil {
		t.Fatal("short key hash accepted")
	}
}

func TestBech32RoundTrip(t *testing.T) {
	t.Parallel()
	data := []byte{0x01, 0x02, 0xff, 0x00, 0x7f}
	s := bech32Encode("addr_test", data)
	hrp, got, err := bech32Decode(s)
	if err != nil || hrp != "addr_test" || hex.EncodeToString(got) != hex.EncodeToString(data) {
		t.Fatalf("%s: %s %x %v", s, hrp, got, err)
	}
	if _, _, err := bech32Decode(s[:len(s)-1] + "q"); err == nil && !strings.HasSuffix(s, "q") {
		t.Fatal("bad checksum accepted")
	}
	if _, _, err := bech32Decode(strings.ToUpper(s[:5]) + s[5:]); err == nil {
		t.Fatal("mixed case accepted")
	}
	if got := base58Encode([]byte{0, 0, 1}); got != "112" {
		t.Fatalf("base58 %s", got)
	}
}
