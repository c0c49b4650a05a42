package blockfrostemu

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"sync"

	"github.com/tbackend/tbackend/cardano"
)

// Asset is an amount of one native asset (unit = policy id + hex asset name).
type Asset struct {
	Unit     string
	Quantity uint64
}

// Mint is a mint (positive) or burn (negative) of one native asset.
type Mint struct {
	Unit     string
	Quantity int64
}

// Output is a transaction output.
type Output struct {
	Address  string
	Lovelace uint64
	Assets   []Asset
	// DataHash, InlineDatum (CBOR hex) and ReferenceScriptHash are optional.
	DataHash            string
	InlineDatum         string
	ReferenceScriptHash string
}

// Input spends an output. When TxHash/OutputIndex name an output the emulator knows, its
// address and value are taken from it and it is marked spent (consumed_by_tx); spending it
// twice is an error. Otherwise the input is synthetic: Address and value are used as given (and,
// when Address and Assets are set, the holder's balances are debited), or, left empty, filled in
// so that the transaction balances, at the address of the last output (the usual change address).
type Input struct {
	TxHash      string
	OutputIndex int
	Address     string
	Lovelace    uint64
	Assets      []Asset
}

// Metadata is one transaction metadata entry: a label and its JSON value (as Blockfrost serves
// it under json_metadata).
type Metadata struct {
	Label uint64
	JSON  any
}

// CIP20 builds label 674 metadata (CIP-20 transaction message): {"msg": [...]}, with strings
// longer than 64 bytes split into 64-byte lines as the CIP requires.
func CIP20(lines ...string) Metadata {
	msg := []any{}
	for _, l := range lines {
		parts := cardano.MemoLines(l)
		if len(parts) == 0 {
			parts = []string{""} // an empty line stays a line
		}
		for _, p := range parts {
			msg = append(msg, p)
		}
	}
	return Metadata{Label: cardano.CIP20Label, JSON: map[string]any{"msg": msg}}
}

// Tx describes a transaction for AddTx. Zero values get realistic defaults: a fee from the
// mainnet fee formula (155381 + 44 × size), a size estimated from the content, a derived hash.
type Tx struct {
	Hash             string // 64 hex characters; derived when empty
	Inputs           []Input
	Outputs          []Output
	CollateralInputs []Input
	CollateralReturn *Output
	ReferenceInputs  []Input
	Mint             []Mint
	Fee              uint64
	Deposit          int64
	InvalidBefore    *int64 // validity interval start (slot), inclusive
	InvalidHereafter *int64 // validity interval end (slot), exclusive (the TTL)
	Metadata         []Metadata
	// Invalid marks a transaction whose Plutus scripts failed (valid_contract false): its
	// collateral is consumed instead of its inputs and it mints nothing.
	Invalid       bool
	RedeemerCount int
	Size          int
}

// Slot returns a pointer to s, for InvalidBefore / InvalidHereafter.
func Slot(s int64) *int64 { return &s }

type outRef struct {
	tx    string
	index int
}

type inRec struct {
	ref                                  outRef
	address                              string
	lovelace                             uint64
	assets                               []Asset
	dataHash, inlineDatum, refScriptHash string
	collateral, reference                bool
	known, explicit                      bool
}

type outRec struct {
	address                              string
	lovelace                             uint64
	assets                               []Asset
	dataHash, inlineDatum, refScriptHash string
	collateral                           bool
	index                                int
	consumedBy                           string
}

type txRec struct {
	hash                                 string
	block                                *blockRec // nil while pending
	index                                int
	inputs                               []*inRec
	outputs                              []*outRec
	mint                                 []Mint
	fee                                  uint64
	deposit                              int64
	size                                 int
	invalidBefore, invalidHereafter      *int64
	metadata                             []Metadata
	valid                                bool
	redeemers, withdrawals               int
	stakeCerts, delegations, poolUpdates int
	poolRetires, mirs                    int
	treasuryDonation                     uint64
	scripts                              []*scriptRec // scripts its witnesses reveal
}

