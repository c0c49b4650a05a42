package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

var errPaymentsOff = httpError(http.StatusNotFound, "Payments are not enabled on this service")

// paymentsConfig shows prices and terms (no revenue-share addresses).
func (s *Server) paymentsConfig(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	return c.JSON(s.deps.Payments.Public())
}

// invoiceStatus is the body of GET /payments/status/{invoiceId}.
type invoiceStatus struct {
	InvoiceID string     `json:"invoiceId"`
	Status    string     `json:"status"`
	TxHash    *string    `json:"txHash"`
	Chain     string     `json:"chain"`
	Amount    string     `json:"amount"`
	Asset     string     `json:"asset"`
	Partner   *string    `json:"partner"`
	Route     string     `json:"route"`
	SettledAt *time.Time `json:"settledAt"`
	ExpiresAt time.Time  `json:"expiresAt"`
	Error     *string    `json:"error"`
	// What a payment must do (a payer working from the invoice id alone needs it).
	PayTo   string                   `json:"payTo"`
	Outputs []payments.InvoiceOutput `json:"outputs,omitempty"`
	Memo    *string                  `json:"memo"`
}

func (s *Server) paymentStatusRoute(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	return s.paymentStatus(c, c.Params("invoice_id"))
}

// paymentStatus answers the status of invoice id.
func (s *Server) paymentStatus(c *fiber.Ctx, id string) error {
	if len(id) > 128 {
		return httpError(http.StatusNotFound, "Invoice not found")
	}
	inv, err := s.deps.Ledger.Get(c.UserContext(), id)
	if errors.Is(err, payments.ErrInvoiceNotFound) {
		return httpError(http.StatusNotFound, "Invoice not found")
	}
	if err != nil {
		return err
	}
	out := invoiceStatus{InvoiceID: inv.ID, Status: inv.Status, Chain: cardano.Network(inv.Network).Chain(),
		Amount: strconv.FormatUint(inv.AmountUnits, 10), Asset: inv.Asset, Route: inv.Route, ExpiresAt: inv.ExpiresAt,
		PayTo: inv.PayTo, Outputs: inv.Outputs}
	if inv.Memo != "" {
		out.Memo = &inv.Memo
	}
	if inv.TxHash != "" {
		out.TxHash = &inv.TxHash
	}
	if inv.Partner != "" {
		out.Partner = &inv.Partner
	}
	if !inv.SettledAt.IsZero() {
		out.SettledAt = &inv.SettledAt
	}
	if inv.Error != "" {
		out.Error = &inv.Error
	}
	return c.JSON(out)
}

// balanceBody is the body of GET /payments/balance: credits per route (a batch buys calls of
// one route) and their sum.
type balanceBody struct {
	Partner     string           `json:"partner"`
	Wallet      string           `json:"wallet"`
	Credits     int64            `json:"credits"`
	Routes      map[string]int64 `json:"routes"`
	BatchTarget int              `json:"batchTarget"`
	UpdatedAt   *time.Time       `json:"updatedAt"`
}

func (s *Server) paymentBalance(c *fiber.Ctx) error {
	cfg := s.deps.Payments
	if cfg == nil {
		return errPaymentsOff
	}
	partner := strings.TrimSpace(c.Query("partner"))
	pt, ok := cfg.Partners[partner]
	if !ok {
		return httpError(http.StatusBadRequest, "partner must name a configured partner")
	}
	wallet, err := s.walletAddress(c.Query("wallet"))
	if err != nil {
		return httpError(http.StatusBadRequest, "wallet must be a Cardano payment address of this network")
	}
	out := balanceBody{Partner: partner, Wallet: wallet, Routes: map[string]int64{}, BatchTarget: pt.BatchTarget}
	for route := range cfg.Prices {
		b, err := s.deps.Ledger.Balance(c.UserContext(), partner, creditAccount(wallet, route))
		if err != nil {
			return err
		}
		out.Routes[route] = b.Credits
		out.Credits += b.Credits
		if !b.UpdatedAt.IsZero() && (out.UpdatedAt == nil || b.UpdatedAt.After(*out.UpdatedAt)) {
			at := b.UpdatedAt
			out.UpdatedAt = &at
		}
	}
	return c.JSON(out)
}

