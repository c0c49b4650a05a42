package blockfrostemu

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
)

// decodedTx is what the emulator reads from a submitted transaction.
type decodedTx struct {
	rec        *txRec
	inputs     []Input // spend, collateral and reference inputs as (tx, index) pairs
	collateral []Input
	reference  []Input
	withdrawn  uint64
	networkIDs map[byte]bool // network nibbles of Shelley output addresses
}

// decodeTx reads a signed transaction: body (inputs, outputs, fee, validity interval, mint,
// certificates, withdrawals, collateral), witnesses (scripts, redeemer count), validity flag
// and auxiliary data (metadata).
func decodeTx(raw []byte) (*decodedTx, error) {
	id, err := TxID(raw)
	if err != nil {
		return nil, err
	}
	top, _, err := cborDecode(raw, 0)
	if err != nil {
		return nil, err
	}
	elems, _ := top.([]any)
	body, ok := elems[0].(*cborMap)
	if !ok {
		return nil, errors.New("transaction body is not a map")
	}
	tx := &txRec{hash: id, valid: true, size: len(raw)}
	d := &decodedTx{rec: tx, networkIDs: map[byte]bool{}}

	if v, ok := body.get(0); ok {
		if d.inputs, err = decodeInputs(v); err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
	}
	if len(d.inputs) == 0 {
		return nil, errors.New("transaction has no inputs")
	}
	outs, ok := body.get(1)
	if !ok {
		return nil, errors.New("transaction has no outputs")
	}
	list, ok := outs.([]any)
	if !ok {
		return nil, errors.New("outputs are not a list")
	}
	for i, o := range list {
		out, err := d.decodeOutput(o)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		out.index = i
		tx.outputs = append(tx.outputs, out)
	}
	if v, ok := body.get(2); ok {
		tx.fee, ok = v.(uint64)
		if !ok {
			return nil, errors.New("fee is not an unsigned integer")
		}
	}
	if v, ok := body.get(3); ok {
		if s, ok := v.(uint64); ok {
			tx.invalidHereafter = Slot(int64(s))
		}
	}
	if v, ok := body.get(8); ok {
		if s, ok := v.(uint64); ok {
			tx.invalidBefore = Slot(int64(s))
		}
	}
	if v, ok := body.get(4); ok {
		d.certificates(v)
	}
	if v, ok := body.get(5); ok {
		if m, ok := v.(*cborMap); ok {
			tx.withdrawals = len(m.Keys)
			for _, amt := range m.Vals {
				if u, ok := amt.(uint64); ok {
					d.withdrawn += u
				}
			}
		}
	}
	if v, ok := body.get(9); ok {
		if tx.mint, err = decodeMint(v); err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	if v, ok := body.get(13); ok {
		if d.collateral, err = decodeInputs(v); err != nil {
			return nil, fmt.Errorf("collateral: %w", err)
		}
	}
	if v, ok := body.get(16); ok {
		out, err := d.decodeOutput(v)
		if err != nil {
			return nil, fmt.Errorf("collateral return: %w", err)
		}
		out.collateral = true
		out.index = len(tx.outputs)
		tx.outputs = append(tx.outputs, out)
	}
	if v, ok := body.get(18); ok {
		if d.reference, err = decodeInputs(v); err != nil {
			return nil, fmt.Errorf("reference inputs: %w", err)
		}
	}
	if v, ok := body.get(22); ok {
		if u, ok := v.(uint64); ok {
			tx.treasuryDonation = u
		}
	}

	if wits, ok := elems[1].(*cborMap); ok {
		d.witnesses(wits)
	}
	aux := any(nil)
	switch len(elems) {
	case 3:
		aux = elems[2]
	case 4:
		if b, ok := elems[2].(bool); ok {
			tx.valid = b
		}
		aux = elems[3]
	}
	if tx.metadata, err = decodeAuxData(aux); err != nil {
		return nil, fmt.Errorf("auxiliary data: %w", err)
	}
	return d, nil
}

func decodeInputs(v any) ([]Input, error) {
	if t, ok := v.(cborTag); ok && t.Num == 258 {
		v = t.Content
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	out := make([]Input, 0, len(list))
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, errors.New("input is not [tx id, index]")
		}
		id, ok1 := pair[0].([]byte)
		ix, ok2 := pair[1].(uint64)
		if !ok1 || !ok2 || len(id) != 32 {
			return nil, errors.New("input is not [tx id, index]")
		}
		out = append(out, Input{TxHash: hex.EncodeToString(id), OutputIndex: int(ix)})
	}
	return out, nil
}