type blockRec struct {
	height, slot, time int64
	hash               string
	txs                []*txRec
}

type histEntry struct {
	tx     *txRec
	minted bool
	amount uint64
}

type holderRec struct {
	address string
	qty     uint64
}

// offchainMeta is token-registry metadata as Blockfrost serves it.
type offchainMeta struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Ticker      *string `json:"ticker"`
	URL         *string `json:"url"`
	Logo        *string `json:"logo"`
	Decimals    *int    `json:"decimals"`
}

type assetRec struct {
	unit, policy, name string
	fingerprint        string
	supply             *big.Int
	history            []histEntry
	txs                []*txRec
	lastTx             *txRec
	holders            []*holderRec
	holderIdx          map[string]int
	offchain           *offchainMeta
	onchain            map[string]any
	standard           *string
	extra              *string
}

// chain is the emulated ledger: blocks with transactions, the assets they mint and move, and
// the tip. All methods take the lock themselves.
type chain struct {
	mu     sync.RWMutex
	net    Network
	params netParams

	tip      *blockRec
	blocks   map[int64]*blockRec // blocks holding transactions, and the tip
	txs      map[string]*txRec
	pending  []*txRec
	reserved map[outRef]string // outputs spent by pending transactions

	assets     map[string]*assetRec
	assetOrder []*assetRec // by first mint
	policies   map[string][]*assetRec
	scripts    map[string]*scriptRec
	seq        int
}

func newChain(n Network, p netParams, tipHeight, tipSlot int64) *chain {
	c := &chain{net: n, params: p, blocks: map[int64]*blockRec{}, txs: map[string]*txRec{},
		reserved: map[outRef]string{}, assets: map[string]*assetRec{}, policies: map[string][]*assetRec{},
		scripts: map[string]*scriptRec{}}
	c.tip = c.blockAt(tipHeight, tipSlot)
	return c
}

// blockAt returns the block record at height (creating it with the given slot).
func (c *chain) blockAt(height, slot int64) *blockRec {
	if b, ok := c.blocks[height]; ok {
		return b
	}
	b := &blockRec{height: height, slot: slot, time: c.params.slotTime(slot), hash: c.blockHash(height)}
	c.blocks[height] = b
	return b
}

func (c *chain) blockHash(height int64) string {
	return hex.EncodeToString(seedHash32(fmt.Sprintf("block/%s/%d", c.net, height)))
}

// Tip is the chain's latest block.
type Tip struct {
	Height    int64
	Slot      int64
	Time      int64 // UNIX seconds
	Epoch     int64
	EpochSlot int64
	Hash      string
}

func (c *chain) tipLocked() Tip {
	e, es := c.params.epochOf(c.tip.slot)
	return Tip{Height: c.tip.height, Slot: c.tip.slot, Time: c.tip.time, Epoch: e, EpochSlot: es, Hash: c.tip.hash}
}

// advance produces n blocks, 20 slots apart (or at least at minSlot for the first one); the
// first holds every pending transaction.
func (c *chain) advance(n int, minSlot int64) {
	for i := 0; i < n; i++ {
		slot := c.tip.slot + 20
		if i == 0 && minSlot > slot {
			slot = minSlot
		}
		if len(c.tip.txs) == 0 && c.tip != nil {
			delete(c.blocks, c.tip.height) // empty blocks need no record once they are not the tip
		}
		b := c.blockAt(c.tip.height+1, slot)
		c.tip = b
		if i == 0 {
			for _, tx := range c.pending {
				c.place(tx, b)
			}
			c.pending = nil
		}
	}
}

// place puts tx into block b and applies it to the ledger.
func (c *chain) place(tx *txRec, b *blockRec) {
	tx.block = b
	tx.index = len(b.txs)
	b.txs = append(b.txs, tx)
	c.apply(tx)
}

