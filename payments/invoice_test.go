package payments_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestNewInvoiceAndBody(t *testing.T) {
	cfg := mustParse(t, baseConfig(t))
	terms, err := cfg.Terms("/chat", "acme")
	if err != nil {
		t.Fatal(err)
	}
	inv := cfg.NewInvoice("inv_test1", terms, "addr1wallet", "rk1", created.In(time.FixedZone("X", 3600)))
	want := payments.Invoice{ID: "inv_test1", Route: "/chat", Partner: "acme", Wallet: "addr1wallet", Network: "mainnet",
		Asset: "ADA", Decimals: 6, AmountUnits: 320_000_000, AmountOffsets: 999, Lovelace: 320_000_000, PayTo: cfg.PayTo,
		Outputs: []payments.InvoiceOutput{{Address: addr(t, cardano.Mainnet, 2), AmountUnits: 32_000_000}},
		Split:   "additional", Memo: inv.Memo, MinConfirmations: 2, BatchTarget: 100, RequestKey: "rk1",
		CreatedAt: created, ExpiresAt: created.Add(300 * time.Second), Status: payments.InvoicePending}
	// The memo is a public reference drawn apart from the id: the id never goes on chain.
	if !regexp.MustCompile(`^ref_[a-z2-7]{26}$`).MatchString(inv.Memo) || strings.Contains(inv.Memo, inv.ID[len("inv_"):]) {
		t.Fatalf("memo %q", inv.Memo)
	}
	if b1, b2 := mustMarshal(t, inv), mustMarshal(t, want); b1 != b2 {
		t.Fatalf("invoice\n got %s\nwant %s", b1, b2)
	}
	body := mustMarshal(t, payments.InvoiceBody(inv))
	wantBody := `{"version":"0.1","invoiceId":"inv_test1","chain":"cardano-mainnet","asset":"ADA","amountUnits":"320000000",` +
		`"decimals":6,"payTo":"` + cfg.PayTo + `","timeout":300,"extra":{"lovelace":true,"babel":false,"partner":"acme",` +
		`"batchTarget":100,"memo":"` + inv.Memo + `","outputs":[{"address":"` + addr(t, cardano.Mainnet, 2) + `","amountUnits":"32000000"}],` +
		`"split":"additional"}}`
	if body != wantBody {
		t.Fatalf("402 body\n got %s\nwant %s", body, wantBody)
	}
}

func TestInvoiceBodyWithoutPartnerOrMemo(t *testing.T) {
	tree := baseConfig(t)
	tree["require_memo"] = false
	tree["asset"] = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABAB00"
	tree["decimals"] = 2
	tree["network"], tree["pay_to"], tree["partners"] = "preview", addr(t, cardano.Preview, 5), nil
	cfg := mustParse(t, tree)
	terms, err := cfg.Terms("/token-analysis", "")
	if err != nil {
		t.Fatal(err)
	}
	inv := cfg.NewInvoice(payments.NewInvoiceID(), terms, "", "", created)
	if inv.Memo != "" || inv.Lovelace != 0 || inv.AmountUnits != 4_000_000 || inv.Asset != "abababababababababababababababababababababababababababab00" {
		t.Fatalf("%+v", inv)
	}
	body := mustMarshal(t, payments.InvoiceBody(inv))
	wantBody := `{"version":"0.1","invoiceId":"` + inv.ID + `","chain":"cardano-preview","asset":"` + inv.Asset +
		`","amountUnits":"4000000","decimals":2,"payTo":"` + cfg.PayTo + `","timeout":300,"extra":{"lovelace":false,"babel":false,` +
		`"partner":null,"batchTarget":0,"memo":null}}`
	if body != wantBody {
		t.Fatalf("402 body\n got %s\nwant %s", body, wantBody)
	}
	d := payments.InvoiceBody(inv)
	d.Status, d.Error = "submitted", payments.CodeMemoMissing
	var m map[string]any
	if err := json.Unmarshal([]byte(mustMarshal(t, d)), &m); err != nil || m["status"] != "submitted" || m["error"] != "payment_memo_missing" {
		t.Fatalf("status/error: %v %v", m, err)
	}
}

func TestNewInvoiceID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := payments.NewInvoiceID()
		if !regexp.MustCompile(`^inv_[a-z2-7]{26}$`).MatchString(id) || seen[id] {
			t.Fatalf("id %q", id)
		}
		seen[id] = true
	}
}

