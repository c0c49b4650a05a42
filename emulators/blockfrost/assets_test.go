package blockfrostemu_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/internal/testfiles"
)

func TestSNEKAsset(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, err := h.api.Asset(ctx(t), blockfrostemu.SNEKUnit)
	if err != nil {
		t.Fatal(err)
	}
	if a.Asset != blockfrostemu.SNEKUnit || a.PolicyId != "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f" ||
		a.AssetName != "534e454b" || a.Quantity != "76715880000" || a.MintOrBurnCount != 1 ||
		a.Fingerprint != "asset108xu02ckwrfc8qs9d97mgyh4kn8gdu9w8f5sxk" {
		t.Fatalf("asset %+v", a)
	}
	if a.OnchainMetadata != nil || a.OnchainMetadataStandard != nil {
		t.Fatalf("SNEK has no on-chain metadata, got %v %v", a.OnchainMetadata, a.OnchainMetadataStandard)
	}
	// The registry entry, byte for byte from the token registry.
	raw := testfiles.Read(t, "cardano", "snek.json")
	var reg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &reg); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string {
		var v struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(reg[k], &v); err != nil {
			t.Fatalf("registry field %s: %v", k, err)
		}
		return v.Value
	}
	m := a.Metadata
	if m == nil || m.Name != str("name") || m.Ticker != str("ticker") || m.URL != str("url") || m.Decimals != 0 ||
		m.Description != str("description") || m.Logo != str("logo") || len(m.Logo) < 1000 {
		t.Fatalf("metadata does not match the registry: %+v", m)
	}
	hist, err := h.api.AssetHistory(ctx(t), blockfrostemu.SNEKUnit, blockfrost.APIQueryParams{})
	if err != nil || len(hist) != 1 || hist[0].Action != "minted" || hist[0].Amount != "76715880000" ||
		hist[0].TxHash != a.InitialMintTxHash {
		t.Fatalf("history %+v %v", hist, err)
	}
	// The mint is a real-looking transaction before the policy locked.
	tx, err := h.api.Transaction(ctx(t), a.InitialMintTxHash)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Slot >= 90915881 || tx.InvalidHereafter == nil || *tx.InvalidHereafter != "90915881" || tx.AssetMintOrBurnCount != 1 {
		t.Fatalf("mint tx %+v", tx)
	}
}

func TestHolderPagingAndOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	herd := h.emu.MustToken(blockfrostemu.TokenHerd)
	want := h.emu.Holders(herd.Unit)
	if len(want) != 5000 || herd.Holders != 5000 {
		t.Fatalf("HERD has %d holders (token says %d), want 5000", len(want), herd.Holders)
	}
	// Page by page with the real client: count defaults to 100.
	var got []blockfrost.AssetAddress
	for page := 1; ; page++ {
		res, err := h.api.AssetAddresses(ctx(t), herd.Unit, blockfrost.APIQueryParams{Page: page})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			break
		}
		if len(res) != 100 {
			t.Fatalf("page %d has %d holders, want 100", page, len(res))
		}
		got = append(got, res...)
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d holders, want %d", len(got), len(want))
	}
	sum := new(big.Int)
	kinds := map[byte]int{}
	largest := 0
	for i, g := range got {
		if g.Address != want[i].Address || g.Quantity != strconv.FormatUint(want[i].Quantity, 10) {
			t.Fatalf("holder %d: %+v, want %+v", i, g, want[i])
		}
		q, _ := new(big.Int).SetString(g.Quantity, 10)
		sum.Add(sum, q)
		if want[i].Quantity > want[largest].Quantity {
			largest = i
		}
		if !strings.HasPrefix(g.Address, "addr1") {
			t.Fatalf("holder %d: %s is not a mainnet address", i, g.Address)
		}
		kinds[g.Address[5]]++ // the first data character encodes the header's type nibble
	}
	if sum.String() != herd.Supply {
		t.Fatalf("holders hold %s, supply is %s", sum, herd.Supply)
	}
	// First-appearance order: not by balance, and the largest holder is far from the first page.
	if largest < 100 {
		t.Fatalf("the largest holder is at position %d, on the first page", largest)
	}
	if slices.IsSortedFunc(want, func(a, b blockfrostemu.Holder) int { return -cmpU(a.Quantity, b.Quantity) }) {
		t.Fatal("holders are sorted by balance")
	}
	// A mix of base (q), script base (z, x), enterprise key (v) and enterprise script (w) addresses.
	for _, k := range []byte{'q', 'z', 'x', 'v', 'w'} {
		if kinds[k] == 0 {
			t.Errorf("no holder address of kind %q: %v", k, kinds)
		}
	}

	// desc reverses the whole list before paging.
	desc, err := h.api.AssetAddresses(ctx(t), herd.Unit, blockfrost.APIQueryParams{Count: 7, Page: 2, Order: "desc"})
	if err != nil || len(desc) != 7 {
		t.Fatalf("desc page: %v %v", desc, err)
	}
	for i, d := range desc {
		if w := want[len(want)-1-7-i]; d.Address != w.Address {
			t.Fatalf("desc[%d] = %s, want %s", i, d.Address, w.Address)
		}
	}
	// Beyond the last page: an empty list.
	r := h.get("/assets/" + herd.Unit + "/addresses?page=51")
	if r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("page 51: %d %s", r.status, r.body)
	}
	// The client's *All helper (10 pages at a time) collects the same set.
	all := map[string]string{}
	for res := range h.api.AssetAddressesAll(ctx(t), herd.Unit) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		for _, a := range res.Res {
			all[a.Address] = a.Quantity
		}
	}
	if len(all) != 5000 {
		t.Fatalf("AssetAddressesAll found %d holders", len(all))
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPagingBounds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	unit := h.emu.MustToken(blockfrostemu.TokenHerd).Unit
	for _, endpoint := range []string{"/assets/" + unit + "/addresses", "/assets/" + unit + "/history",
		"/assets/" + unit + "/transactions", "/assets/policy/" + unit[:56]} {
		for q, msg := range map[string]string{
			"count=101":              "querystring/count must be <= 100",
			"count=999999999999999":  "querystring/count must be <= 100",
			"count=0":                "querystring/count must be >= 1",
			"count=-5":               "querystring/count must be >= 1",
			"count=x":                "querystring/count must be integer",
			"page=0":                 "querystring/page must be >= 1",
			"page=x":                 "querystring/page must be integer",
			"page=99999999999999":    "querystring/page must be <= 21474836",
			"order=up":               "querystring/order must be equal to one of the allowed values",
			"count=100&page=0&order": "querystring/page must be >= 1",
		} {
			wantError(t, h.get(endpoint+"?"+q), 400, "Bad Request", msg)
		}
		for _, q := range []string{"count=100", "count=1&page=21474836", "order=desc", "order=asc&count=3&page=2"} {
			if r := h.get(endpoint + "?" + q); r.status != 200 {
				t.Fatalf("%s?%s: %d %s", endpoint, q, r.status, r.body)
			}
		}
	}
	var list []json.RawMessage
	h.get("/assets/"+unit+"/addresses?count=100").json(t, &list)
	if len(list) != 100 {
		t.Fatalf("count=100 gave %d", len(list))
	}
	h.get("/assets/"+unit+"/addresses").json(t, &list)
	if len(list) != 100 {
		t.Fatalf("the default count gave %d, want 100", len(list))
	}
}

func TestAssetErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	unknown := strings.Repeat("ab", 28) + "00"
	for _, p := range []string{"", "/history", "/transactions", "/addresses"} {
		wantError(t, h.get("/assets/xyz"+p), 400, "Bad Request", "Invalid or malformed asset format.")
		wantError(t, h.get("/assets/"+strings.Repeat("a", 55)+p), 400, "Bad Request", "Invalid or malformed asset format.")
		wantError(t, h.get("/assets/"+strings.Repeat("a", 122)+p), 400, "Bad Request", "Invalid or malformed asset format.")
		wantError(t, h.get("/assets/"+unknown+p), 404, "Not Found", "The requested component has not been found.")
	}
	wantError(t, h.get("/assets/policy/1234"), 400, "Bad Request", "Invalid or malformed policy format.")
	wantError(t, h.get("/assets/policy/"+unknown[:56]), 404, "Not Found", "The requested component has not been found.")
	wantError(t, h.get("/assets"), 400, "Bad Request", "Invalid path. Please check https://docs.blockfrost.io/")
	wantError(t, h.get("/assets/"+blockfrostemu.SNEKUnit+"/"), 400, "Bad Request", "")

	_, err := h.api.Asset(ctx(t), unknown)
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("client error %v", err)
	}
	if nf, ok := apiErr.Response.(blockfrost.NotFound); !ok || nf.StatusCode != 404 {
		t.Fatalf("client error %#v", apiErr.Response)
	}

	// SNEK is a mainnet asset.
	pre := newHarness(t, blockfrostemu.WithNetwork(blockfrostemu.Preprod))
	wantError(t, pre.get("/assets/"+blockfrostemu.SNEKUnit), 404, "Not Found", "")
	if _, ok := pre.emu.Token(blockfrostemu.TokenSNEK); ok {
		t.Fatal("SNEK in the preprod data set")
	}
}

func TestHistoryTransactionsPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	flood := h.emu.MustToken(blockfrostemu.TokenFlood)
	hist, err := h.api.AssetHistory(ctx(t), flood.Unit, blockfrost.APIQueryParams{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range hist {
		actions = append(actions, e.Action+" "+e.Amount)
	}
	if fmt.Sprint(actions) != "[minted 1000000000000 minted 500000000000 minted 250000000000 burned 100000000000]" {
		t.Fatalf("FLOOD history %v", actions)
	}
	a, err := h.api.Asset(ctx(t), flood.Unit)
	if err != nil || a.Quantity != "1650000000000" || a.MintOrBurnCount != 4 || a.InitialMintTxHash != hist[0].TxHash || a.Metadata != nil {
		t.Fatalf("FLOOD %+v %v", a, err)
	}
	desc, _ := h.api.AssetHistory(ctx(t), flood.Unit, blockfrost.APIQueryParams{Order: "desc", Count: 1})
	if len(desc) != 1 || desc[0].Action != "burned" {
		t.Fatalf("desc history %+v", desc)
	}

	// Transactions: the mint and the distributions, oldest first, paged.
	herd := h.emu.MustToken(blockfrostemu.TokenHerd)
	var txs []blockfrost.AssetTransaction
	for page := 1; ; page++ {
		res, err := h.api.AssetTransactions(ctx(t), herd.Unit, blockfrost.APIQueryParams{Page: page})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			break
		}
		txs = append(txs, res...)
	}
	if len(txs) != 201 { // one mint, 200 distributions of 25 outputs
		t.Fatalf("%d HERD transactions, want 201", len(txs))
	}
	for i := 1; i < len(txs); i++ {
		if txs[i].BlockHeight < txs[i-1].BlockHeight || txs[i].BlockTime <= txs[i-1].BlockTime {
			t.Fatalf("transactions out of order at %d: %+v %+v", i, txs[i-1], txs[i])
		}
	}
	herdAsset, _ := h.api.Asset(ctx(t), herd.Unit)
	if txs[0].TxHash != herdAsset.InitialMintTxHash {
		t.Fatal("the first transaction is not the mint")
	}
	// from/to (block[:index], inclusive).
	from, to := txs[10].BlockHeight, txs[19].BlockHeight
	res, err := h.api.AssetTransactions(ctx(t), herd.Unit, blockfrost.APIQueryParams{From: strconv.Itoa(from), To: strconv.Itoa(to) + ":0"})
	if err != nil || len(res) != 10 || res[0].TxHash != txs[10].TxHash || res[9].TxHash != txs[19].TxHash {
		t.Fatalf("from/to: %d %v", len(res), err)
	}
	wantError(t, h.get("/assets/"+herd.Unit+"/transactions?from=9&to=3"), 400, "Bad Request",
		"Invalid (malformed or out of range) from/to parameter(s).")
	wantError(t, h.get("/assets/"+herd.Unit+"/transactions?from=x"), 400, "Bad Request", "")

	// The CIP-68 policy: several assets in first-mint order (the reference NFT was minted first).
	tree := h.emu.MustToken(blockfrostemu.TokenTree)
	pol, err := h.api.AssetsByPolicy(ctx(t), tree.PolicyID, blockfrost.APIQueryParams{})
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, p := range pol {
		units = append(units, p.Asset)
	}
	wantUnits := []string{h.emu.MustToken(blockfrostemu.TokenTreeRef).Unit, tree.Unit,
		h.emu.MustToken(blockfrostemu.TokenAcorn).Unit, h.emu.MustToken(blockfrostemu.TokenAcornRef).Unit}
	if !slices.Equal(units, wantUnits) || pol[1].Quantity != "10000000000000" || pol[0].Quantity != "1" {
		t.Fatalf("policy assets %+v", pol)
	}
	if !strings.HasPrefix(tree.AssetName, "0014df10") || !strings.HasPrefix(pol[0].Asset[56:], "000643b0") {
		t.Fatal("CIP-67 labels")
	}
	ft, err := h.api.Asset(ctx(t), tree.Unit)
	if err != nil || ft.OnchainMetadataStandard == nil || *ft.OnchainMetadataStandard != "CIP68v1" || ft.OnchainMetadata == nil {
		t.Fatalf("CIP-68 FT %+v %v", ft, err)
	}
	if md := (*ft.OnchainMetadata).(map[string]any); md["decimals"] != float64(6) || md["ticker"] != "TREE" {
		t.Fatalf("CIP-68 metadata %v", md)
	}
	ref, _ := h.api.Asset(ctx(t), pol[0].Asset)
	if ref.OnchainMetadata != nil || ref.OnchainMetadataStandard != nil {
		t.Fatal("a reference NFT carries no metadata of its own")
	}
	// The reference NFT sits at a script address with the metadata datum inline.
	addrs, _ := h.api.AssetAddresses(ctx(t), pol[0].Asset, blockfrost.APIQueryParams{})
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0].Address, "addr1w") {
		t.Fatalf("reference NFT holders %+v", addrs)
	}
	refHist, _ := h.api.AssetHistory(ctx(t), pol[0].Asset, blockfrost.APIQueryParams{})
	utxos, err := h.api.TransactionUTXOs(ctx(t), refHist[0].TxHash)
	if err != nil || utxos.Outputs[0].InlineDatum == nil || !strings.HasPrefix(*utxos.Outputs[0].InlineDatum, "d8799f") &&
		!strings.HasPrefix(*utxos.Outputs[0].InlineDatum, "d87982") {
		t.Fatalf("reference NFT output %+v %v", utxos.Outputs, err)
	}
}

