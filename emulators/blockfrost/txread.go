package blockfrostemu

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/tbackend/tbackend/cardano"
)

// decodedTx is what the emulator reads from a submitted transaction.
type decodedTx struct {
	rec        *txRec
	inputs     []Input // spent inputs as (tx, index) pairs
	collateral []Input
	reference  []Input
	withdrawn  uint64
	networkIDs map[int]bool // network nibbles of Shelley output addresses
}

// decodeTx reads a signed transaction with cardano.DecodeTx and records it the way Blockfrost
// reports it: outputs with their datums and reference scripts, certificates and deposits,
// withdrawals, mint, the scripts its witnesses reveal, and its metadata.
func decodeTx(raw []byte) (*decodedTx, error) {
	tx, err := cardano.DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	rec := &txRec{hash: tx.IDHex(), valid: tx.IsValid, size: len(raw), fee: tx.Fee,
		mint: mintOf(tx.Mint), metadata: metadataOf(tx.Metadata), treasuryDonation: tx.Donation,
		redeemers: tx.Redeemers, withdrawals: len(tx.Withdrawals)}
	d := &decodedTx{rec: rec, inputs: inputsOf(tx.Inputs), collateral: inputsOf(tx.Collateral),
		reference: inputsOf(tx.ReferenceInputs), networkIDs: map[int]bool{}}
	if tx.TTL != nil {
		rec.invalidHereafter = Slot(int64(*tx.TTL))
	}
	if tx.ValidityStart != nil {
		rec.invalidBefore = Slot(int64(*tx.ValidityStart))
	}
	for i, o := range tx.Outputs {
		rec.outputs = append(rec.outputs, d.output(o, i))
	}
	if tx.CollateralReturn != nil {
		out := d.output(*tx.CollateralReturn, len(rec.outputs))
		out.collateral = true
		rec.outputs = append(rec.outputs, out)
	}
	for _, w := range tx.Withdrawals {
		d.withdrawn += w.Lovelace
	}
	rec.certificates(tx.Certificates)
	for _, s := range tx.Scripts {
		rec.scripts = append(rec.scripts, scriptRecOf(s))
	}
	return d, nil
}

func inputsOf(ins []cardano.Input) []Input {
	out := make([]Input, len(ins))
	for i, in := range ins {
		out[i] = Input{TxHash: in.TxID, OutputIndex: int(in.Index)}
	}
	return out
}

// output records an output; assets are listed in the ledger's canonical CBOR order (see
// canonicalKeys), which is how they appear on chain.
func (d *decodedTx) output(o cardano.Output, index int) *outRec {
	if !o.Address.Byron && o.Address.Type <= cardano.AddrEnterpriseScript {
		d.networkIDs[o.Address.Network] = true
	}
	out := &outRec{address: o.Address.Bech32(), lovelace: o.Lovelace, index: index,
		dataHash: hex.EncodeToString(o.DatumHash), inlineDatum: hex.EncodeToString(o.InlineDatum)}
	if o.ScriptRef != nil {
		out.refScriptHash = o.ScriptRef.Hash()
	}
	for _, p := range canonicalKeys(o.Assets) {
		for _, n := range canonicalKeys(o.Assets[p]) {
			out.assets = append(out.assets, Asset{Unit: p + n, Quantity: o.Assets[p][n]})
		}
	}
	return out
}

func mintOf(m map[string]map[string]int64) []Mint {
	var out []Mint
	for _, p := range canonicalKeys(m) {
		for _, n := range canonicalKeys(m[p]) {
			out = append(out, Mint{Unit: p + n, Quantity: m[p][n]})
		}
	}
	return out
}

// canonicalKeys orders hex byte-string keys as canonical CBOR does: shorter first, then by
// bytes (lower-case hex sorts like the bytes).
func canonicalKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
}

// certificates counts certificates the way tx_content reports them and sums deposits
// (mainnet parameters for the kinds that take the deposit implicitly: 2 ADA per stake key,
// 500 ADA per pool).
func (tx *txRec) certificates(certs []cardano.Certificate) {
	for _, c := range certs {
		switch c.Kind {
		case 0: // stake registration
			tx.stakeCerts++
			tx.deposit += 2_000_000
		case 1: // stake deregistration
			tx.stakeCerts++
			tx.deposit -= 2_000_000
		case 2, 9, 10: // stake delegation, vote delegation, stake+vote delegation
			tx.delegations++
		case 3:
			tx.poolUpdates++
			tx.deposit += 500_000_000
		case 4:
			tx.poolRetires++
		case 6:
			tx.mirs++
		case 7, 12: // Conway registration (with vote delegation) and its explicit deposit
			tx.stakeCerts++
			tx.deposit += int64(c.Coin)
		case 8:
			tx.stakeCerts++
			tx.deposit -= int64(c.Coin)
		case 11, 13: // registration + delegation
			tx.stakeCerts++
			tx.delegations++
			tx.deposit += int64(c.Coin)
		}
	}
}

// metadataOf lists the metadata by label.
func metadataOf(md map[uint64]any) []Metadata {
	out := make([]Metadata, 0, len(md))
	for _, label := range slices.Sorted(maps.Keys(md)) {
		out = append(out, Metadata{Label: label, JSON: metadatumJSON(md[label])})
	}
	return out
}

// metadatumJSON converts a metadatum the way db-sync does without a schema: integers stay
// numbers, text stays text, bytes become "0x…" hex, lists become arrays, maps become objects
// whose keys are the text, the decimal integer or the "0x…" bytes (other keys are JSON-encoded).
func metadatumJSON(v any) any {
	switch x := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case *big.Int:
		return json.Number(x.String())
	case []byte:
		return "0x" + hex.EncodeToString(x)
	case string:
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = metadatumJSON(e)
		}
		return out
	case cardano.MetadataMap:
		out := make(map[string]any, len(x))
		for _, p := range x {
			var key string
			switch k := metadatumJSON(p.Key).(type) {
			case string:
				key = k
			case json.Number:
				key = string(k)
			default:
				b, _ := json.Marshal(k)
				key = string(b)
			}
			out[key] = metadatumJSON(p.Value)
		}
		return out
	}
	return nil
}
