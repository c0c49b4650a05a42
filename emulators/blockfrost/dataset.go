package blockfrostemu

import (
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/tbackend/tbackend/cardano"
)

// The data set every emulator starts with: deterministic, built in code, consistent with the
// tip. Keys of the tokens (see Token):
const (
	TokenSNEK      = "SNEK"      // the real SNEK (mainnet only): real policy id, registry metadata, 1,200 holders
	TokenHerd      = "HERD"      // closed policy (all[sig, before a past slot]), 5,000 holders, registry metadata, 6 decimals
	TokenFlood     = "FLOOD"     // open policy (a bare sig): minted three times, burned once; no metadata
	TokenLater     = "LATER"     // time-locked policy: any[all[sig, before a past slot], all[sig, after a future slot]]
	TokenPluto     = "PLUTO"     // Plutus V2 minting policy (no JSON script)
	TokenTree      = "TREE"      // CIP-68 fungible token (333) under a 2-of-3 multisig policy with several assets
	TokenTreeRef   = "TREE_REF"  // its CIP-68 reference NFT (100), held at a script address with the datum
	TokenAcorn     = "ACORN"     // CIP-68 NFT (222) under the same policy
	TokenAcornRef  = "ACORN_REF" // its reference NFT (100)
	snekPolicyID   = "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f"
	snekAssetName  = "534e454b"
	snekTotal      = 76_715_880_000
	herdHolders    = 5000
	snekHolders    = 1200
	outputsPerTx   = 25
	snekLockSlot   = 90_915_881
	snekMintSlot   = 90_480_000
	lovelacePerOut = 1_344_798
)

// SNEK's real identifiers (mainnet).
const (
	SNEKPolicyID = snekPolicyID
	SNEKUnit     = snekPolicyID + snekAssetName
)

// Token describes one token of the data set.
type Token struct {
	Key         string
	Unit        string // policy id + asset name hex
	PolicyID    string
	AssetName   string // hex
	Fingerprint string
	Policy      string // "open", "closed", "timelocked", "plutus", "multisig"
	Holders     int    // when the emulator was built
	Supply      string // when the emulator was built
}

//go:embed registry/snek.json
var snekRegistryJSON []byte

type registryEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Ticker      string `json:"ticker"`
	Decimals    int    `json:"decimals"`
	URL         string `json:"url"`
	Logo        string `json:"logo"`
}

func strPtr(s string) *string { return &s }
func intPtr(i int) *int       { return &i }

// holderPlan is one address of a distribution, with its final balance.
type holderPlan struct {
	address string
	qty     uint64
}

// builder accumulates the data set's transactions before they are placed.
type builder struct {
	c       *chain
	rng     *rand.Rand
	planned []plannedTx
	tokens  map[string]Token
}

type plannedTx struct {
	height int64
	seq    int
	tx     *txRec
}

// slotOf maps a height below the tip to a slot (one block every 20 slots on average).
func (b *builder) slotOf(height int64) int64 { return b.c.tip.slot - 20*(b.c.tip.height-height) }

func (b *builder) heightOf(slot int64) int64 { return b.c.tip.height - (b.c.tip.slot-slot)/20 }

func (b *builder) hash(label string) string {
	return hex.EncodeToString(seedHash32(fmt.Sprintf("tx/%s/%s", b.c.net, label)))
}

func (b *builder) plan(height int64, tx *txRec) {
	b.planned = append(b.planned, plannedTx{height: height, seq: len(b.planned), tx: tx})
}

// keyHash derives a synthetic 28-byte key hash.
func keyHash(label string) []byte { return seedHash28("key/" + label) }

