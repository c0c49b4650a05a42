package storage_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/storage"
)

// ledgerKeys lists every ledger key kind with fixed arguments.
func ledgerKeys(k storage.Keys) map[string]string {
	return map[string]string{
		"LedgerEvents":  k.LedgerEvents(),
		"LedgerInvoice": k.LedgerInvoice("inv_1"),
		"LedgerRequest": k.LedgerRequest("rk-1"),
		"LedgerTxClaim": k.LedgerTxClaim("ab"),
		"LedgerBalance": k.LedgerBalance("acme", "addr1"),
		"LedgerDebit":   k.LedgerDebit("acme", "addr1", "job-1"),
		"LedgerAmounts": k.LedgerAmounts("addr1", "ADA"),
	}
}

// TestLedgerKeys: the ledger's layout is deployed state, every key is under the prefix and in the
// one {ledger} slot (a script touches several of them, so on Cluster they must share it), and
// client-chosen parts are hashed so that no bytes of theirs can move the tag or forge another key.
func TestLedgerKeys(t *testing.T) {
	k := storage.NewKeys("")
	want := map[string]string{
		"LedgerEvents": "tb:ledger:{ledger}:events",
		// sha256 of the length-prefixed parts, first 32 hex digits.
		"LedgerInvoice": "tb:ledger:{ledger}:inv:" + hashHead("5:inv_1"),
		"LedgerRequest": "tb:ledger:{ledger}:req:" + hashHead("4:rk-1"),
		"LedgerTxClaim": "tb:ledger:{ledger}:tx:" + hashHead("2:ab"),
		"LedgerBalance": "tb:ledger:{ledger}:bal:" + hashHead("4:acme5:addr1"),
		"LedgerDebit":   "tb:ledger:{ledger}:debit:" + hashHead("4:acme5:addr15:job-1"),
		"LedgerAmounts": "tb:ledger:{ledger}:amounts:" + hashHead("5:addr13:ADA"),
	}
	for name, got := range ledgerKeys(k) {
		if got != want[name] {
			t.Errorf("%s = %q, want %q", name, got, want[name])
		}
		if slot(got) != slot("{ledger}") {
			t.Errorf("%s = %q is not in the {ledger} slot", name, got)
		}
	}
	for name, got := range ledgerKeys(storage.NewKeys("test-x:")) {
		if !strings.HasPrefix(got, "test-x:ledger:{ledger}:") {
			t.Errorf("%s = %q ignores the prefix", name, got)
		}
	}

	// No two (partner, wallet) tuples share a balance, however the client splits the bytes.
	seen := map[string][2]string{}
	for _, pw := range [][2]string{{"a|b", "c"}, {"a", "b|c"}, {"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""}, {"}{", "x"}} {
		key := k.LedgerBalance(pw[0], pw[1])
		if other, dup := seen[key]; dup {
			t.Errorf("%v and %v share balance %q", pw, other, key)
		}
		seen[key] = pw
		if slot(key) != slot("{ledger}") {
			t.Errorf("balance of %v left the {ledger} slot", pw)
		}
	}
	// A tx claim and an invoice never coincide, even for the same string.
	if k.LedgerTxClaim("x") == k.LedgerInvoice("x") || k.LedgerDebit("a", "b", "c") == k.LedgerBalance("a", "b") {
		t.Fatal("ledger key kinds coincide")
	}
}

// hashHead is the first 32 hex digits of the SHA-256 of s.
func hashHead(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
