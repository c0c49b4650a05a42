package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

const (
	// paymentWait bounds how long a paid retry waits for its payment check.
	paymentWait = 15 * time.Second
	// pendingRetry is the Retry-After of a payment that is not confirmed yet: a new check runs at
	// most once per dedup window, so asking sooner only gets the same answer.
	pendingRetry = jobs.PaymentDedupWindow
	// invoicesPerMinute limits the invoices one client address may open (each one is kept).
	invoicesPerMinute = 60
	// proofsPerMinute caps the distinct X-Payment values checked on chain for one invoice.
	proofsPerMinute = 4
	localPaid       = "paid"
	localSettle     = "paid-settlement"
)

// errWalletRequired is the guide's detail for a batch partner's call without a wallet.
var errWalletRequired = httpError(http.StatusBadRequest, "wallet_address_required_for_prepaid_batches")

// priced guards a route that callers may pay for per call: with an api-key (or when payments
// are off, or the route has no price) it is requireKey; without one, the caller pays.
func (s *Server) priced(route, scope string, pre ...prefetch) fiber.Handler {
	keyed := s.requireKey(scope, pre...)
	return func(c *fiber.Ctx) error {
		cfg := s.deps.Payments
		if cfg == nil {
			return keyed(c)
		}
		if _, ok := cfg.Prices[route]; !ok {
			return keyed(c)
		}
		if err := s.checkChain(c); err != nil {
			return err
		}
		if c.Get("api-key") == "" {
			return s.pay(c, route, nil)
		}
		cl, err := s.authenticate(c, scope)
		if err != nil {
			return err
		}
		if cl.key.Partner != "" {
			// A partner key proves the partner; its calls are paid (and read their body there).
			if err := s.rateLimit(c, cl.key); err != nil {
				return err
			}
			return s.pay(c, route, cl)
		}
		if err := s.rateLimit(c, cl.key, prefetchAll(c, pre)...); err != nil {
			return err
		}
		return s.serveKeyed(c, cl)
	}
}

// payer is who pays: the partner whose terms apply (see partnerOf) and the wallet the headers
// name (proven only where it matters: see walletProven).
type payer struct {
	partner string // "" for list terms
	wallet  string // canonical bech32, "" without X-Wallet-Address
}

func (s *Server) payerOf(c *fiber.Ctx, cl *caller, route string, params payments.Params) (payer, error) {
	partner, err := s.partnerOf(c, cl, route, params)
	if err != nil {
		return payer{}, err
	}
	p := payer{partner: partner}
	if w := strings.TrimSpace(c.Get("X-Wallet-Address")); w != "" {
		wallet, err := s.walletAddress(w)
		if err != nil {
			return p, err
		}
		p.wallet = wallet
	}
	return p, nil
}

// walletAddress checks a payment address of the configured network and returns its canonical
// bech32 form (so one wallet has one balance whatever its spelling).
func (s *Server) walletAddress(w string) (string, error) {
	a, err := cardano.ParseAddress(w)
	switch {
	case err != nil || a.Byron || a.Type > 7:
		return "", httpError(http.StatusBadRequest, "X-Wallet-Address is not a Cardano payment address")
	case !s.deps.Payments.Network.Owns(a):
		return "", httpError(http.StatusBadRequest, fmt.Sprintf("X-Wallet-Address is not a %s address", s.deps.Payments.Network))
	}
	return a.Bech32(), nil
}

// pay serves a priced call that is paid for: with an invoice and its payment, with a prepaid
// credit of a proven wallet, or by answering 402 with an invoice. cl is the holder of a partner
// key, or nil for a caller without a key.
func (s *Server) pay(c *fiber.Ctx, route string, cl *caller) error {
	params, err := s.requestParams(c, route)
	if err != nil {
		return err
	}
	p, err := s.payerOf(c, cl, route, params)
	if err != nil {
		return err
	}
	if id := strings.TrimSpace(c.Get("X-Invoice-Id")); id != "" {
		return s.payWithInvoice(c, route, id, p, params)
	}
	if p.partner != "" && s.deps.Payments.Partners[p.partner].BatchTarget > 0 {
		if p.wallet == "" {
			return errWalletRequired
		}
		if dearer, err := s.dearerThanCredit(route, params); dearer || err != nil {
			if err != nil {
				return err
			}
			return s.offerInvoice(c, route, p, s.standardParams(route), payments.CodeRequestMismatch)
		}
		proven, err := s.walletProven(c, cl, p.partner, p.wallet)
		if err != nil {
			return err
		}
		if !proven {
			return s.creditsWithoutProof(c, route, p, params)
		}
		return s.payWithCredit(c, route, p, params)
	}
	return s.offerInvoice(c, route, p, params, "")
}