// buildDataset fills a fresh chain with the data set.
func buildDataset(c *chain) map[string]Token {
	b := &builder{c: c, rng: rand.New(rand.NewPCG(0x5eed, 0xb10cf)), tokens: map[string]Token{}}
	tipSlot := c.tip.slot

	if c.net == Mainnet {
		b.snek()
	}
	// HERD: closed policy, minted ~347 days before the tip; the policy closed 10 days later.
	herdLock := tipSlot - 29_000_000
	herdPolicy := all(sig(keyHash("herd")), before(herdLock))
	b.fungible(fungibleSpec{key: TokenHerd, name: "HERD", policy: herdPolicy, kind: "closed",
		supply: 1_000_000_000_000_000, holders: herdHolders, mintSlot: tipSlot - 30_000_000,
		spacing: 500, ttl: &herdLock,
		offchain: &offchainMeta{Name: "Herd", Description: "A synthetic token with thousands of holders (blockfrostemu data set).",
			Ticker: strPtr("HERD"), URL: strPtr("https://herd.example"), Decimals: intPtr(6)}})

	// FLOOD: open policy (one signature, no time lock), minted three times and burned once.
	floodPolicy := sig(keyHash("flood"))
	fl := b.fungible(fungibleSpec{key: TokenFlood, name: "FLOOD", policy: floodPolicy, kind: "open",
		supply: 1_000_000_000_000, holders: 40, mintSlot: tipSlot - 18_000_000, spacing: 900})
	treasury := fl.treasury
	for i, m := range []int64{500_000_000_000, 250_000_000_000, -100_000_000_000} {
		slot := tipSlot - int64(12_000_000-4_000_000*i)
		tx := b.simpleTx(fmt.Sprintf("flood/mint/%d", i), treasury, []Mint{{Unit: fl.unit, Quantity: m}})
		if m > 0 {
			tx.outputs[0].assets = []Asset{{Unit: fl.unit, Quantity: uint64(m)}}
		} else {
			// burn from the treasury's holdings
			tx.inputs[0].assets = []Asset{{Unit: fl.unit, Quantity: uint64(-m)}}
			tx.inputs[0].explicit = true
		}
		b.plan(b.heightOf(slot), tx)
	}

	// LATER: minted before a past slot; minting opens again after a future slot.
	laterClose := tipSlot - 10_000_000
	laterPolicy := anyOf(all(sig(keyHash("later")), before(laterClose)),
		all(sig(keyHash("later")), after(tipSlot+5_000_000)))
	b.fungible(fungibleSpec{key: TokenLater, name: "LATER", policy: laterPolicy, kind: "timelocked",
		supply: 21_000_000_000_000, holders: 30, mintSlot: tipSlot - 12_000_000, spacing: 700, ttl: &laterClose})

	// PLUTO: a Plutus V2 minting policy, minted twice.
	plutusScript := make([]byte, 3119)
	for i := range plutusScript {
		plutusScript[i] = byte(b.rng.UintN(256))
	}
	plutusScript[0] = 0x59 // CBOR byte string head, as serialised scripts start
	plutoPolicy := plutusScriptHash(cardano.LanguagePlutus2, plutusScript)
	c.scripts[plutoPolicy] = &scriptRec{hash: plutoPolicy, typ: "plutusV2", size: len(plutusScript)}
	pl := b.fungible(fungibleSpec{key: TokenPluto, name: "PLUTO", policyID: plutoPolicy, kind: "plutus",
		supply: 600_000_000, holders: 25, mintSlot: tipSlot - 4_000_000, spacing: 300, redeemers: 1})
	tx := b.simpleTx("pluto/mint/2", pl.treasury, []Mint{{Unit: pl.unit, Quantity: 400_000_000}})
	tx.outputs[0].assets = []Asset{{Unit: pl.unit, Quantity: 400_000_000}}
	tx.redeemers = 1
	b.plan(b.heightOf(tipSlot-1_000_000), tx)

	b.cip68(tipSlot)
	b.place()
	for k, t := range b.tokens {
		a := c.assets[t.Unit]
		t.Holders, t.Supply = len(a.holders), a.supply.String()
		b.tokens[k] = t
	}
	return b.tokens
}

type fungibleSpec struct {
	key, name string
	policy    cardano.Script
	policyID  string // for Plutus policies
	kind      string
	supply    uint64
	holders   int
	mintSlot  int64
	spacing   int64 // blocks between distribution transactions
	ttl       *int64
	redeemers int
	offchain  *offchainMeta
}

