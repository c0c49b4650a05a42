package payments_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/internal/testfiles"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/payments"
)

// fixtureTx is one real transaction of testdata/cardano/transactions.json (repository root).
type fixtureTx struct {
	Name         string  `json:"name"`
	Network      string  `json:"network"`
	CBORHex      string  `json:"cbor_hex"`
	TxID         *string `json:"tx_id"`
	TxIDComputed string  `json:"tx_id_computed"`
	Outputs      []struct {
		Address  string `json:"address"`
		Lovelace uint64 `json:"lovelace"`
		Assets   []struct {
			Unit     string `json:"unit"`
			Quantity uint64 `json:"quantity"`
		} `json:"assets"`
	} `json:"outputs"`
	AuxiliaryData *struct {
		CIP20Msg []string `json:"cip20_msg"`
	} `json:"auxiliary_data"`
}

func loadFixtures(t testing.TB) []fixtureTx {
	t.Helper()
	raw := testfiles.Read(t, "cardano", "transactions.json")
	var doc struct {
		Transactions []fixtureTx `json:"transactions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Transactions) == 0 {
		t.Fatalf("fixtures: %v", err)
	}
	return doc.Transactions
}

func TestParseProof(t *testing.T) {
	hash := strings.Repeat("aB", 32)
	lower := strings.ToLower(hash)
	ok := []struct {
		name, header string
		want         payments.Proof
	}{
		{"hash", hash, payments.Proof{Kind: payments.ProofTxHash, Value: lower, TxHash: lower}},
		{"hash with spaces", "  " + hash + "\t", payments.Proof{Kind: payments.ProofTxHash, Value: lower, TxHash: lower}},
		{"json", `{"txHash":"` + hash + `"}`, payments.Proof{Kind: payments.ProofTxHash, Value: lower, TxHash: lower}},
		{"json with spaces", ` { "txHash" : "` + hash + `" } `, payments.Proof{Kind: payments.ProofTxHash, Value: lower, TxHash: lower}},
	}
	for _, c := range ok {
		got, err := payments.ParseProof(c.header)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v", c.name, got, err)
		}
	}
	bad := map[string]string{
		"empty":            "",
		"blank":            "   ",
		"short hash":       hash[:63],
		"odd hex":          hash + "a",
		"not hex":          strings.Repeat("z", 64),
		"0x prefix":        "0x" + hash,
		"json other field": `{"txHash":"` + hash + `","x":1}`,
		"json wrong key":   `{"tx_hash":"` + hash + `"}`,
		"json short hash":  `{"txHash":"abc"}`,
		"json number":      `{"txHash":5}`,
		"json trailing":    `{"txHash":"` + hash + `"}}`,
		"json array":       `["` + hash + `"]`,
		"hex not a tx":     strings.Repeat("00", 40),
		"truncated tx":     loadFixtures(t)[0].CBORHex[:200],
		"too long":         strings.Repeat("a", 2*65536+66),
	}
	for name, header := range bad {
		p, err := payments.ParseProof(header)
		if payments.Code(err) != payments.CodePaymentMalformed {
			t.Errorf("%s: %+v %v, want payment_malformed", name, p, err)
		}
	}
}

// Every real transaction parses as a signed proof whose id is the one its source states.
func TestParseProofRealTransactions(t *testing.T) {
	for _, f := range loadFixtures(t) {
		want := f.TxIDComputed
		if f.TxID != nil {
			want = *f.TxID
		}
		p, err := payments.ParseProof(strings.ToUpper(f.CBORHex))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if p.Kind != payments.ProofSignedTx || p.TxHash != want || p.Value != strings.ToLower(f.CBORHex) {
			t.Fatalf("%s: kind %s id %s, want %s", f.Name, p.Kind, p.TxHash, want)
		}
	}
}

// The proof kinds are the ones the job payload carries.
func TestProofKindsMatchJobs(t *testing.T) {
	if payments.ProofTxHash != jobs.ProofTxHash || payments.ProofSignedTx != jobs.ProofSignedTx {
		t.Fatal("proof kinds differ between payments and jobs")
	}
}

func FuzzParseProof(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.CBORHex)
	}
	f.Add(strings.Repeat("ab", 32))
	f.Add(`{"txHash":"` + strings.Repeat("ab", 32) + `"}`)
	f.Add("{}")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := payments.ParseProof(s)
		if err != nil {
			if payments.Code(err) != payments.CodePaymentMalformed {
				t.Fatalf("error without the malformed code: %v", err)
			}
			return
		}
		if len(p.TxHash) != 64 || strings.ToLower(p.Value) != p.Value {
			t.Fatalf("parsed %+v", p)
		}
	})
}
