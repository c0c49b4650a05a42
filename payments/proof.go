package payments

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"

	"github.com/tbackend/tbackend/cardano"
)

// Proof kinds (the same strings as jobs.ProofTxHash / jobs.ProofSignedTx).
const (
	ProofTxHash   = "tx_hash"
	ProofSignedTx = "signed_tx"
)

// Proof is a parsed X-Payment header.
type Proof struct {
	Kind   string      // ProofTxHash or ProofSignedTx
	Value  string      // the tx hash, or the signed transaction's CBOR; lower-case hex either way
	TxHash string      // the transaction id: Value itself, or computed from the signed transaction
	Raw    []byte      // the signed transaction's CBOR (ProofSignedTx)
	Tx     *cardano.Tx // and decoded
}

// maxProofLen bounds the header: a transaction's CBOR in hex plus some JSON around a hash.
const maxProofLen = 2*cardano.MaxTxBytes + 64

// ParseProof reads X-Payment: a 64-hex transaction hash, the signed transaction as CBOR hex, or
// {"txHash": "<64 hex>"}. Anything else is a CodePaymentMalformed *Error. A signed transaction
// must decode (so a malformed one is refused before any job runs).
func ParseProof(header string) (Proof, error) {
	s := strings.TrimSpace(header)
	switch {
	case s == "":
		return Proof{}, refuse(CodePaymentMalformed, "X-Payment is empty")
	case len(s) > maxProofLen:
		return Proof{}, refuse(CodePaymentMalformed, "X-Payment is longer than %d characters", maxProofLen)
	case s[0] == '{':
		return parseJSONProof(s)
	case !cardano.IsHex(s):
		return Proof{}, refuse(CodePaymentMalformed, "X-Payment is neither a transaction hash, signed transaction hex nor {\"txHash\": …}")
	case len(s) == 64:
		h := strings.ToLower(s)
		return Proof{Kind: ProofTxHash, Value: h, TxHash: h}, nil
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return Proof{}, refuse(CodePaymentMalformed, "X-Payment hex has an odd length")
	}
	tx, err := cardano.DecodeTx(raw)
	if err != nil {
		return Proof{}, refuse(CodePaymentMalformed, "X-Payment is not a signed Cardano transaction: %v", err)
	}
	return Proof{Kind: ProofSignedTx, Value: strings.ToLower(s), TxHash: tx.IDHex(), Raw: raw, Tx: tx}, nil
}

func parseJSONProof(s string) (Proof, error) {
	var v struct {
		TxHash *string `json:"txHash"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		return Proof{}, refuse(CodePaymentMalformed, `X-Payment JSON must be exactly {"txHash": "<64 hex>"}`)
	}
	if v.TxHash == nil || len(*v.TxHash) != 64 || !cardano.IsHex(*v.TxHash) {
		return Proof{}, refuse(CodePaymentMalformed, "txHash must be 64 hex characters")
	}
	h := strings.ToLower(*v.TxHash)
	return Proof{Kind: ProofTxHash, Value: h, TxHash: h}, nil
}
