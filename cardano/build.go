package cardano

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrInsufficientFunds is wrapped when a wallet's outputs cannot pay for a transaction.
var ErrInsufficientFunds = errors.New("cardano: insufficient funds")

// UTxO is an unspent output a wallet can spend.
type UTxO struct {
	Input
	Lovelace uint64
	Assets   map[string]map[string]uint64 // policy id hex → asset name hex → quantity
}

// FeeParams are the protocol parameters a payment depends on.
type FeeParams struct {
	MinFeeA          uint64 // lovelace per transaction byte
	MinFeeB          uint64 // constant lovelace per transaction
	CoinsPerUTxOByte uint64 // an output holds at least (160 + its size) × this
	MaxTxSize        int    // 0: no limit checked
}

// MinFee is the fee the ledger asks of a transaction of size bytes.
func (p FeeParams) MinFee(size int) uint64 { return p.MinFeeA*uint64(size) + p.MinFeeB }

// MinLovelace is the least ada an output may hold (Babbage's rule: 160 bytes of overhead plus
// the output's own size, priced per byte). The size is taken with the widest coin encoding, so
// the result holds whatever the output's final amount.
func (p FeeParams) MinLovelace(o Output) uint64 {
	o.Lovelace = math.MaxUint64
	v, err := outputValue(o)
	if err != nil {
		return 0
	}
	b, _ := encMode.Marshal(v)
	return (160 + uint64(len(b))) * p.CoinsPerUTxOByte
}

// PaymentSpec is what BuildPayment pays, from which outputs, with which key.
type PaymentSpec struct {
	From   []UTxO   // the wallet's unspent outputs (all at addresses of Key)
	To     []Output // payments; an output below its minimum ada is raised to it
	Change Address  // where the rest goes
	Memo   string   // CIP-20 message (split into 64-byte lines); "" for none
	TTL    *uint64
	Params FeeParams
	Key    ed25519.PrivateKey
}

// Built is a signed payment.
type Built struct {
	CBOR    []byte
	ID      [32]byte
	Fee     uint64
	Inputs  []Input
	Outputs []Output // the payments, then the change when there is one
}

// BuildPayment selects inputs (largest first, after those holding the assets paid), computes
// the minimum fee for the signed size, returns the rest to Change and signs. Change too small
// to be an output of its own (and holding no assets) is left to the fee, as wallets do.
func BuildPayment(s PaymentSpec) (*Built, error) {
	if len(s.To) == 0 {
		return nil, errors.New("cardano: nothing to pay")
	}
	to := make([]Output, len(s.To))
	for i, o := range s.To {
		o.Lovelace = max(o.Lovelace, s.Params.MinLovelace(o))
		to[i] = o
	}
	order := selectionOrder(s.From, to)
	var lastErr error
	for n := 1; n <= len(order); n++ {
		b, err := s.balance(order[:n], to)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, ErrInsufficientFunds) {
			return nil, err
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: the wallet has no unspent outputs", ErrInsufficientFunds)
	}
	return nil, lastErr
}

// selectionOrder puts outputs holding an asset the payment needs first, then the rest by
// lovelace, largest first (ties by reference, so the choice is deterministic).
func selectionOrder(from []UTxO, to []Output) []UTxO {
	needed := map[string]bool{}
	for _, o := range to {
		for p, names := range o.Assets {
			for n := range names {
				needed[p+n] = true
			}
		}
	}
	holds := func(u UTxO) bool {
		for p, names := range u.Assets {
			for n, q := range names {
				if q > 0 && needed[p+n] {
					return true
				}
			}
		}
		return false
	}
	order := append([]UTxO(nil), from...)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if ha, hb := holds(a), holds(b); ha != hb {
			return ha
		}
		if a.Lovelace != b.Lovelace {
			return a.Lovelace > b.Lovelace
		}
		if a.TxID != b.TxID {
			return a.TxID < b.TxID
		}
		return a.Index < b.Index
	})
	return order
}