// apply changes the ledger for a transaction that is now in a block.
func (c *chain) apply(tx *txRec) {
	touched := map[string]bool{}
	for _, in := range tx.inputs {
		if in.reference || in.collateral != !tx.valid {
			continue
		}
		delete(c.reserved, in.ref)
		if src, ok := c.txs[in.ref.tx]; ok && in.known {
			if out := src.output(in.ref.index); out != nil {
				out.consumedBy = tx.hash
			}
		}
		for _, a := range in.assets {
			touched[a.Unit] = true
			if in.known || in.explicit {
				c.debit(a.Unit, in.address, a.Quantity)
			}
		}
	}
	for _, in := range tx.inputs { // release reservations of inputs this outcome did not spend
		if in.collateral == tx.valid && !in.reference {
			delete(c.reserved, in.ref)
		}
	}
	for _, out := range tx.outputs {
		if out.collateral == tx.valid {
			continue
		}
		for _, a := range out.assets {
			touched[a.Unit] = true
			c.credit(a.Unit, out.address, a.Quantity)
		}
	}
	if tx.valid {
		for _, s := range tx.scripts {
			if _, ok := c.scripts[s.hash]; !ok {
				c.scripts[s.hash] = s
			}
		}
		for _, m := range tx.mint {
			a := c.asset(m.Unit)
			touched[m.Unit] = true
			if m.Quantity >= 0 {
				a.history = append(a.history, histEntry{tx: tx, minted: true, amount: uint64(m.Quantity)})
			} else {
				a.history = append(a.history, histEntry{tx: tx, amount: uint64(-m.Quantity)})
			}
			a.supply.Add(a.supply, big.NewInt(m.Quantity))
		}
		c.applyCIP25(tx)
	}
	for unit := range touched {
		if a, ok := c.assets[unit]; ok && a.lastTx != tx {
			a.txs = append(a.txs, tx)
			a.lastTx = tx
		}
	}
}

func (tx *txRec) output(i int) *outRec {
	for _, o := range tx.outputs {
		if o.index == i {
			return o
		}
	}
	return nil
}

// asset returns the record of unit, creating it (in first-mint order) when new.
func (c *chain) asset(unit string) *assetRec {
	if a, ok := c.assets[unit]; ok {
		return a
	}
	policy, name := unit[:56], unit[56:]
	fp, _ := cardano.AssetFingerprint(policy, name)
	a := &assetRec{unit: unit, policy: policy, name: name, fingerprint: fp, supply: new(big.Int),
		holderIdx: map[string]int{}}
	c.assets[unit] = a
	c.assetOrder = append(c.assetOrder, a)
	c.policies[policy] = append(c.policies[policy], a)
	return a
}

func (c *chain) credit(unit, address string, q uint64) {
	if q == 0 {
		return
	}
	a := c.asset(unit)
	if i, ok := a.holderIdx[address]; ok {
		h := a.holders[i]
		if h.qty+q < h.qty {
			h.qty = ^uint64(0)
		} else {
			h.qty += q
		}
		return
	}
	a.holderIdx[address] = len(a.holders)
	a.holders = append(a.holders, &holderRec{address: address, qty: q})
}

func (c *chain) debit(unit, address string, q uint64) {
	a, ok := c.assets[unit]
	if !ok {
		return
	}
	i, ok := a.holderIdx[address]
	if !ok {
		return
	}
	h := a.holders[i]
	if h.qty > q {
		h.qty -= q
		return
	}
	// The address no longer holds the asset: it leaves the list (and re-enters at the end if
	// it receives the asset again, like Blockfrost's first-appearance order over unspent outputs).
	a.holders = append(a.holders[:i], a.holders[i+1:]...)
	delete(a.holderIdx, address)
	for j := i; j < len(a.holders); j++ {
		a.holderIdx[a.holders[j].address] = j
	}
}