// creditAccount is the ledger's wallet of a (wallet, route) balance: a batch buys calls of one
// route, so credits bought at one route's price are never spent on a dearer one.
func creditAccount(wallet, route string) string { return wallet + " " + route }

// payWithCredit spends one prepaid credit of the proven wallet on the call, and gives it back
// unless the call is delivered. pay has refused calls a credit does not buy (dearerThanCredit).
func (s *Server) payWithCredit(c *fiber.Ctx, route string, p payer, params payments.Params) error {
	ctx := c.UserContext()
	ref := "call:" + jobs.NewID() // ours, never the client's: a ref is spent once
	account := creditAccount(p.wallet, route)
	remaining, err := s.deps.Ledger.Debit(ctx, p.partner, account, ref)
	if errors.Is(err, ledger.ErrNoCredits) {
		return s.offerInvoice(c, route, p, params, "")
	}
	if err != nil {
		return err
	}
	c.Set("X-Credits-Remaining", strconv.FormatInt(remaining, 10))
	rid := requestID(c)
	s.runPaid(c, walletOwner(p.wallet), func(ctx context.Context, delivered bool, _ string) {
		if delivered {
			return
		}
		if err := s.deps.Ledger.Refund(ctx, p.partner, account, ref); err != nil {
			s.log.Error("refund of a prepaid call not delivered", "request_id", rid, "partner", p.partner, "error", err)
		}
	})
	return nil
}

// dearerThanCredit reports whether a call priced with params costs more than the standard call a
// prepaid credit buys (batches are priced at it): such a call is refused before any credit is
// spent.
func (s *Server) dearerThanCredit(route string, params payments.Params) (bool, error) {
	std := s.standardParams(route)
	if payments.Binding(route, params) == payments.Binding(route, std) {
		return false, nil
	}
	price, err := s.deps.Payments.Price(route, params)
	if err != nil {
		return false, err
	}
	base, err := s.deps.Payments.Price(route, std)
	return price != base, err
}

// paidLease is how long a paid call may hold its invoice: the longest wait, or a whole stream.
func (s *Server) paidLease() time.Duration { return max(s.cfg.SyncWait, streamLimit) + time.Minute }

// payWithInvoice runs the call on a paid invoice, checking the payment first when needed.
func (s *Server) payWithInvoice(c *fiber.Ctx, route, id string, p payer, params payments.Params) error {
	ctx := c.UserContext()
	inv, err := s.deps.Ledger.Get(ctx, id)
	if errors.Is(err, payments.ErrInvoiceNotFound) {
		return s.offerInvoice(c, route, p, params, payments.CodeInvoiceUnknown)
	}
	if err != nil {
		return err
	}
	if err := payments.CheckInvoice(inv, route, s.now(), strings.TrimSpace(c.Get("X-Payment")) != ""); err != nil {
		return s.invoiceAnswer(inv, payments.Code(err), payments.Message(err))
	}
	// Checked before the payment: a retry for other parameters never touches the chain or the
	// invoice, whose payment stays for the original request.
	if err := payments.CheckRequest(inv, route, params); err != nil {
		return s.invoiceAnswer(inv, payments.Code(err), payments.Message(err))
	}
	if inv.Status == payments.InvoicePending || inv.Status == payments.InvoiceSubmitted || inv.Status == payments.InvoiceExpired {
		confirmed, err := s.checkPayment(c, inv, c.Get("X-Payment"))
		if err != nil || !confirmed {
			return err
		}
	}
	inv, token, err := s.deps.Ledger.Reserve(ctx, id, route, s.paidLease())
	switch {
	case errors.Is(err, ledger.ErrInvoiceBusy):
		return &HTTPError{Status: http.StatusConflict, Headers: map[string]string{"Retry-After": "1"},
			Detail: map[string]string{"error": "invoice_in_use", "message": "another request is running on this paid invoice"}}
	case errors.Is(err, ledger.ErrNoCredits):
		return s.offerInvoice(c, route, p, params, ledger.ErrNoCredits.Error())
	case err != nil && payments.Code(err) != "":
		return s.refusedBy(c, id, payments.Code(err))
	case err != nil:
		return err
	}
	rid := requestID(c)
	s.runPaid(c, invoiceOwner(inv), func(ctx context.Context, delivered bool, reason string) {
		var err error
		if delivered {
			err = s.deps.Ledger.Consume(ctx, id, token)
		} else {
			err = s.deps.Ledger.ReleaseWithError(ctx, id, token, reason) // the payment stays usable
		}
		if err != nil {
			s.log.Error("settle a paid call", "request_id", rid, "invoice", id, "delivered", delivered, "error", err)
		}
	})
	return nil
}

