package blockfrostemu

import (
	"fmt"
	"sort"

	"github.com/tbackend/tbackend/cardano"
)

// Tip returns the latest block.
func (e *Emulator) Tip() Tip {
	e.chain.mu.RLock()
	defer e.chain.mu.RUnlock()
	return e.chain.tipLocked()
}

// AdvanceTip produces blocks (20 slots apart); the first holds every pending transaction
// (added with AddTx or submitted). It returns the new tip.
func (e *Emulator) AdvanceTip(blocks int) Tip {
	e.chain.mu.Lock()
	defer e.chain.mu.Unlock()
	e.chain.advance(blocks, 0)
	return e.chain.tipLocked()
}

// AddTx puts a transaction into the next block (it becomes visible under /txs once AdvanceTip
// produces that block) and returns its hash. Outputs must be valid addresses of the emulator's
// network; inputs naming known outputs spend them (see Input).
func (e *Emulator) AddTx(tx Tx) (string, error) {
	c := e.chain
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.fromSpec(tx)
	if err != nil {
		return "", err
	}
	c.enqueue(rec)
	return rec.hash, nil
}

// Pending returns the hashes of the transactions waiting for the next block.
func (e *Emulator) Pending() []string {
	e.chain.mu.RLock()
	defer e.chain.mu.RUnlock()
	out := make([]string, 0, len(e.chain.pending))
	for _, tx := range e.chain.pending {
		out = append(out, tx.hash)
	}
	return out
}

// Confirmations returns how many blocks were built on top of the transaction's block (0 in the
// tip block); ok is false for unknown and pending transactions.
func (e *Emulator) Confirmations(hash string) (n int64, ok bool) {
	e.chain.mu.RLock()
	defer e.chain.mu.RUnlock()
	tx, found := e.chain.txs[hash]
	if !found || tx.block == nil {
		return 0, false
	}
	return e.chain.tip.height - tx.block.height, true
}

// SlotTime returns the UNIX time of a slot on the emulator's network.
func (e *Emulator) SlotTime(slot int64) int64 { return e.params.slotTime(slot) }

// Address returns a deterministic base address (payment key + stake key) of the emulator's
// network derived from label: handy payers and payees for tests.
func (e *Emulator) Address(label string) string {
	return mustAddress(e.network, cardano.AddrBaseKeyKey, keyHash("test/pay/"+label), keyHash("test/stake/"+label))
}

// Token returns a token of the data set by key (TokenSNEK, TokenHerd, …).
func (e *Emulator) Token(key string) (Token, bool) {
	t, ok := e.tokens[key]
	return t, ok
}

// MustToken is Token that panics when the key is unknown (SNEK on a test network, a typo).
func (e *Emulator) MustToken(key string) Token {
	t, ok := e.tokens[key]
	if !ok {
		panic(fmt.Sprintf("blockfrostemu: no token %q on %s", key, e.network))
	}
	return t
}

// Tokens returns the data set's tokens, by key.
func (e *Emulator) Tokens() []Token {
	out := make([]Token, 0, len(e.tokens))
	for _, t := range e.tokens {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Holder is one address holding an asset.
type Holder struct {
	Address  string
	Quantity uint64
}

// Holders returns the current holders of an asset in the order /assets/{asset}/addresses lists
// them (first appearance).
func (e *Emulator) Holders(unit string) []Holder {
	e.chain.mu.RLock()
	defer e.chain.mu.RUnlock()
	a, ok := e.chain.assets[unit]
	if !ok {
		return nil
	}
	out := make([]Holder, len(a.holders))
	for i, h := range a.holders {
		out[i] = Holder{Address: h.address, Quantity: h.qty}
	}
	return out
}