// applyCIP25 records label-721 on-chain metadata of the assets a transaction mints.
func (c *chain) applyCIP25(tx *txRec) {
	for _, md := range tx.metadata {
		if md.Label != 721 {
			continue
		}
		root, ok := md.JSON.(map[string]any)
		if !ok {
			continue
		}
		version := "CIP25v1"
		if v, ok := root["version"]; ok && fmt.Sprint(v) == "2" {
			version = "CIP25v2"
		}
		for _, m := range tx.mint {
			if m.Quantity <= 0 {
				continue
			}
			policy, nameHex := m.Unit[:56], m.Unit[56:]
			byPolicy, ok := root[policy].(map[string]any)
			if !ok {
				continue
			}
			key := nameHex
			if version == "CIP25v1" {
				raw, _ := hex.DecodeString(nameHex)
				key = string(raw)
			}
			entry, ok := byPolicy[key].(map[string]any)
			if !ok {
				continue
			}
			a := c.asset(m.Unit)
			a.onchain = entry
			if _, hasName := entry["name"]; hasName {
				if _, hasImage := entry["image"]; hasImage {
					std := version
					a.standard = &std
					continue
				}
			}
			a.standard = nil
		}
	}
}

// --- building transactions -------------------------------------------------------------

var errSpent = errors.New("BadInputsUTxO")

// resolveInputs turns spec inputs into records: known outputs are looked up (and must be
// unspent), synthetic ones get ids and, when empty, balancing values.
func (c *chain) resolveInputs(txHash string, ins []Input, collateral, reference bool) ([]*inRec, error) {
	out := make([]*inRec, 0, len(ins))
	for i, in := range ins {
		r := &inRec{collateral: collateral, reference: reference}
		if in.TxHash != "" {
			if !isHex(in.TxHash, 64) {
				return nil, fmt.Errorf("input %d: tx hash must be 64 lower-case hex characters", i)
			}
			r.ref = outRef{in.TxHash, in.OutputIndex}
			if src, ok := c.txs[in.TxHash]; ok {
				o := src.output(in.OutputIndex)
				if o == nil {
					return nil, fmt.Errorf("input %d: %s has no output %d", i, in.TxHash, in.OutputIndex)
				}
				if !reference {
					if o.consumedBy != "" {
						return nil, fmt.Errorf("%w: %s#%d was spent by %s", errSpent, in.TxHash, in.OutputIndex, o.consumedBy)
					}
					if by, ok := c.reserved[r.ref]; ok {
						return nil, fmt.Errorf("%w: %s#%d is spent by pending %s", errSpent, in.TxHash, in.OutputIndex, by)
					}
				}
				r.known = true
				r.address, r.lovelace, r.assets = o.address, o.lovelace, o.assets
				r.dataHash, r.inlineDatum, r.refScriptHash = o.dataHash, o.inlineDatum, o.refScriptHash
				out = append(out, r)
				continue
			}
		} else {
			kind := "in"
			if collateral {
				kind = "col"
			} else if reference {
				kind = "ref"
			}
			r.ref = outRef{hex.EncodeToString(seedHash32(fmt.Sprintf("funding/%s/%s/%d", txHash, kind, i))), 0}
		}
		if in.Address != "" {
			if err := validAddress(c.net, in.Address); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
		}
		r.address, r.lovelace, r.assets = in.Address, in.Lovelace, in.Assets
		r.explicit = in.Address != "" && len(in.Assets) > 0
		out = append(out, r)
	}
	return out, nil
}