type fungibleResult struct {
	unit     string
	treasury string
}

// fungible mints a token to a treasury and distributes it to spec.holders addresses (the
// treasury included) in transactions of 25 outputs.
func (b *builder) fungible(s fungibleSpec) fungibleResult {
	policyID := s.policyID
	if policyID == "" {
		var err error
		if policyID, err = s.policy.Hash(); err != nil {
			panic(err)
		}
		n := s.policy
		b.c.scripts[policyID] = &scriptRec{hash: policyID, typ: "timelock", native: &n}
	}
	unit := policyID + hex.EncodeToString([]byte(s.name))
	b.c.asset(unit).offchain = s.offchain
	plan := b.distribution(s.name, s.supply, s.holders)
	b.distribute(s.name, unit, plan, s.mintSlot, s.spacing, s.ttl, s.redeemers)
	fp, _ := cardano.AssetFingerprint(policyID, unit[56:])
	b.tokens[s.key] = Token{Key: s.key, Unit: unit, PolicyID: policyID, AssetName: unit[56:], Fingerprint: fp, Policy: s.kind}
	return fungibleResult{unit: unit, treasury: plan[0].address}
}

// snek builds SNEK with its real policy id, registry metadata and total supply. Its policy
// script is the real shape (all[sig, before slot 90915881]) but the key hash is synthetic: the
// real key hash is not known to this package, so hashing the JSON below does not give the
// policy id (the real API would, as it serves the script whose hash is the policy id).
func (b *builder) snek() {
	var reg registryEntry
	if err := json.Unmarshal(snekRegistryJSON, &reg); err != nil {
		panic(err)
	}
	policy := all(sig(keyHash("snek-synthetic")), before(snekLockSlot))
	b.c.scripts[snekPolicyID] = &scriptRec{hash: snekPolicyID, typ: "timelock", native: &policy}
	a := b.c.asset(SNEKUnit)
	a.offchain = &offchainMeta{Name: reg.Name, Description: reg.Description, Ticker: strPtr(reg.Ticker),
		URL: strPtr(reg.URL), Logo: strPtr(reg.Logo), Decimals: intPtr(reg.Decimals)}
	plan := b.distribution("SNEK", snekTotal, snekHolders)
	lock := int64(snekLockSlot)
	b.distribute("SNEK", SNEKUnit, plan, snekMintSlot, 2000, &lock, 0)
	fp, _ := cardano.AssetFingerprint(snekPolicyID, snekAssetName)
	b.tokens[TokenSNEK] = Token{Key: TokenSNEK, Unit: SNEKUnit, PolicyID: snekPolicyID, AssetName: snekAssetName,
		Fingerprint: fp, Policy: "closed"}
}

