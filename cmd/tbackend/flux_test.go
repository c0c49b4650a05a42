package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/payments"
)

// flux402 is a 402 body read both ways: the top-level fields orynq-sdk's Flux transport reads,
// and the guide's detail.
type flux402 struct {
	payments.FluxInvoice
	Detail payments.InvoiceDetail `json:"detail"`
}

// bothViews decodes the 402 r both ways and fails unless the two views, the X- headers and the
// invoice's status agree field by field.
func (e *payEnv) bothViews(t *testing.T, r reply) flux402 {
	t.Helper()
	if r.status != 402 {
		t.Fatalf("want 402, got %d %s", r.status, r.raw)
	}
	var v flux402
	if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
		t.Fatal(err)
	}
	f, d := v.FluxInvoice, v.Detail
	total := units(t, d.AmountUnits)
	if d.Extra.Split == payments.SplitInclusive {
		for _, o := range d.Extra.Outputs {
			total += o.AmountUnits
		}
	}
	partner := ""
	if d.Extra.Partner != nil {
		partner = *d.Extra.Partner
	}
	var outs []payments.FluxSplit
	for _, o := range d.Extra.Outputs {
		outs = append(outs, payments.FluxSplit{To: o.Address, Amount: strconv.FormatUint(o.AmountUnits, 10), Role: "partner", Currency: d.Asset})
	}
	status := e.spec.call(t, "GET", e.base+"/payments/status/"+d.InvoiceID, "", "")
	switch {
	case f.InvoiceID != d.InvoiceID, f.Amount != strconv.FormatUint(total, 10), f.Currency != d.Asset,
		f.Decimals != d.Decimals, f.PayTo != d.PayTo, f.Chain != d.Chain, f.Partner != partner,
		!slices.Equal(f.Splits, outs), f.SplitMode != d.Extra.Split:
		t.Fatalf("the views disagree: %s", r.raw)
	case !sameSecond(t, f.ExpiresAt, status.body["expiresAt"].(string)):
		t.Fatalf("expiresAt %s, the invoice's %v", f.ExpiresAt, status.body["expiresAt"])
	}
	for h, want := range map[string]string{"X-Invoice-Id": f.InvoiceID, "X-Pay-To": f.PayTo, "X-Amount": f.Amount,
		"X-Asset": f.Currency, "X-Chain": f.Chain} {
		if got := r.header.Get(h); got != want {
			t.Fatalf("%s: %q, want %q", h, got, want)
		}
	}
	return v
}

// sdkPolled checks the status of a paid and used invoice in the fields the SDK polls.
func (e *payEnv) sdkPolled(t *testing.T, f payments.FluxInvoice, hash string) {
	t.Helper()
	r := e.spec.call(t, "GET", e.base+"/payments/status/"+f.InvoiceID, "", "")
	b := r.body
	settled, _ := b["settledAt"].(string)
	if r.status != 200 || b["invoiceId"] != f.InvoiceID || b["status"] != "consumed" || b["txHash"] != hash ||
		b["chain"] != f.Chain || b["asset"] != f.Currency || b["error"] != nil || settled == "" ||
		!sameSecond(t, f.ExpiresAt, b["expiresAt"].(string)) {
		t.Fatalf("status: %d %s", r.status, r.raw)
	}
	if f.SplitMode != payments.SplitInclusive && b["amount"] != f.Amount {
		t.Fatalf("status amount %v, the 402's %s", b["amount"], f.Amount)
	}
}

// sameSecond tells whether the UTC RFC 3339 stamp a is b in whole seconds.
func sameSecond(t *testing.T, a, b string) bool {
	t.Helper()
	ta, err := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	if err != nil || err2 != nil || !strings.HasSuffix(a, "Z") {
		t.Fatalf("stamps %q %q: %v %v", a, b, err, err2)
	}
	return ta.Equal(tb.Truncate(time.Second))
}

// sdkPay pays a 402 as orynq-sdk does, from its top-level fields only: a signed transaction
// paying amount to payTo (less inclusive splits) and each split, without metadata, submitted
// to Blockfrost. It returns the transaction's hash and the outputs it paid.
func (e *payEnv) sdkPay(t *testing.T, raw string) (string, []blockfrostemu.Output) {
	t.Helper()
	var f payments.FluxInvoice
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		t.Fatal(err)
	}
	if f.Currency != "ADA" || f.Chain != "cardano-mainnet" {
		t.Fatalf("the payer pays ADA on mainnet: %s", raw)
	}
	payTo := units(t, f.Amount)
	var outs []blockfrostemu.Output
	for _, s := range f.Splits {
		outs = append(outs, blockfrostemu.Output{Address: s.To, Lovelace: units(t, s.Amount)})
		if f.SplitMode == payments.SplitInclusive {
			payTo -= units(t, s.Amount)
		}
	}
	outs = append([]blockfrostemu.Output{{Address: f.PayTo, Lovelace: payTo}}, outs...)
	tx, err := blockfrostemu.EncodeTx(blockfrostemu.Signed{Outputs: outs, Seed: f.InvoiceID})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.chainURL+"/tx/submit", bytes.NewReader(tx))
	req.Header.Set("project_id", "proj")
	req.Header.Set("Content-Type", "application/cbor")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var hash string
	if err := json.NewDecoder(res.Body).Decode(&hash); err != nil || res.StatusCode != 200 {
		t.Fatalf("submit: %d %v", res.StatusCode, err)
	}
	if want, _ := blockfrostemu.TxID(tx); hash != want {
		t.Fatalf("submitted %s, its id is %s", hash, want)
	}
	return hash, outs
}