// balance fills synthetic inputs left empty so that inputs = outputs + fee + deposit - mint.
func balance(tx *txRec, withdrawn uint64) {
	var regular []*inRec
	for _, in := range tx.inputs {
		if !in.collateral && !in.reference {
			regular = append(regular, in)
		}
	}
	changeAddr := ""
	for _, o := range tx.outputs {
		if !o.collateral {
			changeAddr = o.address
		}
	}
	need := new(big.Int).SetUint64(tx.fee)
	need.Add(need, big.NewInt(tx.deposit))
	need.Add(need, new(big.Int).SetUint64(tx.treasuryDonation))
	need.Sub(need, new(big.Int).SetUint64(withdrawn))
	assets := map[string]*big.Int{}
	add := func(unit string, q *big.Int) {
		if assets[unit] == nil {
			assets[unit] = new(big.Int)
		}
		assets[unit].Add(assets[unit], q)
	}
	for _, o := range tx.outputs {
		if o.collateral {
			continue
		}
		need.Add(need, new(big.Int).SetUint64(o.lovelace))
		for _, a := range o.assets {
			add(a.Unit, new(big.Int).SetUint64(a.Quantity))
		}
	}
	for _, m := range tx.mint {
		add(m.Unit, big.NewInt(-m.Quantity))
	}
	var empty []*inRec
	for _, in := range regular {
		if in.address == "" && in.lovelace == 0 && len(in.assets) == 0 {
			empty = append(empty, in)
			continue
		}
		need.Sub(need, new(big.Int).SetUint64(in.lovelace))
		for _, a := range in.assets {
			add(a.Unit, new(big.Int).SetUint64(a.Quantity).Neg(new(big.Int).SetUint64(a.Quantity)))
		}
	}
	for _, in := range tx.inputs {
		if in.address == "" {
			in.address = changeAddr
		}
	}
	if len(empty) == 0 {
		return
	}
	if need.Sign() < 0 {
		need.SetInt64(0)
	}
	// Spread the lovelace over the empty inputs (the first takes the remainder) and put every
	// missing asset on the first.
	share := new(big.Int).Div(need, big.NewInt(int64(len(empty))))
	rest := new(big.Int).Sub(need, new(big.Int).Mul(share, big.NewInt(int64(len(empty)))))
	for i, in := range empty {
		v := new(big.Int).Set(share)
		if i == 0 {
			v.Add(v, rest)
		}
		in.lovelace = v.Uint64()
	}
	units := make([]string, 0, len(assets))
	for u, q := range assets {
		if q.Sign() > 0 {
			units = append(units, u)
		}
	}
	sort.Strings(units)
	for _, u := range units {
		empty[0].assets = append(empty[0].assets, Asset{Unit: u, Quantity: assets[u].Uint64()})
	}
	for _, in := range tx.inputs {
		if in.collateral && in.lovelace == 0 && len(in.assets) == 0 {
			in.lovelace = 5_000_000
		}
		if in.reference && in.lovelace == 0 && len(in.assets) == 0 {
			in.lovelace = 10_000_000
		}
	}
}