func TestPublicConfig(t *testing.T) {
	cfg := mustParse(t, baseConfig(t))
	got := mustMarshal(t, cfg.Public())
	want := `{"network":"mainnet","chain":"cardano-mainnet","asset":"ADA","decimals":6,"payTo":"` + cfg.PayTo + `",` +
		`"minConfirmations":2,"invoiceTimeout":300,"requireMemo":true,"amountOffsets":999,"prices":{"/chat":"4000000","/images/edit":"5000000",` +
		`"/images/generate":"5000000","/images/upload-and-edit":"5000000","/token-analysis":"4000000"},` +
		`"partners":[{"name":"acme","discountBps":2000,"batchTarget":100},{"name":"beta","discountBps":0,"batchTarget":0},` +
		`{"name":"plain","discountBps":1000,"batchTarget":0}]}`
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestCheckInvoice(t *testing.T) {
	inv := payments.Invoice{ID: "inv_1", Route: "/chat", Status: payments.InvoicePending, CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
	cases := []struct {
		name   string
		change func(*payments.Invoice)
		route  string
		now    time.Time
		want   string
	}{
		{"pending in time", nil, "/chat", created, ""},
		{"other route", nil, "/images/edit", created, payments.CodeRouteMismatch},
		{"consumed", func(i *payments.Invoice) { i.Status = payments.InvoiceConsumed }, "/chat", created, payments.CodeInvoiceConsumed},
		{"pending past expiry", nil, "/chat", created.Add(2 * time.Minute), payments.CodeInvoiceExpired},
		{"expired", func(i *payments.Invoice) { i.Status = payments.InvoiceExpired }, "/chat", created, payments.CodeInvoiceExpired},
		{"confirmed past expiry", func(i *payments.Invoice) { i.Status = payments.InvoiceConfirmed }, "/chat", created.Add(time.Hour), ""},
	}
	for _, c := range cases {
		i := inv
		if c.change != nil {
			c.change(&i)
		}
		if got := payments.Code(payments.CheckInvoice(i, c.route, c.now, false)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		// With a proof, expiry is the chain's call (the block time of the payment): only the
		// route and a used invoice are refused up front.
		want := c.want
		if want == payments.CodeInvoiceExpired {
			want = ""
		}
		if got := payments.Code(payments.CheckInvoice(i, c.route, c.now, true)); got != want {
			t.Errorf("%s, with a proof: %q, want %q", c.name, got, want)
		}
	}
}

func mustMarshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The Flux view is the same invoice: additional splits ride on top of amount, inclusive ones are
// counted in it (that client pays payTo amount less the splits), so both readers pay the same.
func TestFluxBody(t *testing.T) {
	inv := payments.Invoice{ID: "inv_f", Network: "preprod", Asset: "ADA", Decimals: 6, AmountUnits: 16_000_123,
		PayTo: "addr_test1shop", Partner: "acme", Split: payments.SplitAdditional,
		Outputs:   []payments.InvoiceOutput{{Address: "addr_test1acme", AmountUnits: 1_600_000}},
		CreatedAt: created, ExpiresAt: created.In(time.FixedZone("X", 3600)).Add(5 * time.Minute)}
	want := `{"invoiceId":"inv_f","amount":"16000123","currency":"ADA","decimals":6,"payTo":"addr_test1shop",` +
		`"chain":"cardano-preprod","expiresAt":"2026-03-01T12:05:00Z","partner":"acme",` +
		`"splits":[{"to":"addr_test1acme","amount":"1600000","role":"partner","currency":"ADA"}],"splitMode":"additional"}`
	if got := mustMarshal(t, payments.FluxBody(inv)); got != want {
		t.Fatalf("additional\n got %s\nwant %s", got, want)
	}
	inv.Split = payments.SplitInclusive
	if got := payments.FluxBody(inv); got.Amount != "17600123" || got.SplitMode != "inclusive" {
		t.Fatalf("inclusive: %+v", got)
	}
	inv.Partner, inv.Outputs, inv.Split, inv.Asset = "", nil, "", "abab00"
	want = `{"invoiceId":"inv_f","amount":"16000123","currency":"abab00","decimals":6,"payTo":"addr_test1shop",` +
		`"chain":"cardano-preprod","expiresAt":"2026-03-01T12:05:00Z"}`
	if got := mustMarshal(t, payments.FluxBody(inv)); got != want {
		t.Fatalf("plain\n got %s\nwant %s", got, want)
	}
}