// balance builds the transaction spending exactly ins, iterating the fee to a fixed point.
func (s PaymentSpec) balance(ins []UTxO, to []Output) (*Built, error) {
	inLovelace, inAssets, err := sumValues(ins, "input", func(u UTxO) (uint64, map[string]map[string]uint64) {
		return u.Lovelace, u.Assets
	})
	if err != nil {
		return nil, err
	}
	outLovelace, outAssets, err := sumValues(to, "output", func(o Output) (uint64, map[string]map[string]uint64) {
		return o.Lovelace, o.Assets
	})
	if err != nil {
		return nil, err
	}
	changeAssets, err := subtractAssets(inAssets, outAssets)
	if err != nil {
		return nil, err
	}
	inputs := make([]Input, len(ins))
	for i, u := range ins {
		inputs[i] = u.Input
	}
	sort.Slice(inputs, func(i, j int) bool {
		if inputs[i].TxID != inputs[j].TxID {
			return inputs[i].TxID < inputs[j].TxID
		}
		return inputs[i].Index < inputs[j].Index
	})
	body := TxBody{Inputs: inputs, TTL: s.TTL, Memo: MemoLines(s.Memo)}
	for range 8 { // the fee's and the change's encodings settle within a few rounds
		if inLovelace < outLovelace+body.Fee {
			return nil, fmt.Errorf("%w: the selected outputs hold %d lovelace, the payment needs %d plus a fee of %d",
				ErrInsufficientFunds, inLovelace, outLovelace, body.Fee)
		}
		body.Outputs = append([]Output(nil), to...)
		rest := inLovelace - outLovelace - body.Fee
		change := Output{Address: s.Change, Lovelace: rest, Assets: changeAssets}
		switch {
		case rest >= s.Params.MinLovelace(change) && (rest > 0 || len(changeAssets) > 0):
			body.Outputs = append(body.Outputs, change)
		case len(changeAssets) > 0:
			return nil, fmt.Errorf("%w: %d lovelace left cannot carry the change's assets", ErrInsufficientFunds, rest)
		default:
			body.Fee += rest // dust: too little for an output of its own
		}
		tx, id, err := SignTx(body, s.Key)
		if err != nil {
			return nil, err
		}
		if s.Params.MaxTxSize > 0 && len(tx) > s.Params.MaxTxSize {
			return nil, fmt.Errorf("cardano: the transaction is %d bytes, more than the %d allowed", len(tx), s.Params.MaxTxSize)
		}
		if need := s.Params.MinFee(len(tx)); body.Fee < need {
			body.Fee = need
			continue
		}
		return &Built{CBOR: tx, ID: id, Fee: body.Fee, Inputs: inputs, Outputs: body.Outputs}, nil
	}
	return nil, errors.New("cardano: the fee did not settle")
}

// sumValues totals the lovelace and assets of items; what names them in an overflow error.
func sumValues[T any](items []T, what string, value func(T) (uint64, map[string]map[string]uint64)) (uint64, map[string]map[string]uint64, error) {
	var lovelace uint64
	assets := map[string]map[string]uint64{}
	for _, it := range items {
		l, a := value(it)
		if lovelace > math.MaxUint64-l {
			return 0, nil, fmt.Errorf("cardano: %s amounts overflow", what)
		}
		lovelace += l
		if err := addAssets(assets, a); err != nil {
			return 0, nil, err
		}
	}
	return lovelace, assets, nil
}

func addAssets(dst, src map[string]map[string]uint64) error {
	for p, names := range src {
		for n, q := range names {
			if dst[p] == nil {
				dst[p] = map[string]uint64{}
			}
			if dst[p][n] > math.MaxUint64-q {
				return errors.New("cardano: asset amounts overflow")
			}
			dst[p][n] += q
		}
	}
	return nil
}

// subtractAssets is have − need (nil when nothing is left), or ErrInsufficientFunds.
func subtractAssets(have, need map[string]map[string]uint64) (map[string]map[string]uint64, error) {
	for p, names := range need {
		for n, q := range names {
			if have[p][n] < q {
				return nil, fmt.Errorf("%w: the selected outputs hold %d of asset %s%s, the payment needs %d",
					ErrInsufficientFunds, have[p][n], p, n, q)
			}
		}
	}
	var rest map[string]map[string]uint64
	for p, names := range have {
		for n, q := range names {
			if left := q - need[p][n]; left > 0 {
				if rest == nil {
					rest = map[string]map[string]uint64{}
				}
				if rest[p] == nil {
					rest[p] = map[string]uint64{}
				}
				rest[p][n] = left
			}
		}
	}
	return rest, nil
}