// fromSpec validates a Tx and turns it into a record.
func (c *chain) fromSpec(spec Tx) (*txRec, error) {
	c.seq++
	hash := spec.Hash
	if hash == "" {
		hash = hex.EncodeToString(seedHash32(fmt.Sprintf("addtx/%s/%d", c.net, c.seq)))
	} else if !isHex(hash, 64) {
		return nil, errors.New("blockfrostemu: Tx.Hash must be 64 lower-case hex characters")
	}
	if _, ok := c.txs[hash]; ok {
		return nil, fmt.Errorf("blockfrostemu: transaction %s already exists", hash)
	}
	if len(spec.Outputs) == 0 {
		return nil, errors.New("blockfrostemu: a transaction needs at least one output")
	}
	tx := &txRec{hash: hash, valid: !spec.Invalid, mint: spec.Mint, deposit: spec.Deposit,
		invalidBefore: spec.InvalidBefore, invalidHereafter: spec.InvalidHereafter,
		metadata: spec.Metadata, redeemers: spec.RedeemerCount, size: spec.Size, fee: spec.Fee}
	for i, o := range spec.Outputs {
		if err := checkOutput(c.net, o); err != nil {
			return nil, fmt.Errorf("blockfrostemu: output %d: %w", i, err)
		}
		tx.outputs = append(tx.outputs, &outRec{address: o.Address, lovelace: o.Lovelace, assets: o.Assets,
			dataHash: o.DataHash, inlineDatum: o.InlineDatum, refScriptHash: o.ReferenceScriptHash, index: i})
	}
	if spec.CollateralReturn != nil {
		o := *spec.CollateralReturn
		if err := checkOutput(c.net, o); err != nil {
			return nil, fmt.Errorf("blockfrostemu: collateral return: %w", err)
		}
		tx.outputs = append(tx.outputs, &outRec{address: o.Address, lovelace: o.Lovelace, assets: o.Assets,
			collateral: true, index: len(spec.Outputs)})
	}
	for _, m := range spec.Mint {
		if !isHex(m.Unit, -1) || len(m.Unit) < 56 || len(m.Unit) > 120 || len(m.Unit)%2 != 0 {
			return nil, fmt.Errorf("blockfrostemu: mint unit %q is not policy id + asset name hex", m.Unit)
		}
	}
	ins := spec.Inputs
	if len(ins) == 0 {
		ins = []Input{{}} // one synthetic input that balances the transaction
	}
	regular, err := c.resolveInputs(hash, ins, false, false)
	if err != nil {
		return nil, err
	}
	col, err := c.resolveInputs(hash, spec.CollateralInputs, true, false)
	if err != nil {
		return nil, err
	}
	ref, err := c.resolveInputs(hash, spec.ReferenceInputs, false, true)
	if err != nil {
		return nil, err
	}
	tx.inputs = append(append(regular, col...), ref...)
	if tx.size == 0 {
		tx.size = 180 + 40*len(tx.inputs) + 65*len(tx.outputs) + 45*len(tx.mint)
		if len(tx.metadata) > 0 {
			b, _ := json.Marshal(tx.metadata)
			tx.size += len(b)
		}
	}
	if tx.fee == 0 {
		tx.fee = 155381 + 44*uint64(tx.size)
	}
	balance(tx, 0)
	return tx, nil
}

func checkOutput(n Network, o Output) error {
	if err := validAddress(n, o.Address); err != nil {
		return err
	}
	for _, a := range o.Assets {
		if !isHex(a.Unit, -1) || len(a.Unit) < 56 || len(a.Unit) > 120 || len(a.Unit)%2 != 0 {
			return fmt.Errorf("asset unit %q is not policy id + asset name hex", a.Unit)
		}
	}
	return nil
}

// enqueue adds a transaction to the next block.
func (c *chain) enqueue(tx *txRec) {
	for _, in := range tx.inputs {
		if !in.reference && in.known {
			c.reserved[in.ref] = tx.hash
		}
	}
	c.txs[tx.hash] = tx
	c.pending = append(c.pending, tx)
}

// isHex reports whether s is lower-case hex of length n (any even-or-odd length when n < 0).
func isHex(s string, n int) bool {
	if n >= 0 && len(s) != n {
		return false
	}
	if len(s) == 0 {
		return n == 0
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

// isHexAnyCase is Blockfrost's own check (/^[A-Fa-f0-9]+$/).
func isHexAnyCase(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') && (ch < 'A' || ch > 'F') {
			return false
		}
	}
	return true
}

// qty renders a quantity as Blockfrost does: a decimal string.
func qty(v uint64) string { return strconv.FormatUint(v, 10) }

// sumAmounts adds lovelace and assets of outputs into Blockfrost's amount list: lovelace first,
// then assets in order of first appearance.
func sumAmounts(lovelace uint64, assetLists ...[]Asset) []amountJSON {
	out := []amountJSON{{Unit: "lovelace", Quantity: qty(lovelace)}}
	idx := map[string]int{}
	var sums []*big.Int
	var units []string
	for _, l := range assetLists {
		for _, a := range l {
			i, ok := idx[a.Unit]
			if !ok {
				i = len(units)
				idx[a.Unit] = i
				units = append(units, a.Unit)
				sums = append(sums, new(big.Int))
			}
			sums[i].Add(sums[i], new(big.Int).SetUint64(a.Quantity))
		}
	}
	for i, u := range units {
		out = append(out, amountJSON{Unit: u, Quantity: sums[i].String()})
	}
	return out
}