func TestScripts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tip := h.emu.Tip()

	js, err := h.api.ScriptJSON(ctx(t), blockfrostemu.SNEKPolicyID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(js.JSON)
	snek, err := cardano.ParseNativeScript(b)
	if err != nil {
		t.Fatal(err)
	}
	if snek.Type != "all" || len(snek.Scripts) != 2 || snek.Scripts[0].Type != "sig" || len(snek.Scripts[0].KeyHash) != 56 ||
		snek.Scripts[1].Type != "before" || snek.Scripts[1].Slot != 90915881 {
		t.Fatalf("SNEK script %s", b)
	}
	s, err := h.api.Script(ctx(t), blockfrostemu.SNEKPolicyID)
	if err != nil || s.Type != "timelock" || s.SerialisedSize != nil {
		t.Fatalf("SNEK script %+v %v", s, err)
	}

	// Synthetic policies: the served JSON hashes to the policy id, like the real chain.
	check := func(key, typ string) cardano.Script {
		t.Helper()
		tok := h.emu.MustToken(key)
		r := h.get("/scripts/" + tok.PolicyID + "/json")
		script, err := cardano.ParseNativeScript(r.body)
		if err != nil {
			t.Fatalf("%s: %v: %s", key, err, r.body)
		}
		if hash, err := script.Hash(); err != nil || hash != tok.PolicyID {
			t.Fatalf("%s: script hashes to %s (%v), policy is %s", key, hash, err, tok.PolicyID)
		}
		if script.Type != typ {
			t.Fatalf("%s: script type %s, want %s: %s", key, script.Type, typ, r.body)
		}
		return script
	}
	if open := check(blockfrostemu.TokenFlood, "sig"); open.KeyHash == "" {
		t.Fatal("open policy without key hash")
	}
	closed := check(blockfrostemu.TokenHerd, "all")
	if int64(closed.Scripts[1].Slot) >= tip.Slot {
		t.Fatal("HERD's policy is not closed")
	}
	later := check(blockfrostemu.TokenLater, "any")
	if after := later.Scripts[1].Scripts[1]; after.Type != "after" || int64(after.Slot) <= tip.Slot {
		t.Fatalf("LATER does not open after a future slot: %+v", later)
	}
	multi := check(blockfrostemu.TokenTree, "atLeast")
	if multi.Required != 2 || len(multi.Scripts) != 3 {
		t.Fatalf("multisig %+v", multi)
	}

	pluto := h.emu.MustToken(blockfrostemu.TokenPluto)
	ps, err := h.api.Script(ctx(t), pluto.PolicyID)
	if err != nil || ps.Type != "plutusV2" || ps.SerialisedSize == nil || *ps.SerialisedSize != 3119 {
		t.Fatalf("Plutus script %+v %v", ps, err)
	}
	pj, err := h.api.ScriptJSON(ctx(t), pluto.PolicyID)
	if err != nil || pj.JSON != nil {
		t.Fatalf("Plutus script JSON %+v %v", pj, err)
	}
	if r := h.get("/scripts/" + pluto.PolicyID + "/json"); string(r.body) != `{"json":null}` {
		t.Fatalf("Plutus script JSON body %s", r.body)
	}
	wantError(t, h.get("/scripts/"+strings.Repeat("0", 56)), 404, "Not Found", "")
	wantError(t, h.get("/scripts/nothex/json"), 404, "Not Found", "")
}

func TestRootHealthAndAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	info, err := h.api.Info(ctx(t))
	if err != nil || info.Url != "https://blockfrost.io/" {
		t.Fatalf("root %+v %v", info, err)
	}
	if health, err := h.api.Health(ctx(t)); err != nil || !health.IsHealthy {
		t.Fatalf("health %+v %v", health, err)
	}
	// /health needs no project (the spec's security: []); everything else does.
	if r := h.get("/health", "project_id", "-"); r.status != 200 {
		t.Fatalf("health without a project: %d", r.status)
	}
	for _, p := range []string{"/", "/blocks/latest", "/assets/" + blockfrostemu.SNEKUnit, "/txs/" + strings.Repeat("0", 64), "/nope"} {
		wantError(t, h.get(p, "project_id", "-"), 403, "Forbidden", "Missing project token. Please include project_id in your request.")
		wantError(t, h.get(p, "project_id", "mainnetWrong"), 403, "Forbidden", "Invalid project token.")
	}
	r := h.do("POST", "/tx/submit", "application/cbor", []byte{0x80}, map[string]string{"project_id": "mainnetWrong"})
	wantError(t, r, 403, "Forbidden", "Invalid project token.")

	wrong := newClient(h.base, "mainnetWrong")
	_, err = wrong.Asset(ctx(t), blockfrostemu.SNEKUnit)
	var apiErr *blockfrost.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("client error %v", err)
	}
	if ua, ok := apiErr.Response.(blockfrost.UnauthorizedError); !ok || ua.StatusCode != 403 || ua.Message != "Invalid project token." {
		t.Fatalf("client error %#v", apiErr.Response)
	}
	if got := h.emu.Stats().Forbidden; got != 12 {
		t.Fatalf("Forbidden = %d, want 12", got)
	}

	// An emulator without a project id accepts any non-empty one.
	open := blockfrostemu.New("")
	defer open.Close()
	url, stop, err := open.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := newClient(url, "anything").BlockLatest(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(url, "").BlockLatest(ctx(t)); err == nil {
		t.Fatal("an empty project id was accepted")
	}
}