// The vendor's client pays unchanged: every 402 carries the Flux view beside the guide's, the
// two agree, and a memo-less payment built from the Flux view alone pays /chat,
// /token-analysis and a partner's call; the guide's reader of the same answers pays the same
// outputs.
func TestPayLikeOrynqSDK(t *testing.T) {
	e := newPayEnvMemo(t, false)
	e.catchUp()
	batch := e.bothViews(t, e.chat(t, "X-Partner", "bulk", "X-Wallet-Address", exampleWallet))
	if batch.Detail.Extra.BatchTarget != 10 || batch.Partner != "bulk" || batch.Splits != nil {
		t.Fatalf("batch: %+v", batch)
	}
	discount := e.bothViews(t, e.chat(t, "api-key", e.partnerKey(t, "acme")))
	if discount.Partner != "acme" || discount.SplitMode != "additional" || len(discount.Splits) != 1 || discount.Splits[0].To != e.acme {
		t.Fatalf("acme: %+v", discount)
	}
	calls := []struct{ route, body string }{
		{"/chat", `{"message":"paid hello"}`},
		{"/token-analysis", snekBody},
		{"/chat", `{"message":"partner hello"}`},
	}
	for i, c := range calls {
		hdr := []string{"X-Chain", "cardano:mainnet"} // the SDK names its chain
		if i == 2 {
			hdr = append(hdr, "X-Partner", "share")
		}
		first := e.spec.call(t, "POST", e.base+c.route, "", c.body, hdr...)
		v := e.bothViews(t, first)
		if i == 2 && (v.Partner != "share" || len(v.Splits) != 1) {
			t.Fatalf("share: %s", first.raw)
		}
		if v.Detail.Extra.Memo != nil {
			t.Fatalf("a memo without require_memo: %s", first.raw)
		}
		// The guide's reader builds its payment from detail: the same outputs.
		guide := e.paymentFrom(t, invoiceOf(t, first), e.payer).Outputs
		hash, paid := e.sdkPay(t, first.raw)
		retry := append([]string{"X-Invoice-Id", v.InvoiceID, "X-Payment", hash}, hdr...)
		pending := e.spec.call(t, "POST", e.base+c.route, "", c.body, retry...)
		if p := e.bothViews(t, pending); p.Detail.Status != "submitted" && p.Detail.Status != "pending" || pending.header.Get("Retry-After") == "" {
			t.Fatalf("%s before its confirmations: %s", c.route, pending.raw)
		}
		e.chain.AdvanceTip(2)
		if r := e.spec.call(t, "POST", e.base+c.route, "", c.body, retry...); r.status != 200 {
			t.Fatalf("%s paid by the SDK's way: %d %s", c.route, r.status, r.raw)
		}
		e.sdkPolled(t, v.FluxInvoice, hash)
		same := func(a, b blockfrostemu.Output) bool { return a.Address == b.Address && a.Lovelace == b.Lovelace }
		if guide = guide[:len(guide)-1]; len(guide) != len(paid) { // the last is the guide payer's change
			t.Fatalf("%s: the guide pays %+v, the SDK paid %+v", c.route, guide, paid)
		}
		for _, o := range guide {
			if !slices.ContainsFunc(paid, func(p blockfrostemu.Output) bool { return same(o, p) }) {
				t.Fatalf("%s: the guide pays %+v, the SDK paid %+v", c.route, guide, paid)
			}
		}
	}
}

