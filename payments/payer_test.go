package payments

import (
	"errors"
	"strings"
	"testing"
)

func TestPayerCredential(t *testing.T) {
	const (
		// CIP-19 vectors: key payment parts 9493315c…, script payment parts c37b1b5d…
		baseKey       = "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
		enterpriseKey = "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8"
		baseScript    = "addr1z8phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gten0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgs9yc0hh"
		keyHash       = "9493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e"
		// The same stake credential as baseKey, paired with a script payment part.
		stakeOnly = "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"
	)
	cases := []struct {
		name   string
		inputs []string
		want   string
	}{
		{"one key input", []string{baseKey}, keyHash},
		{"enterprise key input", []string{enterpriseKey}, keyHash},
		{"script inputs are skipped", []string{baseScript, enterpriseKey}, keyHash},
		{"junk is skipped", []string{"nope", baseKey}, keyHash},
		{"only scripts and reward addresses", []string{baseScript, stakeOnly}, ""},
		{"no inputs", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cred, err := PayerCredential(c.inputs)
			if c.want == "" {
				if !errors.Is(err, ErrNoPayer) {
					t.Fatalf("cred %s, err %v; want ErrNoPayer", cred.Hex(), err)
				}
				return
			}
			if err != nil || cred.Hex() != c.want || cred.Script {
				t.Fatalf("cred %s (script %v), err %v; want key %s", cred.Hex(), cred.Script, err, c.want)
			}
		})
	}
}

// A prepaid batch credits X-Wallet-Address: only that wallet's payment key may pay for it.
func TestCheckPayer(t *testing.T) {
	const (
		wallet = "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
		key    = "9493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e"
	)
	batch := Invoice{BatchTarget: 10, Wallet: wallet + " /chat"}
	cases := []struct {
		name  string
		inv   Invoice
		payer string
		ok    bool
	}{
		{"the wallet's key", batch, key, true},
		{"the wallet's key in capitals", batch, strings.ToUpper(key), true},
		{"another key", batch, strings.Repeat("ab", 28), false},
		{"nobody", batch, "", false},
		{"a plain invoice takes any payer", Invoice{Wallet: wallet}, "", true},
	}
	for _, c := range cases {
		err := CheckPayer(c.inv, c.payer)
		if c.ok != (err == nil) || (err != nil && Code(err) != CodeWalletMismatch) {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}