// checkPayment runs (or joins) the payment check of a proof (X-Payment's value, or the tx of
// POST /payments/submit). It answers the request itself (402, or an error) unless the invoice is
// now confirmed.
func (s *Server) checkPayment(c *fiber.Ctx, inv payments.Invoice, header string) (bool, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return false, s.invoiceAnswer(inv, payments.CodePaymentMalformed, "send the payment in X-Payment: a tx hash, the signed tx as CBOR hex, or {\"txHash\": …}")
	}
	proof, err := payments.ParseProof(header)
	if err != nil {
		return false, s.invoiceAnswer(inv, payments.CodePaymentMalformed, "X-Payment is not a tx hash, a signed transaction or {\"txHash\": …}")
	}
	jp := jobs.PaymentProof{Kind: proof.Kind, Value: proof.Value}
	spec := jobs.PaymentJob(jobs.PaymentPayload{InvoiceID: inv.ID, Proof: jp}, s.now())
	spec.RequestID, spec.Owner = requestID(c), "invoice:"+inv.ID
	// One check of an invoice runs at a time: retries of the same proof join it (same task id),
	// another proof waits for its end.
	held, release, err := s.deps.Limiter.Hold(c.UserContext(), "payment:"+inv.ID, spec.ID, paymentWait)
	if err != nil {
		return false, err
	}
	if !held {
		return false, &HTTPError{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": "1"},
			Detail: "A payment check of this invoice is running; retry in a moment"}
	}
	defer release()
	if err := s.proofRate(c, inv.ID, proof.Value); err != nil {
		return false, err
	}
	_, out, err := s.deps.Jobs.RunShared(c.UserContext(), spec, paymentWait)
	if errors.Is(err, jobs.ErrStillRunning) {
		return false, s.pendingAnswer(inv, inv.Status)
	}
	if err != nil {
		return false, err
	}
	if !out.OK {
		if out.Error != nil {
			return false, out.Error
		}
		return false, errors.New("payment check failed")
	}
	var res jobs.PaymentResult
	if err := json.Unmarshal(out.Result, &res); err != nil {
		return false, err
	}
	switch {
	case res.Error != "":
		if res.Status != "" {
			inv.Status = res.Status // the check's view is newer than the one read before it
		}
		return false, s.invoiceAnswer(inv, res.Error, res.Message)
	case res.Status == payments.InvoiceConfirmed || res.Status == payments.InvoiceConsumed:
		return true, nil
	}
	return false, s.pendingAnswer(inv, res.Status)
}

// Reasons a paid call was not delivered, recorded on its invoice (GET /payments/status's error).
const (
	notDeliveredFailed  = "call_failed"     // answered 4xx/5xx
	notDeliveredRunning = "call_unfinished" // still running when the wait ended (202)
)

// settleFunc ends a paid call's hold on its payment: it consumes (delivered) or gives it back,
// saying why. It runs once, on a context of its own (a stream settles after its handler returned).
type settleFunc func(ctx context.Context, delivered bool, reason string)

// settlement is the hold of one paid call. A stream takes it over (sse), and its relay settles it
// at the stream's last frame; any other answer is settled by runPaid as soon as it is written.
type settlement struct {
	base     context.Context // the request's values, without its end: settling outlives the request
	end      settleFunc
	once     sync.Once
	streamed atomic.Bool
}

// finish settles the hold; only the first call counts.
func (st *settlement) finish(delivered bool, reason string) {
	st.once.Do(func() {
		ctx, cancel := context.WithTimeout(st.base, 5*time.Second)
		defer cancel()
		st.end(ctx, delivered, reason)
	})
}

// paidSettlement hands a paid call's hold to the stream that will deliver it (nil: not paid).
func paidSettlement(c *fiber.Ctx) *settlement {
	st, _ := c.Locals(localSettle).(*settlement)
	if st != nil {
		st.streamed.Store(true)
	}
	return st
}

