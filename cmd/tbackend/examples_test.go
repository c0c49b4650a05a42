package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/emulators/blockfrost"
)

// TestRequestExamplesSucceed sends the example of every request body in the served document, as
// it is, to its route with the dev key (all scopes) on a service with payments on, and wants a
// success: what Swagger UI's "Try it out" sends by default must work. A multipart example names
// its files (the fields the schema types as binary); they are sent as generated PNGs.
func TestRequestExamplesSucceed(t *testing.T) {
	e := newPayEnv(t)
	res, err := http.Get(e.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if op.RequestBody == nil {
				continue
			}
			for ctype, mt := range op.RequestBody.Value.Content {
				sent++
				t.Run(method+" "+path+" "+ctype, func(t *testing.T) {
					if mt.Example == nil {
						t.Fatal("the request body has no example")
					}
					if strings.Contains(path, "{") {
						t.Fatal("a path with parameters needs their example values too")
					}
					body, contentType := exampleBody(t, ctype, mt)
					hdr := []string{"Content-Type", contentType}
					if fill := signedIn[method+" "+path]; fill != nil {
						body, hdr = fill(t, e, body, hdr)
					}
					r := e.spec.call(t, method, e.base+path, e.key, body, hdr...)
					if r.status < 200 || r.status > 299 {
						t.Fatalf("the example %s answered %d: %.500s", asJSON(t, mt.Example), r.status, r.raw)
					}
				})
			}
		}
	}
	if sent < 13 {
		t.Fatalf("only %d request bodies in the document", sent)
	}
}

// signedIn fills in what no document example can hold: a signature over a challenge the server
// has just issued, or the bearer token it has just granted. The rest is the example as written.
var signedIn = map[string]func(t *testing.T, e *payEnv, body string, hdr []string) (string, []string){
	"POST /auth/wallet/verify": func(t *testing.T, e *payEnv, body string, hdr []string) (string, []string) {
		var ex struct{ Address string }
		if err := json.Unmarshal([]byte(body), &ex); err != nil {
			t.Fatal(err)
		}
		return walletAnswer(t, e, ex.Address), hdr
	},
	"POST /payments/submit": func(t *testing.T, e *payEnv, _ string, hdr []string) (string, []string) {
		e.catchUp()
		d := invoiceOf(t, e.chat(t))
		p := e.payment(t, d)
		raw, err := blockfrostemu.EncodeTx(blockfrostemu.Signed{Outputs: p.Outputs, Metadata: p.Metadata, Seed: d["invoiceId"].(string)})
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"invoiceId":%q,"tx":%q}`, d["invoiceId"], hex.EncodeToString(raw))
		if r := call(t, "POST", e.base+"/payments/submit", "", body); r.status != 402 {
			t.Fatalf("first submission: %d %s", r.status, r.raw)
		}
		e.chain.AdvanceTip(2) // the example's answer is 200 once the transaction is confirmed
		return body, hdr
	},
	"POST /auth/wallet/revoke": func(t *testing.T, e *payEnv, body string, hdr []string) (string, []string) {
		var tok struct{ Token string }
		r := call(t, "POST", e.base+"/auth/wallet/verify", "", walletAnswer(t, e, exampleWallet))
		if err := json.Unmarshal([]byte(r.raw), &tok); err != nil || r.status != 200 {
			t.Fatalf("sign-in: %d %s", r.status, r.raw)
		}
		return body, append(hdr, "Authorization", "Bearer "+tok.Token)
	},
}

// exampleWallet is the document's example address; exampleWalletKey is its payment key (the
// CIP-8 test vectors' seed, cardano/testdata/cip8).
const exampleWallet = "addr1q9dwryatu622vp6nrcs0shvrtzk7nfr55n69438pt6tzmg0g4rwcmvvnlvlsctqa7h9egcsvmp47g0jwq4fel3nckx6ss9yeyk"

var exampleWalletKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x11}, 32))

// walletAnswer asks for a challenge for address and returns the verify body that answers it.
func walletAnswer(t *testing.T, e *payEnv, address string) string {
	t.Helper()
	r := call(t, "POST", e.base+"/auth/wallet/challenge", "", `{"address":"`+address+`"}`)
	var ch struct{ Payload string }
	if err := json.Unmarshal([]byte(r.raw), &ch); err != nil || r.status != 201 {
		t.Fatalf("challenge: %d %s", r.status, r.raw)
	}
	payload, _ := hex.DecodeString(ch.Payload)
	addr, err := cardano.ParseAddress(address)
	if err != nil {
		t.Fatal(err)
	}
	sig, key, err := cardano.SignData(exampleWalletKey, addr, payload)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"address":%q,"signature":%q,"key":%q}`, address, sig, key)
}

// exampleBody encodes a media type's example as its request body.
func exampleBody(t *testing.T, ctype string, mt *openapi3.MediaType) (string, string) {
	t.Helper()
	switch ctype {
	case "application/json":
		return asJSON(t, mt.Example), ctype
	case "multipart/form-data":
		fields, ok := mt.Example.(map[string]any)
		if !ok {
			t.Fatalf("multipart example %v is not an object", mt.Example)
		}
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, name := range sortedKeys(fields) {
			values, isList := fields[name].([]any)
			if !isList {
				values = []any{fields[name]}
			}
			for _, v := range values {
				if isFile(mt.Schema.Value.Properties[name]) {
					f, _ := w.CreateFormFile(name, fmt.Sprint(v))
					_, _ = f.Write(pngOf(t, 64, 64))
				} else {
					_ = w.WriteField(name, fmt.Sprint(v))
				}
			}
		}
		_ = w.Close()
		return buf.String(), w.FormDataContentType()
	}
	t.Fatalf("no encoder for %s examples", ctype)
	return "", ""
}

// isFile: a binary string, or a list of them.
func isFile(p *openapi3.SchemaRef) bool {
	if p == nil {
		return false
	}
	if p.Value.Items != nil {
		p = p.Value.Items
	}
	return p.Value.Format == "binary"
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
