package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/internal/ctxsleep"
)

const payUsage = `Usage:
  tbackend pay --from-402 FILE --skey FILE [options]
  tbackend pay --invoice ID --api URL --skey FILE [options]

Pays an invoice from a wallet: builds a transaction with the invoice's outputs and memo from the
wallet's unspent outputs, signs it with the signing key, submits it through Blockfrost, waits
until it is in a block, and prints the headers to retry the call with (on stdout, one per line,
ready for curl -H @FILE). With --retry it sends the call again itself (a JSON body; give the
route and body of the original call) and prints the answer.

The wallet is the key's enterprise address (no stake part) on the invoice's network, or --from.
Blockfrost is BLOCKFROST_URL (or the public endpoint of CARDANO_NETWORK) with the project id
BLOCKFROST_PROJECT_ID; the flags override both. ` + "`tbackend dev`" + ` prints this command with
its emulated chain and funded dev wallet filled in.

Options:
`

// payFlags are the pay command's options.
type payFlags struct {
	invoice, from402, api, skey, bfURL, bfProject string
	from                                          string
	wait                                          time.Duration
	retry                                         bool
	route, method, body                           string
}

func runPay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pay", flag.ContinueOnError)
	var f payFlags
	fs.StringVar(&f.invoice, "invoice", "", "invoice id (its terms come from GET --api/payments/status/ID)")
	fs.StringVar(&f.from402, "from-402", "", "file holding the body of a 402 answer")
	fs.StringVar(&f.api, "api", "http://127.0.0.1:8080", "base URL of the service (for --invoice and --retry)")
	fs.StringVar(&f.skey, "skey", "", "payment signing key, cardano-cli text envelope (required)")
	fs.StringVar(&f.from, "from", "", "address to spend from and return change to (default the key's enterprise address; a base address must have the key as its payment part)")
	fs.StringVar(&f.bfURL, "blockfrost-url", getenv("BLOCKFROST_URL"), "Blockfrost base URL, ending in /api/v0 (default BLOCKFROST_URL, else CARDANO_NETWORK's)")
	fs.StringVar(&f.bfProject, "blockfrost-project", getenv("BLOCKFROST_PROJECT_ID"), "Blockfrost project id (default BLOCKFROST_PROJECT_ID)")
	fs.DurationVar(&f.wait, "wait", 3*time.Minute, "how long to wait for the transaction to be in a block")
	fs.BoolVar(&f.retry, "retry", false, "send the paid call again (--route, --body, --method) and print its answer")
	fs.StringVar(&f.route, "route", "", "path of the original call, e.g. /chat (with --retry)")
	fs.StringVar(&f.method, "method", http.MethodPost, "method of the original call (with --retry)")
	fs.StringVar(&f.body, "body", "", "JSON body of the original call (with --retry)")
	fs.Usage = func() { fmt.Fprint(stderr, payUsage); fs.PrintDefaults() }
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	key, err := readSigningKey(f.skey)
	if err != nil {
		return err
	}
	web := &http.Client{Timeout: 2 * time.Minute}
	terms, err := f.terms(ctx, web)
	if err != nil {
		return err
	}
	if net := getenv("CARDANO_NETWORK"); net != "" && net != terms.Network.String() {
		return fmt.Errorf("pay: invoice %s is on %s but CARDANO_NETWORK is %s", terms.InvoiceID, terms.Network, net)
	}
	if f.bfURL == "" {
		f.bfURL = defaultBlockfrostURL(terms.Network)
	}
	if f.bfProject == "" {
		return usageError{"pay: set BLOCKFROST_PROJECT_ID or --blockfrost-project"}
	}
	w := &payWallet{chain: newPayChain(f.bfURL, f.bfProject), key: key, from: f.from, log: stderr}
	hash, err := w.pay(ctx, terms, f.wait)
	if err != nil {
		return err
	}
	headers := fmt.Sprintf("X-Invoice-Id: %s\nX-Payment: %s\n", terms.InvoiceID, hash)
	fmt.Fprintf(stderr, "retry the call with: -H 'X-Invoice-Id: %s' -H 'X-Payment: %s'\n", terms.InvoiceID, hash)
	if !f.retry {
		fmt.Fprint(stdout, headers)
		return nil
	}
	return retryPaid(ctx, web, f, terms.InvoiceID, hash, stdout, stderr)
}

func (f payFlags) check() error {
	switch {
	case (f.invoice == "") == (f.from402 == ""):
		return usageError{errNoTerms.Error()}
	case f.skey == "":
		return usageError{"pay: --skey FILE is required (a payment signing key, cardano-cli text envelope)"}
	case f.retry && !strings.HasPrefix(f.route, "/"):
		return usageError{"pay: --retry needs --route, the path of the original call (e.g. /chat)"}
	case f.wait <= 0:
		return usageError{"pay: --wait must be positive"}
	}
	return checkURL("--api", f.api)
}

func (f payFlags) terms(ctx context.Context, web *http.Client) (payTerms, error) {
	if f.from402 != "" {
		return termsFrom402(f.from402)
	}
	return termsFromAPI(ctx, web, f.api, f.invoice)
}

func readSigningKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pay: %w", err)
	}
	key, err := cardano.ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("pay: %s: %w", path, err)
	}
	return key, nil
}

// retryPaid sends the original call with the payment headers. A payment the service has not
// seen confirmed yet is answered 402 with Retry-After: it is asked again until the wait ends.
func retryPaid(ctx context.Context, web *http.Client, f payFlags, invoice, hash string, stdout, stderr io.Writer) error {
	deadline := time.Now().Add(f.wait)
	for {
		req, err := http.NewRequestWithContext(ctx, f.method, strings.TrimRight(f.api, "/")+f.route, strings.NewReader(f.body))
		if err != nil {
			return err
		}
		if f.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Invoice-Id", invoice)
		req.Header.Set("X-Payment", hash)
		res, err := web.Do(req)
		if err != nil {
			return fmt.Errorf("pay: retry: %w", err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("pay: retry: %w", err)
		}
		wait := retryAfter(res)
		if res.StatusCode == http.StatusPaymentRequired && wait > 0 && time.Now().Add(wait).Before(deadline) {
			fmt.Fprintf(stderr, "the service has not confirmed the payment yet; asking again in %s\n", wait)
			if !ctxsleep.For(ctx, wait) {
				return ctx.Err()
			}
			continue
		}
		fmt.Fprintf(stderr, "%s %s → %s\n", f.method, f.route, res.Status)
		if _, err := stdout.Write(body); err == nil && len(body) > 0 && body[len(body)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
		if res.StatusCode >= 400 {
			return fmt.Errorf("pay: the paid call answered %s", res.Status)
		}
		return nil
	}
}

func retryAfter(res *http.Response) time.Duration {
	var s int
	if _, err := fmt.Sscan(res.Header.Get("Retry-After"), &s); err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

var errNotInBlock = errors.New("pay: the transaction is not in a block yet")