// distribution plans n holders of supply in first-appearance order. Balances follow a
// Zipf-like law; the largest holders (mostly script addresses: DEX pools, vaults) are placed
// deep in the list, never on the first page. Entry 0 is the treasury that minted and keeps
// about a mid-table balance; as each distribution spends its previous change output, it ends
// up listed where its last change output was created (Blockfrost orders holders by the oldest
// unspent output holding the asset).
func (b *builder) distribution(label string, supply uint64, n int) []holderPlan {
	seed := seedHash32("distribution/" + label)
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed), binary.BigEndian.Uint64(seed[8:])))
	net := b.c.net
	seen := map[string]bool{}
	stakePool := make([][]byte, n/3+1)
	for i := range stakePool {
		stakePool[i] = keyHash(fmt.Sprintf("%s/stake/%d", label, i))
	}
	scriptPool := make([][]byte, 12)
	for i := range scriptPool {
		scriptPool[i] = seedHash28(fmt.Sprintf("script/%s/%d", label, i))
	}
	addrFor := func(rank int) string {
		for attempt := 0; ; attempt++ {
			pay := keyHash(fmt.Sprintf("%s/pay/%d/%d", label, rank, attempt))
			var a string
			switch r := rng.Float64(); {
			case rank < 8 && rank%3 != 1: // the largest holders: DEX pools and vaults
				a = mustAddress(net, cardano.AddrBaseScriptKey, scriptPool[rank%len(scriptPool)], stakePool[rng.IntN(len(stakePool))])
			case r < 0.62:
				a = mustAddress(net, cardano.AddrBaseKeyKey, pay, stakePool[rng.IntN(len(stakePool))])
			case r < 0.80:
				a = mustAddress(net, cardano.AddrEnterpriseKey, pay, nil)
			case r < 0.90:
				a = mustAddress(net, cardano.AddrBaseScriptKey, scriptPool[rng.IntN(len(scriptPool))], stakePool[rng.IntN(len(stakePool))])
			case r < 0.95:
				a = mustAddress(net, cardano.AddrBaseScriptScript, scriptPool[rng.IntN(len(scriptPool))], scriptPool[rng.IntN(len(scriptPool))])
			default:
				a = mustAddress(net, cardano.AddrEnterpriseScript, seedHash28(fmt.Sprintf("escript/%s/%d/%d", label, rank, attempt)), nil)
			}
			if !seen[a] {
				seen[a] = true
				return a
			}
		}
	}
	treasury := mustAddress(net, cardano.AddrEnterpriseKey, keyHash(label+"/treasury"), nil)
	seen[treasury] = true

	others := n - 1
	weights := make([]float64, others)
	total := 0.0
	for r := range weights {
		weights[r] = 1 / math.Pow(float64(r+1), 1.15)
		total += weights[r]
	}
	// The treasury keeps about as much as a mid-table holder.
	treasuryQty := uint64(float64(supply) * weights[others/20] / total)
	rest := supply - treasuryQty
	byRank := make([]holderPlan, others)
	var given uint64
	for r := range byRank {
		q := uint64(float64(rest) * weights[r] / total)
		if q == 0 {
			q = 1
		}
		byRank[r] = holderPlan{address: addrFor(r), qty: q}
		given += q
	}
	if given > rest { // rounding up the dust overshot: take it from the largest holder
		byRank[0].qty -= given - rest
	} else {
		byRank[0].qty += rest - given
	}
	// First-appearance order: a shuffle, then the ten largest moved off the first page.
	order := rng.Perm(others)
	pos := make([]int, others) // rank -> position
	for p, r := range order {
		pos[r] = p
	}
	for r := 0; r < 10 && r < others; r++ {
		if others < 300 || pos[r] >= 100 {
			continue
		}
		target := 100 + rng.IntN(others-100)
		if r == 0 {
			target = others * 63 / 100 // the largest: well past the middle
		}
		other := order[target]
		order[pos[r]], order[target] = other, r
		pos[other], pos[r] = pos[r], target
	}
	if others >= 300 && pos[0] != others*63/100 {
		target := others * 63 / 100
		other := order[target]
		order[pos[0]], order[target] = other, 0
		pos[other], pos[0] = pos[0], target
	}
	out := make([]holderPlan, 0, n)
	out = append(out, holderPlan{address: treasury, qty: treasuryQty})
	for _, r := range order {
		out = append(out, byRank[r])
	}
	return out
}