// runPaid runs the rest of the chain as the paying caller and settles the payment by what the
// call delivered. A paid call is answered in full, never 202 on request; a job that outlives the
// wait still answers 202, and its result sits behind GET /jobs (api-key only): not delivered, so
// the payment stays usable. A stream is delivered only when its done frame is written.
func (s *Server) runPaid(c *fiber.Ctx, owner string, end settleFunc) {
	st := &settlement{base: context.WithoutCancel(c.UserContext()), end: end}
	c.Locals(localCaller, &caller{owner: owner})
	c.Locals(localPaid, true)
	c.Locals(localSettle, st)
	defer func() {
		if r := recover(); r != nil { // the recover middleware answers; the payment stays usable
			st.finish(false, notDeliveredFailed)
			panic(r)
		}
	}()
	err := c.Next()
	if err != nil {
		err = s.writeError(c, err)
	}
	if st.streamed.Load() {
		return
	}
	status := c.Response().StatusCode()
	switch {
	case err != nil || status >= 400:
		st.finish(false, notDeliveredFailed)
	case status == http.StatusAccepted:
		st.finish(false, notDeliveredRunning)
	default:
		st.finish(true, "")
	}
}

// refusedBy answers the ledger's refusal of invoice id with that invoice as it is now.
func (s *Server) refusedBy(c *fiber.Ctx, id, code string) error {
	inv, err := s.deps.Ledger.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.invoiceAnswer(inv, code, "")
}

// offerInvoice answers 402 with a new invoice for this call: the pending one of an identical
// earlier request when there is one. code, when set, says why the invoice the retry named could
// not serve (it is unknown, or its credits are spent); detail.status is absent, since the
// invoice shown is not that one.
func (s *Server) offerInvoice(c *fiber.Ctx, route string, p payer, params payments.Params, code string) error {
	body, err := s.checkUnpaid(c, route)
	if err != nil {
		return err
	}
	key, err := s.requestKey(c, route, p, body)
	if err != nil {
		return err
	}
	inv, err := s.openInvoice(c, route, p, params, key)
	if err != nil {
		return err
	}
	d := invoiceDetail{InvoiceDetail: payments.InvoiceBody(inv)}
	d.Error = code
	return paymentRequired(inv, d, "")
}

// openInvoice prices route with params for the payer and opens (or, for a known requestKey,
// reuses) its invoice. Invoices are rate-limited per client address: every one is kept.
func (s *Server) openInvoice(c *fiber.Ctx, route string, p payer, params payments.Params, requestKey string) (payments.Invoice, error) {
	cfg := s.deps.Payments
	if err := s.invoiceRate(c); err != nil {
		return payments.Invoice{}, err
	}
	if cfg.Partners[p.partner].BatchTarget > 0 {
		params = s.standardParams(route) // credits buy standard calls (payWithCredit)
	}
	terms, err := cfg.TermsFor(route, p.partner, params)
	if err != nil {
		return payments.Invoice{}, err
	}
	if terms.BatchTarget > 0 && p.wallet == "" {
		return payments.Invoice{}, errWalletRequired
	}
	inv := cfg.NewInvoice(payments.NewInvoiceID(), terms, batchWallet(terms, p.wallet, route), requestKey, s.now())
	inv, _, err = s.deps.Ledger.Open(c.UserContext(), inv)
	if errors.Is(err, ledger.ErrAmountsTaken) {
		return payments.Invoice{}, errAmountsTaken
	}
	return inv, err
}

// errAmountsTaken: every unique amount of this price is held by an open invoice (a flood of
// unpaid invoices, or more buyers at once than amount_offsets). Amounts free up as invoices
// expire; a duplicate amount would let one payment be claimed for two invoices.
var errAmountsTaken = &HTTPError{Status: http.StatusServiceUnavailable, Headers: map[string]string{"Retry-After": "30"},
	Detail: map[string]string{"code": ledger.ErrAmountsTaken.Error(),
		"message": "every payment amount of this price is taken by an open invoice; try again shortly"}}

// batchWallet is the ledger wallet an invoice credits: the route's credit account for a batch.
func batchWallet(t payments.Terms, wallet, route string) string {
	if t.BatchTarget > 0 {
		return creditAccount(wallet, route)
	}
	return wallet
}

// invoiceAnswer is the 402 with the invoice, and the refusal code when there is one; the status
// shown is that invoice's.
func (s *Server) invoiceAnswer(inv payments.Invoice, code, message string) error {
	d := invoiceDetail{InvoiceDetail: payments.InvoiceBody(inv), Message: message}
	if code != "" {
		d.Status, d.Error = inv.Status, code
	}
	return paymentRequired(inv, d, "")
}

// pendingAnswer is the 402 of a payment that is not confirmed yet.
func (s *Server) pendingAnswer(inv payments.Invoice, status string) error {
	d := invoiceDetail{InvoiceDetail: payments.InvoiceBody(inv)}
	d.Status = status
	return paymentRequired(inv, d, strconv.Itoa(int(pendingRetry/time.Second)))
}