func (d *decodedTx) decodeOutput(v any) (*outRec, error) {
	var addr []byte
	var value any
	out := &outRec{}
	switch o := v.(type) {
	case []any: // legacy [address, value, ? datum hash]
		if len(o) < 2 {
			return nil, errors.New("short output")
		}
		addr, _ = o[0].([]byte)
		value = o[1]
		if len(o) > 2 {
			if h, ok := o[2].([]byte); ok {
				out.dataHash = hex.EncodeToString(h)
			}
		}
	case *cborMap: // post-Alonzo {0: address, 1: value, 2: datum option, 3: script ref}
		a, _ := o.get(0)
		addr, _ = a.([]byte)
		value, _ = o.get(1)
		if opt, ok := o.get(2); ok {
			if pair, ok := opt.([]any); ok && len(pair) == 2 {
				switch pair[0] {
				case uint64(0):
					if h, ok := pair[1].([]byte); ok {
						out.dataHash = hex.EncodeToString(h)
					}
				case uint64(1):
					if t, ok := pair[1].(cborTag); ok && t.Num == 24 {
						if b, ok := t.Content.([]byte); ok {
							out.inlineDatum = hex.EncodeToString(b)
							out.dataHash = hex.EncodeToString(blake256(b))
						}
					}
				}
			}
		}
		if ref, ok := o.get(3); ok {
			if t, ok := ref.(cborTag); ok && t.Num == 24 {
				if b, ok := t.Content.([]byte); ok {
					if s := scriptFromRef(b); s != nil {
						out.refScriptHash = s.hash
					}
				}
			}
		}
	default:
		return nil, errors.New("output is neither a list nor a map")
	}
	if len(addr) == 0 {
		return nil, errors.New("missing address")
	}
	s, err := addressFromBytes(addr)
	if err != nil {
		return nil, err
	}
	if addr[0]>>4 <= 7 {
		d.networkIDs[addr[0]&0x0f] = true
	}
	out.address = s
	switch val := value.(type) {
	case uint64:
		out.lovelace = val
	case []any:
		if len(val) != 2 {
			return nil, errors.New("value is not [coin, multiasset]")
		}
		c, ok := val[0].(uint64)
		if !ok {
			return nil, errors.New("coin is not an unsigned integer")
		}
		out.lovelace = c
		ma, ok := val[1].(*cborMap)
		if !ok {
			return nil, errors.New("multiasset is not a map")
		}
		for i, p := range ma.Keys {
			pid, ok := p.([]byte)
			names, ok2 := ma.Vals[i].(*cborMap)
			if !ok || !ok2 || len(pid) != 28 {
				return nil, errors.New("malformed multiasset")
			}
			for j, n := range names.Keys {
				nm, ok := n.([]byte)
				q, ok2 := names.Vals[j].(uint64)
				if !ok || !ok2 {
					return nil, errors.New("malformed multiasset")
				}
				out.assets = append(out.assets, Asset{Unit: hex.EncodeToString(pid) + hex.EncodeToString(nm), Quantity: q})
			}
		}
	default:
		return nil, errors.New("malformed value")
	}
	return out, nil
}

func decodeMint(v any) ([]Mint, error) {
	m, ok := v.(*cborMap)
	if !ok {
		return nil, errors.New("not a map")
	}
	var out []Mint
	for i, p := range m.Keys {
		pid, ok := p.([]byte)
		names, ok2 := m.Vals[i].(*cborMap)
		if !ok || !ok2 || len(pid) != 28 {
			return nil, errors.New("malformed mint")
		}
		for j, n := range names.Keys {
			nm, ok := n.([]byte)
			if !ok {
				return nil, errors.New("malformed asset name")
			}
			var q int64
			switch x := names.Vals[j].(type) {
			case uint64:
				q = int64(x)
			case int64:
				q = x
			default:
				return nil, errors.New("malformed mint quantity")
			}
			out = append(out, Mint{Unit: hex.EncodeToString(pid) + hex.EncodeToString(nm), Quantity: q})
		}
	}
	return out, nil
}

// certificates counts certificates the way tx_content reports them and sums deposits
// (mainnet parameters: 2 ADA key deposit, 500 ADA pool deposit).
func (d *decodedTx) certificates(v any) {
	if t, ok := v.(cborTag); ok && t.Num == 258 {
		v = t.Content
	}
	list, _ := v.([]any)
	tx := d.rec
	for _, c := range list {
		cert, ok := c.([]any)
		if !ok || len(cert) == 0 {
			continue
		}
		kind, _ := cert[0].(uint64)
		amount := func(i int) int64 {
			if len(cert) > i {
				if u, ok := cert[i].(uint64); ok {
					return int64(u)
				}
			}
			return 0
		}
		switch kind {
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
		case 7: // Conway registration with explicit deposit
			tx.stakeCerts++
			tx.deposit += amount(2)
		case 8:
			tx.stakeCerts++
			tx.deposit -= amount(2)
		case 11, 13: // registration + delegation
			tx.stakeCerts++
			tx.delegations++
			tx.deposit += amount(len(cert) - 1)
		case 12:
			tx.stakeCerts++
			tx.deposit += amount(3)
		}
	}
}

