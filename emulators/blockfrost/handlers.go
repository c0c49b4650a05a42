package blockfrostemu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tbackend/tbackend/cardano"
)

// The JSON bodies, with fields in the order of the spec's schemas (Blockfrost serialises with
// its response schemas, so that is the order on the wire).

type amountJSON struct {
	Unit     string `json:"unit"`
	Quantity string `json:"quantity"`
}

type blockJSON struct {
	Time          int64   `json:"time"`
	Height        int64   `json:"height"`
	Hash          string  `json:"hash"`
	Slot          int64   `json:"slot"`
	Epoch         int64   `json:"epoch"`
	EpochSlot     int64   `json:"epoch_slot"`
	SlotLeader    string  `json:"slot_leader"`
	Size          int     `json:"size"`
	TxCount       int     `json:"tx_count"`
	Output        *string `json:"output"`
	Fees          *string `json:"fees"`
	BlockVRF      *string `json:"block_vrf"`
	OpCert        *string `json:"op_cert"`
	OpCertCounter *string `json:"op_cert_counter"`
	PreviousBlock *string `json:"previous_block"`
	NextBlock     *string `json:"next_block"`
	Confirmations int64   `json:"confirmations"`
}

type assetJSON struct {
	Asset                   string         `json:"asset"`
	PolicyID                string         `json:"policy_id"`
	AssetName               *string        `json:"asset_name"`
	Fingerprint             string         `json:"fingerprint"`
	Quantity                string         `json:"quantity"`
	InitialMintTxHash       string         `json:"initial_mint_tx_hash"`
	MintOrBurnCount         int            `json:"mint_or_burn_count"`
	OnchainMetadata         map[string]any `json:"onchain_metadata"`
	OnchainMetadataStandard *string        `json:"onchain_metadata_standard"`
	OnchainMetadataExtra    *string        `json:"onchain_metadata_extra"`
	Metadata                *offchainMeta  `json:"metadata"`
}

type historyJSON struct {
	TxHash string `json:"tx_hash"`
	Action string `json:"action"`
	Amount string `json:"amount"`
}

type assetTxJSON struct {
	TxHash      string `json:"tx_hash"`
	TxIndex     int    `json:"tx_index"`
	BlockHeight int64  `json:"block_height"`
	BlockTime   int64  `json:"block_time"`
}

type holderJSON struct {
	Address  string `json:"address"`
	Quantity string `json:"quantity"`
}

type policyAssetJSON struct {
	Asset    string `json:"asset"`
	Quantity string `json:"quantity"`
}

type scriptJSON struct {
	ScriptHash     string `json:"script_hash"`
	Type           string `json:"type"`
	SerialisedSize *int   `json:"serialised_size"`
}

type txJSON struct {
	Hash                 string       `json:"hash"`
	Block                string       `json:"block"`
	BlockHeight          int64        `json:"block_height"`
	BlockTime            int64        `json:"block_time"`
	Slot                 int64        `json:"slot"`
	Index                int          `json:"index"`
	OutputAmount         []amountJSON `json:"output_amount"`
	Fees                 string       `json:"fees"`
	Deposit              string       `json:"deposit"`
	Size                 int          `json:"size"`
	InvalidBefore        *string      `json:"invalid_before"`
	InvalidHereafter     *string      `json:"invalid_hereafter"`
	UTXOCount            int          `json:"utxo_count"`
	WithdrawalCount      int          `json:"withdrawal_count"`
	MIRCertCount         int          `json:"mir_cert_count"`
	DelegationCount      int          `json:"delegation_count"`
	StakeCertCount       int          `json:"stake_cert_count"`
	PoolUpdateCount      int          `json:"pool_update_count"`
	PoolRetireCount      int          `json:"pool_retire_count"`
	AssetMintOrBurnCount int          `json:"asset_mint_or_burn_count"`
	RedeemerCount        int          `json:"redeemer_count"`
	ValidContract        bool         `json:"valid_contract"`
	TreasuryDonation     string       `json:"treasury_donation"`
}

type utxoInJSON struct {
	Address             string       `json:"address"`
	Amount              []amountJSON `json:"amount"`
	TxHash              string       `json:"tx_hash"`
	OutputIndex         int          `json:"output_index"`
	DataHash            *string      `json:"data_hash"`
	InlineDatum         *string      `json:"inline_datum"`
	ReferenceScriptHash *string      `json:"reference_script_hash"`
	Collateral          bool         `json:"collateral"`
	Reference           bool         `json:"reference"`
}

