package blockfrostemu

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
)

// What a wallet needs to pay: its unspent outputs, the protocol parameters for fees, and funds.

// addressUTXOJSON is one entry of /addresses/{address}/utxos.
type addressUTXOJSON struct {
	Address             string       `json:"address"`
	TxHash              string       `json:"tx_hash"`
	TxIndex             int          `json:"tx_index"` // deprecated by Blockfrost, still sent
	OutputIndex         int          `json:"output_index"`
	Amount              []amountJSON `json:"amount"`
	Block               string       `json:"block"`
	DataHash            *string      `json:"data_hash"`
	InlineDatum         *string      `json:"inline_datum"`
	ReferenceScriptHash *string      `json:"reference_script_hash"`
}

type utxoAt struct {
	tx  *txRec
	out *outRec
}

// addressUTXOs lists the unspent outputs at an address in chain order (block, transaction,
// output), paged like Blockfrost. An address that never received anything is 404, as there.
func (e *Emulator) addressUTXOs(w http.ResponseWriter, r *http.Request, params map[string]string) {
	addr := params["address"]
	if err := validAddress(e.network, addr); err != nil {
		writeBadRequest(w, "Invalid address for this network or malformed address format.")
		return
	}
	p, msg := parsePaging(r)
	if msg != "" {
		writeBadRequest(w, msg)
		return
	}
	c := e.chain
	c.mu.RLock()
	seen, list := c.utxosAt(addr)
	out := pageOf(list, p, func(u utxoAt) addressUTXOJSON {
		return addressUTXOJSON{Address: addr, TxHash: u.tx.hash, TxIndex: u.out.index, OutputIndex: u.out.index,
			Amount: sumAmounts(u.out.lovelace, u.out.assets), Block: u.tx.block.hash,
			DataHash: nullable(u.out.dataHash), InlineDatum: nullable(u.out.inlineDatum),
			ReferenceScriptHash: nullable(u.out.refScriptHash)}
	})
	c.mu.RUnlock()
	if !seen {
		writeNotFound(w)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// utxosAt returns whether addr ever received an output in a block, and its unspent outputs in
// chain order. The caller holds the read lock.
func (c *chain) utxosAt(addr string) (seen bool, list []utxoAt) {
	for _, tx := range c.txs {
		if tx.block == nil {
			continue
		}
		for _, o := range tx.outputs {
			if o.address != addr || o.collateral == tx.valid {
				continue // not at addr, or not created by this outcome
			}
			seen = true
			if o.consumedBy == "" {
				list = append(list, utxoAt{tx, o})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.tx.block.height != b.tx.block.height {
			return a.tx.block.height < b.tx.block.height
		}
		if a.tx.index != b.tx.index {
			return a.tx.index < b.tx.index
		}
		return a.out.index < b.out.index
	})
	return seen, list
}

// epochParams serves /epochs/latest/parameters: mainnet's Conway fee and size parameters (the
// test networks use the same values), which a wallet needs to price a transaction.
func (e *Emulator) epochParams(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	epoch := e.Tip().Epoch
	coinsPerByte := "4310"
	WriteJSON(w, http.StatusOK, map[string]any{
		"epoch": epoch, "min_fee_a": minFeeA, "min_fee_b": minFeeB, "max_block_size": 90112,
		"max_tx_size": maxTxSize, "max_block_header_size": 1100, "key_deposit": "2000000",
		"pool_deposit": "500000000", "e_max": 18, "n_opt": 500, "a0": 0.3, "rho": 0.003, "tau": 0.2,
		"decentralisation_param": 0, "extra_entropy": nil, "protocol_major_ver": 10, "protocol_minor_ver": 0,
		"min_utxo": coinsPerByte, "min_pool_cost": "170000000", "nonce": fmt.Sprintf("%x", seedHash32("nonce/"+strconv.FormatInt(epoch, 10))),
		"cost_models": nil, "price_mem": 0.0577, "price_step": 0.0000721, "max_tx_ex_mem": "14000000",
		"max_tx_ex_steps": "10000000000", "max_block_ex_mem": "62000000", "max_block_ex_steps": "20000000000",
		"max_val_size": "5000", "collateral_percent": 150, "max_collateral_inputs": 3,
		"coins_per_utxo_size": coinsPerByte, "coins_per_utxo_word": coinsPerByte, "cost_models_raw": nil,
		// Conway governance (mainnet's values), which wallets paying invoices never read.
		"pvt_motion_no_confidence": 0.51, "pvt_committee_normal": 0.51, "pvt_committee_no_confidence": 0.51,
		"pvt_hard_fork_initiation": 0.51, "pvtpp_security_group": 0.51, "pvt_p_p_security_group": 0.51,
		"dvt_motion_no_confidence": 0.67, "dvt_committee_normal": 0.67, "dvt_committee_no_confidence": 0.6,
		"dvt_update_to_constitution": 0.75, "dvt_hard_fork_initiation": 0.6, "dvt_p_p_network_group": 0.67,
		"dvt_p_p_economic_group": 0.67, "dvt_p_p_technical_group": 0.67, "dvt_p_p_gov_group": 0.75,
		"dvt_treasury_withdrawal": 0.67, "committee_min_size": "7", "committee_max_term_length": "146",
		"gov_action_lifetime": "6", "gov_action_deposit": "100000000000", "drep_deposit": "500000000",
		"drep_activity": "20", "min_fee_ref_script_cost_per_byte": 15,
	})
}

// The fee formula of mainnet (lovelace): minFeeA per byte plus minFeeB.
const (
	minFeeA = 44
	minFeeB = 155381
)

// Fund puts a transaction paying lovelace to address into the tip block, so the output is
// spendable at once (a faucet, for dev wallets), and returns its hash.
func (e *Emulator) Fund(address string, lovelace uint64) (string, error) {
	c := e.chain
	c.mu.Lock()
	rec, err := c.fromSpec(Tx{Outputs: []Output{{Address: address, Lovelace: lovelace}}})
	if err != nil {
		c.mu.Unlock()
		return "", err
	}
	c.txs[rec.hash] = rec
	c.place(rec, c.tip)
	c.mu.Unlock()
	e.counters.Notify()
	return rec.hash, nil
}