// paymentRequired is every 402 that carries an invoice: the guide's view in detail, and the
// same invoice again in the top-level fields and X- headers orynq-sdk's Flux client reads, both
// made from inv so that they cannot disagree.
func paymentRequired(inv payments.Invoice, d invoiceDetail, retryAfter string) error {
	f := payments.FluxBody(inv)
	top, err := fluxFields(f)
	if err != nil {
		return err
	}
	headers := map[string]string{"X-Invoice-Id": inv.ID, "X-Pay-To": f.PayTo, "X-Amount": f.Amount,
		"X-Asset": f.Currency, "X-Chain": f.Chain}
	if retryAfter != "" {
		headers["Retry-After"] = retryAfter
	}
	return &HTTPError{Status: http.StatusPaymentRequired, Detail: d, Headers: headers, Extra: top}
}

// fluxFields are f's fields as top-level members of an error body, spelled by f's JSON tags.
func fluxFields(f payments.FluxInvoice) (map[string]any, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		out[k] = v
	}
	return out, nil
}

// invoiceDetail adds the refusal's explanation to the guide's 402 detail.
type invoiceDetail struct {
	payments.InvoiceDetail
	Message string `json:"message,omitempty"`
}

// proofRate caps the distinct proofs checked for one invoice a minute: each one costs chain
// lookups, while repeats of one proof share a check (PaymentTaskID), so an honest payer, who has
// one transaction, never meets the cap and a flood of made-up proofs cannot reach the chain.
func (s *Server) proofRate(c *fiber.Ctx, invoiceID, proof string) error {
	sum := sha256.Sum256([]byte(proof))
	d, err := s.deps.Limiter.AllowDistinct(c.UserContext(), "proofs:"+invoiceID, hex.EncodeToString(sum[:16]), proofsPerMinute, time.Minute)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &HTTPError{Status: http.StatusTooManyRequests,
			Headers: map[string]string{"Retry-After": strconv.Itoa(max(1, ceilSeconds(d.RetryAfter)))},
			Detail:  fmt.Sprintf("Too many different payment proofs for this invoice (at most %d a minute are checked)", proofsPerMinute)}
	}
	return nil
}

// invoiceRate limits how many invoices one client address opens a minute: every invoice is
// kept in the ledger, so they must not be free to mint in bulk.
func (s *Server) invoiceRate(c *fiber.Ctx) error {
	return s.clientRate(c, "ip", invoicesPerMinute, "Too many invoices from this address")
}

// checkUnpaid validates the JSON body of an unpaid call as its handler would, before any invoice
// is opened: a request that could never be served costs nothing. It returns the body it read (nil
// for the routes it does not read). The handler never runs for an unpaid request, so
// reading the body here costs nothing later.
func (s *Server) checkUnpaid(c *fiber.Ctx, route string) ([]byte, error) {
	var (
		limit int
		check func(body []byte) error
	)
	switch route {
	case "/chat":
		limit, check = chatBodyLimit, func(b []byte) error {
			var req chatRequest
			if err := decodeJSONBody(b, &req); err != nil {
				return err
			}
			_, err := idempotencyKey(c, req.RequestID)
			return err
		}
	case "/token-analysis":
		limit, check = tokenBodyLimit, func(b []byte) error {
			var req tokenRequest
			if err := decodeJSONBody(b, &req); err != nil {
				return err
			}
			_, err := s.tokenPayload(c, &req)
			return err
		}
	default:
		// /images/generate was read and validated by requestParams (its price depends on it);
		// requestKey hashes the body it put back. The multipart routes are checked when paid.
		return nil, nil
	}
	body, err := readBody(c, limit)
	if err != nil {
		return nil, err
	}
	return body, check(body)
}

// requestKey identifies an unpaid request, so that repeating it returns the same pending invoice:
// the route, the payer, the client address and a digest of the body (body when checkUnpaid read
// it, else the request's).
func (s *Server) requestKey(c *fiber.Ctx, route string, p payer, body []byte) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", route, p.partner, p.wallet, s.clientIP(c))
	req := c.Request()
	switch {
	case body != nil:
		h.Write(body)
	case req.IsBodyStream():
		if _, err := io.Copy(h, io.LimitReader(req.BodyStream(), 1<<20)); err != nil {
			return "", httpError(http.StatusBadRequest, "Could not read the request body")
		}
		fmt.Fprintf(h, "\x00%d", req.Header.ContentLength())
	default:
		h.Write(req.Body())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