// X-Idempotency-Key is request_id by another name: the header alone replays the first answer
// (one model call), the header and an equal request_id are the same request, and another
// caller's equal key is another request.
func TestChatIdempotencyKeyHeader(t *testing.T) {
	e := newChatEnv(t)
	a := e.chat(t, `{"message":"charge me once"}`, "X-Idempotency-Key", "sdk-1")
	b := e.chat(t, `{"message":"charge me once","request_id":"sdk-1"}`)
	c := e.chat(t, `{"message":"charge me once","request_id":"sdk-1"}`, "X-Idempotency-Key", "sdk-1")
	if a.status != 200 || a.body["request_id"] != "sdk-1" || b.raw != a.raw || c.raw != a.raw {
		t.Fatalf("first %s\nby request_id %s\nby both %s", a.raw, b.raw, c.raw)
	}
	if b.header.Get("X-Idempotent-Replay") != "true" || c.header.Get("X-Idempotent-Replay") != "true" {
		t.Fatal("the replays are not marked")
	}
	if n := e.emu.Requests(openaiemu.EndpointChatCompletions); n != 1 {
		t.Fatalf("the model was called %d times", n)
	}
	if r := e.chat(t, `{"message":"charge me once","request_id":"sdk-2"}`, "X-Idempotency-Key", "sdk-1"); r.status != 422 {
		t.Fatalf("differing keys: %d %s", r.status, r.raw)
	}
	other := call(t, "POST", e.base+"/chat", e.otherKey(t), `{"message":"charge me once"}`, "X-Idempotency-Key", "sdk-1")
	if other.status != 200 || other.header.Get("X-Idempotent-Replay") != "" || e.emu.Requests(openaiemu.EndpointChatCompletions) != 2 {
		t.Fatalf("another caller's key: %d %s", other.status, other.raw)
	}
}

// ndjsonFrame is one line of an NDJSON chat stream: a frame and its id.
type ndjsonFrame struct {
	frame
	ID string `json:"id"`
}

// readNDJSON reads an NDJSON stream's objects (blank lines are keep-alives) until n are read, or,
// with n = 0, to the end of the body, which must come right after a done or error object.
func readNDJSON(t *testing.T, rd *bufio.Reader, n int) []ndjsonFrame {
	t.Helper()
	var out []ndjsonFrame
	for n == 0 || len(out) < n {
		line, err := rd.ReadString('\n')
		if err == io.EOF && line == "" && n == 0 {
			if len(out) == 0 || out[len(out)-1].Type != "done" && out[len(out)-1].Type != "error" {
				t.Fatalf("the stream ended without a final object after %d", len(out))
			}
			return out
		}
		if err != nil {
			t.Fatalf("after %d objects: %q %v", len(out), line, err)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		var f ndjsonFrame
		if err := json.Unmarshal([]byte(line), &f); err != nil || f.ID == "" || f.Seq == 0 {
			t.Fatalf("line %q: %v", line, err)
		}
		if f.Type == "done" || f.Type == "error" {
			if n != 0 {
				t.Fatalf("final object before %d: %q", n, line)
			}
		}
		out = append(out, f)
	}
	return out
}

// A chat stream asked for as NDJSON (Accept, or ?format=ndjson) carries the SSE stream's frames,
// one object a line with its id, ends with the done object, and resumes after an id like SSE.
func TestChatStreamNDJSON(t *testing.T) {
	e := newChatEnv(t)
	e.emu.SetChunkDelay(40 * time.Millisecond)
	open := func(method, url, body string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("api-key", e.key)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("%s %s: %d %s %s", method, url, res.StatusCode, res.Header.Get("Content-Type"), b)
		}
		return res
	}
	res := open("POST", e.base+"/chat", `{"stream":true,"message":"resume me after a short break please"}`, "Accept", "application/x-ndjson")
	jobID := res.Header.Get("X-Job-Id")
	head := readNDJSON(t, bufio.NewReader(res.Body), 3)
	res.Body.Close() // the client drops; it reconnects at once
	res2 := open("GET", e.base+"/chat/stream/"+jobID+"?format=ndjson", "", "Last-Event-ID", head[2].ID)
	defer res2.Body.Close()
	frames := append(head, readNDJSON(t, bufio.NewReader(res2.Body), 0)...)
	var text strings.Builder
	for i, f := range frames {
		if f.Seq != i+1 || f.JobID != jobID {
			t.Fatalf("object %d: %+v: a frame was lost or repeated", i, f)
		}
		text.WriteString(f.Text)
	}
	if last := frames[len(frames)-1]; last.Type != "done" || *last.Reply != text.String() {
		t.Fatalf("last %+v, text %q", last, text.String())
	}
	// ?format=ndjson on the call itself; the replay of its request_id streams the same way.
	body := `{"stream":true,"message":"once","request_id":"nd-1"}`
	first := open("POST", e.base+"/chat?format=ndjson", body)
	a := readNDJSON(t, bufio.NewReader(first.Body), 0)
	first.Body.Close()
	again := open("POST", e.base+"/chat", body, "Accept", "application/json, application/x-ndjson")
	defer again.Body.Close()
	if b := readNDJSON(t, bufio.NewReader(again.Body), 0); again.Header.Get("X-Idempotent-Replay") != "true" || len(b) != len(a) || b[len(b)-1].ID != a[len(a)-1].ID {
		t.Fatalf("replay: %d objects, first %d", len(b), len(a))
	}
}