type utxoOutJSON struct {
	Address             string       `json:"address"`
	Amount              []amountJSON `json:"amount"`
	OutputIndex         int          `json:"output_index"`
	DataHash            *string      `json:"data_hash"`
	InlineDatum         *string      `json:"inline_datum"`
	Collateral          bool         `json:"collateral"`
	ReferenceScriptHash *string      `json:"reference_script_hash"`
	ConsumedByTx        *string      `json:"consumed_by_tx"`
}

type utxosJSON struct {
	Hash    string        `json:"hash"`
	Inputs  []utxoInJSON  `json:"inputs"`
	Outputs []utxoOutJSON `json:"outputs"`
}

type metadataJSON struct {
	Label        string `json:"label"`
	JSONMetadata any    `json:"json_metadata"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *Emulator) registerRoutes() {
	e.handle(http.MethodGet, EndpointRoot, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		WriteJSON(w, http.StatusOK, map[string]string{"url": "https://blockfrost.io/", "version": "0.1.91"})
	})
	e.handle(http.MethodGet, EndpointHealth, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		WriteJSON(w, http.StatusOK, map[string]bool{"is_healthy": true})
	})
	e.handle(http.MethodGet, EndpointHealthClock, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		WriteJSON(w, http.StatusOK, map[string]int64{"server_time": e.now().UnixMilli()})
	})
	e.handle(http.MethodGet, EndpointBlockLatest, e.blockLatest)
	e.handle(http.MethodGet, EndpointAssetsPolicy, e.assetsByPolicy) // before /assets/{asset}/…
	e.handle(http.MethodGet, EndpointAsset, e.asset)
	e.handle(http.MethodGet, EndpointAssetHistory, e.assetHistory)
	e.handle(http.MethodGet, EndpointAssetTransactions, e.assetTransactions)
	e.handle(http.MethodGet, EndpointAssetAddresses, e.assetAddresses)
	e.handle(http.MethodGet, EndpointScript, e.script)
	e.handle(http.MethodGet, EndpointScriptJSON, e.scriptJSON)
	e.handle(http.MethodGet, EndpointTx, e.tx)
	e.handle(http.MethodGet, EndpointTxUTXOs, e.txUTXOs)
	e.handle(http.MethodGet, EndpointTxMetadata, e.txMetadata)
	e.handle(http.MethodPost, EndpointTxSubmit, e.submit)
	e.handle(http.MethodGet, EndpointAddressUTXOs, e.addressUTXOs)
	e.handle(http.MethodGet, EndpointEpochParameters, e.epochParams)
}

// --- paging ----------------------------------------------------------------------------

type paging struct {
	count, page int
	desc        bool
}

// intParam reads an optional integer query parameter in [1, max] (def when absent), with
// Blockfrost's validation messages.
func intParam(q url.Values, name string, def, max int64) (int, string) {
	if !q.Has(name) {
		return int(def), ""
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil && !isDigits(v):
		return 0, "querystring/" + name + " must be integer"
	case err != nil || n > max:
		return 0, fmt.Sprintf("querystring/%s must be <= %d", name, max)
	case n < 1:
		return 0, "querystring/" + name + " must be >= 1"
	}
	return int(n), ""
}

// parsePaging validates count, page and order like Blockfrost's schema validation does.
func parsePaging(r *http.Request) (paging, string) {
	q := r.URL.Query()
	p := paging{count: 100, page: 1}
	var msg string
	if p.count, msg = intParam(q, "count", 100, 100); msg != "" {
		return p, msg
	}
	if p.page, msg = intParam(q, "page", 1, 21474836); msg != "" {
		return p, msg
	}
	if q.Has("order") {
		switch q.Get("order") {
		case "asc":
		case "desc":
			p.desc = true
		default:
			return p, "querystring/order must be equal to one of the allowed values"
		}
	}
	return p, ""
}

func isDigits(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// window returns the indices [from, to) of a page over n items in ascending order; with desc
// the caller reads them from the end.
func (p paging) window(n int) (int, int) {
	from := (p.page - 1) * p.count
	if from >= n {
		return n, n
	}
	return from, min(from+p.count, n)
}

// pick returns the i-th item of the requested order.
func pick[T any](items []T, i int, desc bool) T {
	if desc {
		return items[len(items)-1-i]
	}
	return items[i]
}

func pageOf[T, U any](items []T, p paging, conv func(T) U) []U {
	from, to := p.window(len(items))
	out := make([]U, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, conv(pick(items, i, p.desc)))
	}
	return out
}

// --- blocks ----------------------------------------------------------------------------

func (e *Emulator) blockLatest(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	c := e.chain
	c.mu.RLock()
	b := e.blockJSON(c.tip, c.tip.height)
	c.mu.RUnlock()
	WriteJSON(w, http.StatusOK, b)
}

// blockJSON renders a block; its producer, VRF key and operational certificate are derived
// from a pool chosen by height.
func (e *Emulator) blockJSON(b *blockRec, tipHeight int64) blockJSON {
	epoch, epochSlot := e.params.epochOf(b.slot)
	pool := seedHash28(fmt.Sprintf("pool/%s/%d", e.network, b.height%97))
	vrf := mustBech32("vrf_vk", seedHash32(fmt.Sprintf("vrf/%s/%d", e.network, b.height%97)))
	opcert := hex.EncodeToString(seedHash32(fmt.Sprintf("opcert/%s/%d", e.network, b.height%97)))
	counter := strconv.FormatInt(b.height%97%23, 10)
	out := blockJSON{Time: b.time, Height: b.height, Hash: b.hash, Slot: b.slot, Epoch: epoch, EpochSlot: epochSlot,
		SlotLeader: mustBech32("pool", pool), Size: 3, TxCount: len(b.txs), BlockVRF: &vrf, OpCert: &opcert,
		OpCertCounter: &counter, PreviousBlock: nullable(e.chain.blockHash(b.height - 1)),
		Confirmations: tipHeight - b.height}
	if b.height < tipHeight {
		out.NextBlock = nullable(e.chain.blockHash(b.height + 1))
	}
	if len(b.txs) > 0 {
		var output, fees uint64
		for _, tx := range b.txs {
			out.Size += tx.size
			fees += tx.fee
			for _, o := range tx.outputs {
				if o.collateral != tx.valid {
					output += o.lovelace
				}
			}
		}
		os, fs := qty(output), qty(fees)
		out.Output, out.Fees = &os, &fs
	}
	return out
}

// --- assets ----------------------------------------------------------------------------

// validAsset is Blockfrost's check: hex of 56 to 120 characters.
func validAsset(s string) bool { return isHexAnyCase(s) && len(s) >= 56 && len(s) <= 120 }

// serveAsset answers render of the asset named by params, read under the chain's lock. It
// validates the paging (when paged) and the asset first, answering their errors itself.
func serveAsset[T any](e *Emulator, w http.ResponseWriter, r *http.Request, params map[string]string, paged bool, render func(*assetRec, paging) T) {
	var p paging
	if paged {
		var msg string
		if p, msg = parsePaging(r); msg != "" {
			writeBadRequest(w, msg)
			return
		}
	}
	unit := params["asset"]
	if !validAsset(unit) {
		writeBadRequest(w, "Invalid or malformed asset format.")
		return
	}
	c := e.chain
	c.mu.RLock()
	a, ok := c.assets[unit]
	if !ok || len(a.history) == 0 {
		c.mu.RUnlock()
		writeNotFound(w)
		return
	}
	out := render(a, p)
	c.mu.RUnlock()
	WriteJSON(w, http.StatusOK, out)
}

func (e *Emulator) asset(w http.ResponseWriter, r *http.Request, params map[string]string) {
	serveAsset(e, w, r, params, false, func(a *assetRec, _ paging) assetJSON {
		return assetJSON{Asset: a.unit, PolicyID: a.policy, AssetName: nullable(a.name), Fingerprint: a.fingerprint,
			Quantity: a.supply.String(), InitialMintTxHash: a.history[0].tx.hash, MintOrBurnCount: len(a.history),
			OnchainMetadata: a.onchain, OnchainMetadataStandard: a.standard, OnchainMetadataExtra: a.extra,
			Metadata: a.offchain}
	})
}

func (e *Emulator) assetHistory(w http.ResponseWriter, r *http.Request, params map[string]string) {
	serveAsset(e, w, r, params, true, func(a *assetRec, p paging) []historyJSON {
		return pageOf(a.history, p, func(h histEntry) historyJSON {
			action := "burned"
			if h.minted {
				action = "minted"
			}
			return historyJSON{TxHash: h.tx.hash, Action: action, Amount: qty(h.amount)}
		})
	})
}

// blockPos parses a from/to parameter: "height" or "height:index".
func blockPos(s string) (height int64, index int64, hasIndex bool, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return 0, 0, false, false
	}
	h, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || h < 0 || h > 2_147_483_647 {
		return 0, 0, false, false
	}
	if len(parts) == 2 {
		i, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || i < 0 || i > 2_147_483_647 {
			return 0, 0, false, false
		}
		return h, i, true, true
	}
	return h, 0, false, true
}

func (e *Emulator) assetTransactions(w http.ResponseWriter, r *http.Request, params map[string]string) {
	q := r.URL.Query()
	type bound struct {
		set, hasIndex bool
		h, i          int64
	}
	var from, to bound
	for _, b := range []struct {
		key string
		dst *bound
	}{{"from", &from}, {"to", &to}} {
		if !q.Has(b.key) {
			continue
		}
		h, i, hasIndex, ok := blockPos(q.Get(b.key))
		if !ok {
			writeBadRequest(w, "Invalid (malformed or out of range) from/to parameter(s).")
			return
		}
		*b.dst = bound{set: true, hasIndex: hasIndex, h: h, i: i}
	}
	if from.set && to.set && (from.h > to.h || (from.h == to.h && from.hasIndex && to.hasIndex && from.i > to.i)) {
		writeBadRequest(w, "Invalid (malformed or out of range) from/to parameter(s).")
		return
	}
	serveAsset(e, w, r, params, true, func(a *assetRec, p paging) []assetTxJSON {
		txs := a.txs
		if from.set || to.set {
			txs = nil
			for _, tx := range a.txs {
				h, i := tx.block.height, int64(tx.index)
				if from.set && (h < from.h || (h == from.h && from.hasIndex && i < from.i)) {
					continue
				}
				if to.set && (h > to.h || (h == to.h && to.hasIndex && i > to.i)) {
					continue
				}
				txs = append(txs, tx)
			}
		}
		return pageOf(txs, p, func(tx *txRec) assetTxJSON {
			return assetTxJSON{TxHash: tx.hash, TxIndex: tx.index, BlockHeight: tx.block.height, BlockTime: tx.block.time}
		})
	})
}

// assetAddresses lists holders in order of first appearance (the earliest transaction of the
// unspent outputs holding the asset), like Blockfrost: not by balance.
func (e *Emulator) assetAddresses(w http.ResponseWriter, r *http.Request, params map[string]string) {
	serveAsset(e, w, r, params, true, func(a *assetRec, p paging) []holderJSON {
		return pageOf(a.holders, p, func(h *holderRec) holderJSON {
			return holderJSON{Address: h.address, Quantity: qty(h.qty)}
		})
	})
}

func (e *Emulator) assetsByPolicy(w http.ResponseWriter, r *http.Request, params map[string]string) {
	p, msg := parsePaging(r)
	if msg != "" {
		writeBadRequest(w, msg)
		return
	}
	policy := params["policy_id"]
	if !isHexAnyCase(policy) || len(policy) != 56 {
		writeBadRequest(w, "Invalid or malformed policy format.")
		return
	}
	c := e.chain
	c.mu.RLock()
	var assets []*assetRec
	for _, a := range c.policies[policy] {
		if len(a.history) > 0 {
			assets = append(assets, a)
		}
	}
	if len(assets) == 0 {
		c.mu.RUnlock()
		writeNotFound(w)
		return
	}
	// Ordered by the first mint of each asset.
	sort.SliceStable(assets, func(i, j int) bool {
		ti, tj := assets[i].history[0].tx, assets[j].history[0].tx
		if ti.block.height != tj.block.height {
			return ti.block.height < tj.block.height
		}
		return ti.index < tj.index
	})
	out := pageOf(assets, p, func(a *assetRec) policyAssetJSON {
		return policyAssetJSON{Asset: a.unit, Quantity: a.supply.String()}
	})
	c.mu.RUnlock()
	WriteJSON(w, http.StatusOK, out)
}

// --- scripts ---------------------------------------------------------------------------

func (e *Emulator) lookupScript(w http.ResponseWriter, params map[string]string) (*scriptRec, bool) {
	c := e.chain
	c.mu.RLock()
	s, ok := c.scripts[params["script_hash"]]
	c.mu.RUnlock()
	if !ok {
		writeNotFound(w)
	}
	return s, ok
}

func (e *Emulator) script(w http.ResponseWriter, _ *http.Request, params map[string]string) {
	s, ok := e.lookupScript(w, params)
	if !ok {
		return
	}
	out := scriptJSON{ScriptHash: s.hash, Type: s.typ}
	if s.typ != "timelock" {
		size := s.size
		out.SerialisedSize = &size
	}
	WriteJSON(w, http.StatusOK, out)
}

// scriptJSON serves a timelock script's JSON, and {"json": null} for Plutus scripts.
func (e *Emulator) scriptJSON(w http.ResponseWriter, _ *http.Request, params map[string]string) {
	s, ok := e.lookupScript(w, params)
	if !ok {
		return
	}
	out := struct {
		JSON *cardano.Script `json:"json"`
	}{s.native}
	WriteJSON(w, http.StatusOK, out)
}

// --- transactions ----------------------------------------------------------------------

// serveTx answers render of the transaction named by params, read under the chain's lock: a
// transaction in a block (pending ones are still in the mempool, which the /txs endpoints do
// not see), 404 otherwise.
func serveTx[T any](e *Emulator, w http.ResponseWriter, params map[string]string, render func(*txRec) T) {
	c := e.chain
	c.mu.RLock()
	tx, ok := c.txs[params["hash"]]
	if !ok || tx.block == nil {
		c.mu.RUnlock()
		writeNotFound(w)
		return
	}
	out := render(tx)
	c.mu.RUnlock()
	WriteJSON(w, http.StatusOK, out)
}

func (e *Emulator) tx(w http.ResponseWriter, _ *http.Request, params map[string]string) {
	serveTx(e, w, params, func(tx *txRec) txJSON {
		var lovelace uint64
		var lists [][]Asset
		utxos := 0
		for _, o := range tx.outputs {
			if o.collateral {
				continue
			}
			utxos++
			lovelace += o.lovelace
			lists = append(lists, o.assets)
		}
		for _, in := range tx.inputs {
			if !in.collateral && !in.reference {
				utxos++
			}
		}
		slotStr := func(s *int64) *string {
			if s == nil {
				return nil
			}
			v := strconv.FormatInt(*s, 10)
			return &v
		}
		return txJSON{Hash: tx.hash, Block: tx.block.hash, BlockHeight: tx.block.height, BlockTime: tx.block.time,
			Slot: tx.block.slot, Index: tx.index, OutputAmount: sumAmounts(lovelace, lists...), Fees: qty(tx.fee),
			Deposit: strconv.FormatInt(tx.deposit, 10), Size: tx.size, InvalidBefore: slotStr(tx.invalidBefore),
			InvalidHereafter: slotStr(tx.invalidHereafter), UTXOCount: utxos, WithdrawalCount: tx.withdrawals,
			MIRCertCount: tx.mirs, DelegationCount: tx.delegations, StakeCertCount: tx.stakeCerts,
			PoolUpdateCount: tx.poolUpdates, PoolRetireCount: tx.poolRetires, AssetMintOrBurnCount: len(tx.mint),
			RedeemerCount: tx.redeemers, ValidContract: tx.valid, TreasuryDonation: qty(tx.treasuryDonation)}
	})
}

func (e *Emulator) txUTXOs(w http.ResponseWriter, _ *http.Request, params map[string]string) {
	serveTx(e, w, params, func(tx *txRec) utxosJSON {
		out := utxosJSON{Hash: tx.hash, Inputs: []utxoInJSON{}, Outputs: []utxoOutJSON{}}
		// Regular inputs first, then collateral, then reference inputs.
		for _, pass := range []func(*inRec) bool{
			func(in *inRec) bool { return !in.collateral && !in.reference },
			func(in *inRec) bool { return in.collateral },
			func(in *inRec) bool { return in.reference },
		} {
			for _, in := range tx.inputs {
				if !pass(in) {
					continue
				}
				out.Inputs = append(out.Inputs, utxoInJSON{Address: in.address, Amount: sumAmounts(in.lovelace, in.assets),
					TxHash: in.ref.tx, OutputIndex: in.ref.index, DataHash: nullable(in.dataHash),
					InlineDatum: nullable(in.inlineDatum), ReferenceScriptHash: nullable(in.refScriptHash),
					Collateral: in.collateral, Reference: in.reference})
			}
		}
		for _, o := range tx.outputs {
			out.Outputs = append(out.Outputs, utxoOutJSON{Address: o.address, Amount: sumAmounts(o.lovelace, o.assets),
				OutputIndex: o.index, DataHash: nullable(o.dataHash), InlineDatum: nullable(o.inlineDatum),
				Collateral: o.collateral, ReferenceScriptHash: nullable(o.refScriptHash), ConsumedByTx: nullable(o.consumedBy)})
		}
		return out
	})
}

func (e *Emulator) txMetadata(w http.ResponseWriter, _ *http.Request, params map[string]string) {
	serveTx(e, w, params, func(tx *txRec) []metadataJSON {
		out := make([]metadataJSON, 0, len(tx.metadata))
		for _, m := range tx.metadata {
			out = append(out, metadataJSON{Label: strconv.FormatUint(m.Label, 10), JSONMetadata: m.JSON})
		}
		return out
	})
}

// maxTxSize is the protocol's maximum transaction size (bytes).
const maxTxSize = 16384

// submit accepts a signed transaction (Content-Type application/cbor), answers its id and puts
// it into the next block. Failures read like the node's errors relayed by Blockfrost.
func (e *Emulator) submit(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/cbor" {
		WriteError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Unsupported Media Type: "+ct)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeBadRequest(w, "Request body is too large or could not be read.")
		return
	}
	d, err := decodeTx(body)
	if err != nil {
		writeBadRequest(w, fmt.Sprintf("%q", fmt.Sprintf(
			"transaction read error RawCborDecodeError [DecoderErrorDeserialiseFailure \"Shelley Tx\" (DeserialiseFailure 0 %q)]", err.Error())))
		return
	}
	era := "ShelleyBasedEraConway"
	if len(body) > maxTxSize {
		writeBadRequest(w, submitError(era, fmt.Sprintf("ConwayUtxowFailure (UtxoFailure (MaxTxSizeUTxO %d %d))", len(body), maxTxSize)))
		return
	}
	want := int(e.params.networkID)
	for id := range d.networkIDs {
		if id != want {
			name := map[int]string{0: "Testnet", 1: "Mainnet"}[want]
			writeBadRequest(w, submitError(era, fmt.Sprintf("ConwayUtxowFailure (UtxoFailure (WrongNetwork %s (fromList [...])))", name)))
			return
		}
	}
	c := e.chain
	c.mu.Lock()
	if _, known := c.txs[d.rec.hash]; known {
		c.mu.Unlock()
		writeBadRequest(w, submitError(era, "ConwayUtxowFailure (UtxoFailure (BadInputsUTxO (fromList [...])))"))
		return
	}
	tx := d.rec
	var ins []*inRec
	for _, group := range []struct {
		list                  []Input
		collateral, reference bool
	}{{d.inputs, false, false}, {d.collateral, true, false}, {d.reference, false, true}} {
		recs, err := c.resolveInputs(tx.hash, group.list, group.collateral, group.reference)
		if err != nil {
			c.mu.Unlock()
			if errors.Is(err, errSpent) {
				writeBadRequest(w, submitError(era, "ConwayUtxowFailure (UtxoFailure (BadInputsUTxO (fromList [...])))"))
			} else {
				writeBadRequest(w, submitError(era, err.Error()))
			}
			return
		}
		ins = append(ins, recs...)
	}
	tx.inputs = ins
	balance(tx, d.withdrawn)
	c.enqueue(tx)
	c.mu.Unlock()
	e.counters.Update(func(s *Stats) { s.Submitted++ })
	WriteJSON(w, http.StatusOK, tx.hash)
}

func submitError(era, failure string) string {
	return fmt.Sprintf("%q", fmt.Sprintf("transaction submit error ShelleyTxValidationError %s (ApplyTxError (%s :| []))", era, failure))
}