// distribute plans the mint transaction and the distribution transactions of a plan.
func (b *builder) distribute(label, unit string, plan []holderPlan, mintSlot, spacing int64, ttl *int64, redeemers int) {
	var supply uint64
	for _, h := range plan {
		supply += h.qty
	}
	treasury := plan[0].address
	recipients := plan[1:]
	ntx := (len(recipients) + outputsPerTx - 1) / outputsPerTx
	lovelace := uint64(ntx*outputsPerTx)*lovelacePerOut + uint64(ntx+1)*400_000 + 25_000_000_000

	mintHeight := b.heightOf(mintSlot)
	mint := &txRec{hash: b.hash(label + "/mint"), valid: true, mint: []Mint{{Unit: unit, Quantity: int64(supply)}},
		redeemers: redeemers, invalidHereafter: ttl}
	mint.inputs = []*inRec{{ref: outRef{b.hash(label + "/funding"), 0}, address: treasury, lovelace: lovelace + 200_000}}
	mint.outputs = []*outRec{{address: treasury, lovelace: lovelace, assets: []Asset{{Unit: unit, Quantity: supply}}}}
	mint.fee, mint.size = 200_000, 420
	b.plan(mintHeight, mint)

	// Each distribution transaction spends the treasury's change output of the one before.
	prev, prevIndex, prevLovelace, prevQty := mint.hash, 0, lovelace, supply
	for i := 0; i < ntx; i++ {
		batch := recipients[i*outputsPerTx : min((i+1)*outputsPerTx, len(recipients))]
		tx := &txRec{hash: b.hash(fmt.Sprintf("%s/dist/%d", label, i)), valid: true}
		tx.inputs = []*inRec{{ref: outRef{prev, prevIndex}, address: treasury, lovelace: prevLovelace,
			assets: []Asset{{Unit: unit, Quantity: prevQty}}, known: true}}
		var sent uint64
		for j, h := range batch {
			tx.outputs = append(tx.outputs, &outRec{address: h.address, lovelace: lovelacePerOut,
				assets: []Asset{{Unit: unit, Quantity: h.qty}}, index: j})
			sent += h.qty
		}
		tx.size = 250 + 110*len(batch)
		tx.fee = 155381 + 44*uint64(tx.size)
		change := prevLovelace - uint64(len(batch))*lovelacePerOut - tx.fee
		tx.outputs = append(tx.outputs, &outRec{address: treasury, lovelace: change,
			assets: []Asset{{Unit: unit, Quantity: prevQty - sent}}, index: len(batch)})
		b.plan(mintHeight+spacing*int64(i+1), tx)
		prev, prevIndex, prevLovelace, prevQty = tx.hash, len(batch), change, prevQty-sent
	}
}

// simpleTx is a one-output transaction from and to addr with optional mints.
func (b *builder) simpleTx(label, addr string, mint []Mint) *txRec {
	tx := &txRec{hash: b.hash(label), valid: true, mint: mint, size: 390}
	tx.fee = 155381 + 44*uint64(tx.size)
	tx.inputs = []*inRec{{ref: outRef{b.hash(label + "/funding"), 0}, address: addr, lovelace: 5_000_000 + tx.fee}}
	tx.outputs = []*outRec{{address: addr, lovelace: 5_000_000}}
	return tx
}

