package cardano

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/blake2b"
)

// The parts of a transaction beyond payments that DecodeTx reads for a full account of it
// (what a chain indexer reports): datums, certificates, withdrawals and witness scripts.

// decodeDatumOption reads [0, datum hash] or [1, tag 24 (inline datum CBOR)].
func (o *Output) decodeDatumOption(raw cbor.RawMessage) error {
	opt, err := arrayItems(raw)
	if err != nil || len(opt) != 2 {
		return errors.New("datum option is not [kind, datum]")
	}
	kind, err := decodeUint(opt[0])
	switch {
	case err == nil && kind == 0:
		h, err := decodeBytes(opt[1])
		if err != nil || len(h) != 32 {
			return errors.New("datum hash must be 32 bytes")
		}
		o.DatumHash = h
	case err == nil && kind == 1:
		d, err := decodeTag24(opt[1])
		if err != nil {
			return fmt.Errorf("inline datum: %w", err)
		}
		sum := blake2b.Sum256(d)
		o.InlineDatum, o.DatumHash = append([]byte(nil), d...), sum[:]
	default:
		return errors.New("datum option kind must be 0 (hash) or 1 (inline)")
	}
	o.HasDatum = true
	return nil
}

// certificateCoin is where a Conway certificate states its deposit or refund (element index).
var certificateCoin = map[uint64]int{7: 2, 8: 2, 11: 3, 12: 3, 13: 4}

// decodeCertificates reads an array or tag-258 set of certificates [kind, …].
func decodeCertificates(raw cbor.RawMessage) ([]Certificate, error) {
	items, err := setItems(raw)
	if err != nil {
		return nil, err
	}
	certs := make([]Certificate, 0, len(items))
	for i, it := range items {
		fields, err := arrayItems(it)
		if err != nil || len(fields) == 0 {
			return nil, fmt.Errorf("certificate %d is not [kind, …]", i)
		}
		c := Certificate{}
		if c.Kind, err = decodeUint(fields[0]); err != nil {
			return nil, fmt.Errorf("certificate %d: kind: %w", i, err)
		}
		if at, ok := certificateCoin[c.Kind]; ok {
			if at >= len(fields) {
				return nil, fmt.Errorf("certificate %d (kind %d) has no coin", i, c.Kind)
			}
			if c.Coin, err = decodeUint(fields[at]); err != nil {
				return nil, fmt.Errorf("certificate %d: coin: %w", i, err)
			}
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// decodeWithdrawals reads the map reward address → lovelace, in wire order.
func decodeWithdrawals(raw cbor.RawMessage) ([]Withdrawal, error) {
	pairs, err := mapPairs(raw)
	if err != nil {
		return nil, err
	}
	out := make([]Withdrawal, 0, len(pairs))
	for i, p := range pairs {
		b, err := decodeBytes(p.key)
		if err != nil {
			return nil, fmt.Errorf("withdrawal %d: account: %w", i, err)
		}
		a, err := AddressFromBytes(b)
		if err != nil || !a.IsReward() {
			return nil, fmt.Errorf("withdrawal %d: account is not a reward address", i)
		}
		n, err := decodeUint(p.value)
		if err != nil {
			return nil, fmt.Errorf("withdrawal %d: amount: %w", i, err)
		}
		out = append(out, Withdrawal{Account: a, Lovelace: n})
	}
	return out, nil
}

// readWitnesses reads the scripts and the redeemer count of the witness set, skipping what does
// not decode; other witnesses (keys, bootstrap witnesses, datums) are left to the ledger.
func (t *Tx) readWitnesses(raw cbor.RawMessage) {
	var fields map[uint64]cbor.RawMessage
	if decMode.Unmarshal(raw, &fields) != nil {
		return
	}
	for _, key := range []uint64{witnessNative, witnessPlutus1, witnessPlutus2, witnessPlutus3} {
		if v, ok := fields[key]; ok {
			t.Scripts = append(t.Scripts, witnessScripts(key, v)...)
		}
	}
	// Alonzo/Babbage: [[tag, index, data, ex units], …]; Conway: {[tag, index]: [data, ex units]}.
	if v, ok := fields[witnessRedeemers]; ok {
		if items, err := arrayItems(v); err == nil {
			t.Redeemers = len(items)
		} else if pairs, err := mapPairs(v); err == nil {
			t.Redeemers = len(pairs)
		}
	}
}

var witnessLanguage = map[uint64]byte{witnessNative: LanguageNative, witnessPlutus1: LanguagePlutus1,
	witnessPlutus2: LanguagePlutus2, witnessPlutus3: LanguagePlutus3}

func witnessScripts(key uint64, raw cbor.RawMessage) []TxScript {
	items, err := setItems(raw)
	if err != nil {
		return nil
	}
	lang := witnessLanguage[key]
	var out []TxScript
	for _, it := range items {
		if lang == LanguageNative {
			if s, err := nativeTxScript(it); err == nil {
				out = append(out, s)
			}
		} else if b, err := decodeBytes(it); err == nil {
			out = append(out, TxScript{Language: lang, Bytes: b})
		}
	}
	return out
}