// witnesses registers the scripts a transaction reveals and counts its redeemers.
func (d *decodedTx) witnesses(w *cborMap) {
	tx := d.rec
	for i, k := range w.Keys {
		key, _ := k.(uint64)
		val := w.Vals[i]
		if t, ok := val.(cborTag); ok && t.Num == 258 {
			val = t.Content
		}
		switch key {
		case 1: // native scripts
			list, _ := val.([]any)
			for _, s := range list {
				ns, err := nativeScriptFromCBOR(s)
				if err != nil {
					continue
				}
				h, err := ns.Hash()
				if err != nil {
					continue
				}
				n := ns
				tx.scripts = append(tx.scripts, &scriptRec{hash: h, typ: "timelock", native: &n})
			}
		case 3, 6, 7: // Plutus V1, V2, V3
			version := map[uint64]int{3: 1, 6: 2, 7: 3}[key]
			list, _ := val.([]any)
			for _, s := range list {
				b, ok := s.([]byte)
				if !ok {
					continue
				}
				tx.scripts = append(tx.scripts, &scriptRec{hash: plutusScriptHash(version, b),
					typ: "plutusV" + strconv.Itoa(version), size: len(b)})
			}
		case 5: // redeemers: a list of [tag, index, data, ex units] or a map (Conway)
			switch r := val.(type) {
			case []any:
				tx.redeemers = len(r)
			case *cborMap:
				tx.redeemers = len(r.Keys)
			}
		}
	}
}

// scriptFromRef reads a reference script ([0, native] or [1|2|3, plutus bytes]).
func scriptFromRef(b []byte) *scriptRec {
	v, _, err := cborDecode(b, 0)
	if err != nil {
		return nil
	}
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil
	}
	switch pair[0] {
	case uint64(0):
		ns, err := nativeScriptFromCBOR(pair[1])
		if err != nil {
			return nil
		}
		h, err := ns.Hash()
		if err != nil {
			return nil
		}
		return &scriptRec{hash: h, typ: "timelock", native: &ns}
	case uint64(1), uint64(2), uint64(3):
		sb, ok := pair[1].([]byte)
		if !ok {
			return nil
		}
		version := int(pair[0].(uint64))
		return &scriptRec{hash: plutusScriptHash(version, sb), typ: "plutusV" + strconv.Itoa(version), size: len(sb)}
	}
	return nil
}

// decodeAuxData reads transaction metadata from the three auxiliary data forms: a plain map
// (Shelley), [metadata, scripts] (Allegra/Mary) and tag 259 {0: metadata, …} (Alonzo on).
func decodeAuxData(v any) ([]Metadata, error) {
	var md *cborMap
	switch a := v.(type) {
	case nil:
		return nil, nil
	case *cborMap:
		md = a
	case []any:
		if len(a) > 0 {
			md, _ = a[0].(*cborMap)
		}
	case cborTag:
		if a.Num == 259 {
			if m, ok := a.Content.(*cborMap); ok {
				if x, ok := m.get(0); ok {
					md, _ = x.(*cborMap)
				}
			}
		}
	}
	if md == nil {
		return nil, nil
	}
	out := make([]Metadata, 0, len(md.Keys))
	for i, k := range md.Keys {
		label, ok := k.(uint64)
		if !ok {
			return nil, errors.New("metadata label is not an unsigned integer")
		}
		out = append(out, Metadata{Label: label, JSON: metadatumJSON(md.Vals[i])})
	}
	return out, nil
}

// metadatumJSON converts a metadatum the way db-sync does without a schema: integers stay
// numbers, text stays text, bytes become "0x…" hex, lists become arrays, maps become objects
// whose keys are the text, the decimal integer or the "0x…" bytes (other keys are JSON-encoded).
func metadatumJSON(v any) any {
	switch x := v.(type) {
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
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
	case *cborMap:
		out := make(map[string]any, len(x.Keys))
		for i, k := range x.Keys {
			var key string
			switch kk := k.(type) {
			case string:
				key = kk
			case uint64:
				key = strconv.FormatUint(kk, 10)
			case int64:
				key = strconv.FormatInt(kk, 10)
			case []byte:
				key = "0x" + hex.EncodeToString(kk)
			default:
				b, _ := json.Marshal(metadatumJSON(kk))
				key = string(b)
			}
			out[key] = metadatumJSON(x.Vals[i])
		}
		return out
	}
	return nil
}