// cip68 builds the TREE/ACORN policy: a 2-of-3 multisig with a CIP-68 fungible token, an NFT
// and their reference NFTs (held at a script address with inline datums).
func (b *builder) cip68(tipSlot int64) {
	net := b.c.net
	policy := atLeast(2, sig(keyHash("tree/a")), sig(keyHash("tree/b")), sig(keyHash("tree/c")))
	policyID, _ := policy.Hash()
	b.c.scripts[policyID] = &scriptRec{hash: policyID, typ: "timelock", native: &policy}
	const refLabel, nftLabel, ftLabel = "000643b0", "000de140", "0014df10"
	treeName, acornName := hex.EncodeToString([]byte("TREE")), hex.EncodeToString([]byte("Acorn0001"))
	treeRef, treeFT := policyID+refLabel+treeName, policyID+ftLabel+treeName
	acornRef, acornNFT := policyID+refLabel+acornName, policyID+nftLabel+acornName
	lockAddr := mustAddress(net, cardano.AddrEnterpriseScript, seedHash28("tree/metadata-lock"), nil)

	ftMeta := [][2]any{{"name", "Tree"}, {"description", "A CIP-68 fungible token (blockfrostemu data set)."},
		{"ticker", "TREE"}, {"url", "https://tree.example"}, {"decimals", int64(6)}}
	nftMeta := [][2]any{{"name", "Acorn #1"}, {"image", "ipfs://QmYWhbv6ixNrUBU9RjDD2Ltgh8ffJngt8NtD6Yz9pvEMbB"},
		{"mediaType", "image/png"}}
	ftDatum, nftDatum := cip68Datum(ftMeta), cip68Datum(nftMeta)

	// The fungible token: reference NFT to the lock script, the supply distributed.
	plan := b.distribution("TREE", 10_000_000_000_000, 60)
	mintSlot := tipSlot - 8_000_000
	b.distribute("TREE", treeFT, plan, mintSlot, 400, nil, 0)
	refTx := b.simpleTx("tree/ref", plan[0].address, []Mint{{Unit: treeRef, Quantity: 1}})
	refTx.outputs[0] = &outRec{address: lockAddr, lovelace: 2_100_000, assets: []Asset{{Unit: treeRef, Quantity: 1}},
		inlineDatum: hex.EncodeToString(ftDatum), dataHash: hex.EncodeToString(blake256(ftDatum))}
	b.plan(b.heightOf(mintSlot)-3, refTx)

	// The NFT and its reference NFT in one later transaction.
	owner := plan[7].address
	nftTx := b.simpleTx("acorn/mint", owner, []Mint{{Unit: acornRef, Quantity: 1}, {Unit: acornNFT, Quantity: 1}})
	nftTx.outputs = []*outRec{
		{address: lockAddr, lovelace: 2_000_000, assets: []Asset{{Unit: acornRef, Quantity: 1}},
			inlineDatum: hex.EncodeToString(nftDatum), dataHash: hex.EncodeToString(blake256(nftDatum)), index: 0},
		{address: owner, lovelace: 1_500_000, assets: []Asset{{Unit: acornNFT, Quantity: 1}}, index: 1},
	}
	nftTx.inputs[0].lovelace = 3_500_000 + nftTx.fee
	b.plan(b.heightOf(tipSlot-2_000_000), nftTx)

	std := "CIP68v1"
	onchain := func(meta [][2]any) map[string]any {
		m := map[string]any{}
		for _, kv := range meta {
			m[kv[0].(string)] = kv[1]
		}
		return m
	}
	ft, nft := b.c.asset(treeFT), b.c.asset(acornNFT)
	ft.onchain, ft.standard = onchain(ftMeta), &std
	nft.onchain, nft.standard = onchain(nftMeta), &std
	for key, unit := range map[string]string{TokenTree: treeFT, TokenTreeRef: treeRef, TokenAcorn: acornNFT, TokenAcornRef: acornRef} {
		fp, _ := cardano.AssetFingerprint(policyID, unit[56:])
		b.tokens[key] = Token{Key: key, Unit: unit, PolicyID: policyID, AssetName: unit[56:], Fingerprint: fp,
			Policy: "multisig"}
	}
}

// cip68Datum encodes constr 0 [metadata map with byte-string keys and values, version 1].
func cip68Datum(meta [][2]any) []byte {
	m := make(cardano.MetadataMap, 0, len(meta))
	for _, kv := range meta {
		v := kv[1]
		if str, ok := v.(string); ok {
			v = []byte(str)
		}
		m = append(m, cardano.MetadataPair{Key: []byte(kv[0].(string)), Value: v})
	}
	d, err := cardano.EncodeData(cardano.Constr{Index: 0, Fields: []any{m, int64(1)}})
	if err != nil {
		panic(err) // the data set's own values
	}
	return d
}

// place applies the planned transactions in chain order.
func (b *builder) place() {
	sort.SliceStable(b.planned, func(i, j int) bool {
		if b.planned[i].height != b.planned[j].height {
			return b.planned[i].height < b.planned[j].height
		}
		return b.planned[i].seq < b.planned[j].seq
	})
	for _, p := range b.planned {
		h := p.height
		if h >= b.c.tip.height {
			h = b.c.tip.height - 1
		}
		blk := b.c.blockAt(h, b.slotOf(h))
		b.c.txs[p.tx.hash] = p.tx
		b.c.place(p.tx, blk)
	}
}
