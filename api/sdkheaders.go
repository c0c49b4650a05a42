package api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
)

// Headers orynq-sdk sends on every call.
const (
	hdrIdempotencyKey = "X-Idempotency-Key"
	hdrChain          = "X-Chain"
)

// idempotencyKey is the call's idempotency key: the body's request_id, or X-Idempotency-Key,
// which means the same (scoped to the proven caller like request_id). Both may be sent when they
// are equal; differing, the request is ambiguous and gets 422 rather than a silent choice.
func idempotencyKey(c *fiber.Ctx, requestID *string) (string, error) {
	h := strings.TrimSpace(c.Get(hdrIdempotencyKey))
	if h == "" {
		return deref(requestID), nil
	}
	var errs fieldErrors
	loc := []any{"header", hdrIdempotencyKey}
	switch {
	case utf8.RuneCountInString(h) > 128:
		errs.add(loc, "String should have at most 128 characters", "string_too_long")
	case requestID != nil && *requestID != h:
		errs.add(loc, "X-Idempotency-Key and request_id differ; send one, or the same value in both", "value_error")
	}
	return h, errs.err()
}

// checkChain refuses a priced call whose X-Chain names another network than the one payments
// are taken on: its client would pay on a chain where we never see the payment.
func (s *Server) checkChain(c *fiber.Ctx) error {
	v := strings.TrimSpace(c.Get(hdrChain))
	if v == "" {
		return nil
	}
	want := s.deps.Payments.Network
	network, ok := cardano.ParseChain(v)
	if !ok {
		return httpError(http.StatusBadRequest, "X-Chain must be cardano:mainnet, cardano:preprod or cardano:preview (CAIP-2), or cardano-mainnet, cardano-preprod or cardano-preview")
	}
	if network != want {
		return httpError(http.StatusBadRequest, fmt.Sprintf("X-Chain is %s, but this service is paid on %s", network.CAIP2(), want.CAIP2()))
	}
	return nil
}