// invoiceRequest is the body of POST /payments/invoice.
type invoiceRequest struct {
	Partner *string `json:"partner"`
	Wallet  *string `json:"wallet"`
	Route   *string `json:"route"`
}

func (r *invoiceRequest) validate(v *fieldErrors) {
	v.required("route", r.Route != nil)
	v.strLen("route", r.Route, 1, 64)
	v.strLen("partner", r.Partner, 0, 64)
	v.strLen("wallet", r.Wallet, 0, 256)
}

// createInvoice opens an invoice without a failing call first (to prepay a batch, say).
func (s *Server) createInvoice(c *fiber.Ctx) error {
	cfg := s.deps.Payments
	if cfg == nil {
		return errPaymentsOff
	}
	var req invoiceRequest
	if err := decodeJSON(c, 4<<10, &req); err != nil {
		return err
	}
	route := *req.Route
	if _, ok := cfg.Prices[route]; !ok {
		return httpError(http.StatusBadRequest, "route is not a priced route (see GET /payments/config)")
	}
	var p payer
	if req.Partner != nil && *req.Partner != "" {
		if _, ok := cfg.Partners[*req.Partner]; !ok {
			return httpError(http.StatusBadRequest, "Unknown partner")
		}
		p.partner = *req.Partner
	}
	if req.Wallet != nil && *req.Wallet != "" {
		w, err := s.walletAddress(*req.Wallet)
		if err != nil {
			return err
		}
		p.wallet = w
	}
	inv, err := s.openInvoice(c, route, p, s.standardParams(route), "") // asked for explicitly: always a new one
	if err != nil {
		return err
	}
	c.Set("X-Invoice-Id", inv.ID)
	return c.Status(http.StatusCreated).JSON(payments.InvoiceBody(inv))
}

// submitRequest is the body of POST /payments/submit.
type submitRequest struct {
	InvoiceID *string `json:"invoiceId"`
	Tx        *string `json:"tx"`
}

// maxSubmitBody holds a signed transaction of the largest size Cardano allows (16 KB, 32 KB in
// hex) with room for a future increase, as ParseProof does.
const maxSubmitBody = 4*cardano.MaxTxBytes + 1<<10

func (r *submitRequest) validate(v *fieldErrors) {
	v.required("invoiceId", r.InvoiceID != nil)
	v.required("tx", r.Tx != nil)
	v.strLen("invoiceId", r.InvoiceID, 1, 128)
	v.strLen("tx", r.Tx, 1, 2*cardano.MaxTxBytes)
}

// submitPayment takes a signed transaction in the body, where any size fits: X-Payment travels
// in the header, whose buffer (fiber's ReadBufferSize, held by every open connection) is not
// raised for it. The check is the paid retry's (verify, submit, record), without running a call:
// 200 with the invoice's status once it is confirmed, else the retry's 402 (status submitted and
// Retry-After, or the refusal). The caller then retries the call with X-Payment: the tx hash.
func (s *Server) submitPayment(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	var req submitRequest
	if err := decodeJSON(c, maxSubmitBody, &req); err != nil {
		return err
	}
	inv, err := s.deps.Ledger.Get(c.UserContext(), *req.InvoiceID)
	if errors.Is(err, payments.ErrInvoiceNotFound) {
		return httpError(http.StatusNotFound, "Invoice not found")
	}
	if err != nil {
		return err
	}
	if err := payments.CheckInvoice(inv, inv.Route, s.now(), true); err != nil {
		return s.invoiceAnswer(inv, payments.Code(err), payments.Message(err))
	}
	if inv.Status == payments.InvoicePending || inv.Status == payments.InvoiceSubmitted || inv.Status == payments.InvoiceExpired {
		confirmed, err := s.checkPayment(c, inv, *req.Tx)
		if err != nil || !confirmed {
			return err
		}
	}
	return s.paymentStatus(c.Status(http.StatusOK), *req.InvoiceID)
}
