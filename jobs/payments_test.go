package jobs_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/jobs"
)

func paymentResult() jobs.PaymentResult {
	return jobs.PaymentResult{InvoiceID: "inv_abcdefghijklmnopqrstuvwxyz", Status: "pending",
		TxHash: strings.Repeat("ab", 32), Error: "payment_amount_insufficient",
		Message: "pay_to addr1vyqszqgpqyqs… received 500000 of 1000000 lovelace"}
}

// The payment payload and result are wire formats between the api and the workers.
func TestPaymentGolden(t *testing.T) {
	cases := []struct {
		file   string
		value  any
		decode func([]byte) ([]byte, error)
	}{
		{"payment_payload_tx_hash.json", jobs.PaymentPayload{InvoiceID: "inv_abcdefghijklmnopqrstuvwxyz",
			Proof: jobs.PaymentProof{Kind: jobs.ProofTxHash, Value: strings.Repeat("ab", 32)}}, roundTrip[jobs.PaymentPayload]},
		{"payment_payload_signed.json", jobs.PaymentPayload{InvoiceID: "inv_abcdefghijklmnopqrstuvwxyz",
			Proof: jobs.PaymentProof{Kind: jobs.ProofSignedTx, Value: "84a300d90102818258200000"}}, roundTrip[jobs.PaymentPayload]},
		{"payment_result_refused.json", paymentResult(), roundTrip[jobs.PaymentResult]},
		{"payment_result_confirmed.json", jobs.PaymentResult{InvoiceID: "inv_abcdefghijklmnopqrstuvwxyz",
			Status: "confirmed", TxHash: strings.Repeat("cd", 32)}, roundTrip[jobs.PaymentResult]},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			if *update {
				b, err := json.MarshalIndent(c.value, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, golden); err != nil {
				t.Fatalf("golden file is not JSON: %v", err)
			}
			if got := mustJSON(t, c.value); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("wire format changed:\n got %s\nwant %s", got, want.Bytes())
			}
			back, err := c.decode(golden)
			if err != nil || !bytes.Equal(back, want.Bytes()) {
				t.Fatalf("golden file does not survive decode+encode (%v):\n got %s\nwant %s", err, back, want.Bytes())
			}
		})
	}
}

func TestPaymentNamesAndPolicy(t *testing.T) {
	for _, c := range [][2]string{
		{jobs.TypePaymentConfirm, "payment:confirm"},
		{jobs.ProofTxHash, "tx_hash"},
		{jobs.ProofSignedTx, "signed_tx"},
	} {
		if c[0] != c[1] {
			t.Errorf("constant %q, want %q", c[0], c[1])
		}
	}
	p, err := jobs.PolicyFor(jobs.TypePaymentConfirm)
	if err != nil {
		t.Fatal(err)
	}
	if p.Queue != jobs.QueueCritical || p.MaxRetry < 1 || p.Timeout <= 0 {
		t.Fatalf("payment policy %+v: want the critical queue and retries for outages", p)
	}
}

func TestPaymentTaskID(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a window boundary (Unix time divisible by 10)
	id := jobs.PaymentTaskID("inv_1", "ab", at)
	if id != jobs.PaymentTaskID("inv_1", "ab", at.Add(jobs.PaymentDedupWindow-time.Nanosecond)) {
		t.Fatal("retries within one window do not collapse")
	}
	for name, other := range map[string]string{
		"next window":   jobs.PaymentTaskID("inv_1", "ab", at.Add(jobs.PaymentDedupWindow)),
		"other invoice": jobs.PaymentTaskID("inv_2", "ab", at),
		"other proof":   jobs.PaymentTaskID("inv_1", "ac", at),
		"shifted split": jobs.PaymentTaskID("inv_1a", "b", at),
	} {
		if other == id {
			t.Errorf("%s: same task id %s", name, id)
		}
	}
	if len(id) > 64 || strings.ContainsAny(id, ": /") {
		t.Fatalf("task id %q: want short and free of separators", id)
	}
}
