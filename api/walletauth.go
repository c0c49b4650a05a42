package api

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/storage"
)

const (
	// challengeTTL is how long a wallet has to sign a sign-in challenge.
	challengeTTL = 5 * time.Minute
	// challengesPerMinute limits the challenges one client address may ask for.
	challengesPerMinute = 30
	// walletAuthBody bounds the sign-in bodies (a signData answer is a few hundred bytes).
	walletAuthBody = 16 << 10
)

// challengeRequest is the body of POST /auth/wallet/challenge.
type challengeRequest struct {
	Address *string `json:"address"`
	Partner *string `json:"partner"`
}

func (r *challengeRequest) validate(v *fieldErrors) {
	v.required("address", r.Address != nil)
	v.strLen("address", r.Address, 1, 256)
	v.strLen("partner", r.Partner, 0, 64)
}

// challengeBody is the answer: the message to sign, also as the hex payload CIP-30's
// signData(address, payload) takes.
type challengeBody struct {
	Address   string    `json:"address"`
	Partner   *string   `json:"partner"`
	Message   string    `json:"message"`
	Payload   string    `json:"payload"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// walletChallenge opens a single-use sign-in challenge for a wallet.
func (s *Server) walletChallenge(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	var req challengeRequest
	if err := decodeJSON(c, walletAuthBody, &req); err != nil {
		return err
	}
	addr, err := s.walletAddress(*req.Address)
	if err != nil {
		return err
	}
	partner := ""
	if req.Partner != nil {
		partner = strings.TrimSpace(*req.Partner)
	}
	if _, ok := s.deps.Payments.Partners[partner]; partner != "" && !ok {
		return httpError(http.StatusBadRequest, fmt.Sprintf("Unknown partner %q", clipText(partner, 64)))
	}
	if err := s.clientRate(c, "walletauth", challengesPerMinute, "Too many sign-in challenges from this address"); err != nil {
		return err
	}
	ch, err := s.deps.Wallets.Challenge(c.UserContext(), addr, partner, challengeTTL)
	if err != nil {
		return err
	}
	body := challengeBody{Address: ch.Address, Message: ch.Message,
		Payload: hex.EncodeToString([]byte(ch.Message)), ExpiresAt: ch.ExpiresAt}
	if partner != "" {
		body.Partner = &partner
	}
	return c.Status(http.StatusCreated).JSON(body)
}

// verifyRequest is the body of POST /auth/wallet/verify: the claimed address and what the
// wallet's signData returned.
type verifyRequest struct {
	Address   *string `json:"address"`
	Signature *string `json:"signature"`
	Key       *string `json:"key"`
}

func (r *verifyRequest) validate(v *fieldErrors) {
	v.required("address", r.Address != nil)
	v.required("signature", r.Signature != nil)
	v.required("key", r.Key != nil)
	v.strLen("address", r.Address, 1, 256)
	v.strLen("signature", r.Signature, 1, 8192)
	v.strLen("key", r.Key, 1, 1024)
}

// walletTokenBody answers a sign-in and GET /auth/wallet/me.
type walletTokenBody struct {
	Token      string    `json:"token,omitempty"` // only when it is issued
	TokenType  string    `json:"tokenType"`
	ID         string    `json:"id"`
	Address    string    `json:"address"`
	Credential string    `json:"credential"`
	Partner    *string   `json:"partner"`
	IssuedAt   time.Time `json:"issuedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

func tokenBody(t storage.WalletToken, plaintext string) walletTokenBody {
	b := walletTokenBody{Token: plaintext, TokenType: "Bearer", ID: t.ID, Address: t.Address,
		Credential: t.Credential, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}
	if t.Partner != "" {
		b.Partner = &t.Partner
	}
	return b
}

var errChallengeUnknown = httpError(http.StatusUnauthorized,
	"Unknown, used or expired sign-in challenge: ask POST /auth/wallet/challenge for a new one")

// walletVerify checks a signed challenge and issues a bearer wallet token. The challenge is
// spent whatever the outcome: each one allows a single attempt.
func (s *Server) walletVerify(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	var req verifyRequest
	if err := decodeJSON(c, walletAuthBody, &req); err != nil {
		return err
	}
	addr, err := s.walletAddress(*req.Address)
	if err != nil {
		return err
	}
	message, err := cardano.SignDataPayload(*req.Signature)
	if err != nil {
		return httpError(http.StatusBadRequest, "signature is not a CIP-30 signData answer (COSE_Sign1 hex)")
	}
	ctx := c.UserContext()
	ch, err := s.deps.Wallets.Redeem(ctx, message)
	if errors.Is(err, storage.ErrChallengeUnknown) {
		return errChallengeUnknown
	}
	if err != nil {
		return err
	}
	if ch.Address != addr {
		return httpError(http.StatusUnauthorized, "The challenge was issued for another address")
	}
	parsed, _ := cardano.ParseAddress(addr) // walletAddress parsed it already
	cred, err := cardano.VerifySignData(*req.Signature, *req.Key, parsed, []byte(ch.Message))
	if err != nil {
		return httpError(http.StatusUnauthorized, "Signature refused: "+strings.TrimPrefix(err.Error(), cardano.ErrSignData.Error()+": "))
	}
	tok, plain, err := s.deps.Wallets.Issue(ctx, addr, cred.Hex(), ch.Partner, s.cfg.WalletTokenTTL)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenBody(tok, plain))
}

// bearerWallet resolves the caller's `Authorization: Bearer` wallet token.
func (s *Server) bearerWallet(c *fiber.Ctx) (storage.WalletToken, string, error) {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, "tbw_") || len(token) > 128 {
		return storage.WalletToken{}, "", walletUnauthorized("Missing wallet token (send Authorization: Bearer tbw_…)")
	}
	t, err := s.deps.Wallets.Lookup(c.UserContext(), token)
	if errors.Is(err, storage.ErrWalletTokenInvalid) {
		return storage.WalletToken{}, "", walletUnauthorized("Wallet token unknown, expired or revoked")
	}
	return t, token, err
}

func walletUnauthorized(detail string) *HTTPError {
	return &HTTPError{Status: http.StatusUnauthorized, Detail: detail,
		Headers: map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="wallet"`}}
}

// walletMe tells a token's holder what it stands for.
func (s *Server) walletMe(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	t, _, err := s.bearerWallet(c)
	if err != nil {
		return err
	}
	return c.JSON(tokenBody(t, ""))
}

// revokeRequest is the optional body of POST /auth/wallet/revoke.
type revokeRequest struct {
	All *bool `json:"all"`
}

func (r *revokeRequest) validate(*fieldErrors) {}

// walletRevoke signs the token out, or with {"all": true} every token of its wallet.
func (s *Server) walletRevoke(c *fiber.Ctx) error {
	if s.deps.Payments == nil {
		return errPaymentsOff
	}
	t, plain, err := s.bearerWallet(c)
	if err != nil {
		return err
	}
	body, err := readBody(c, 1<<10)
	if err != nil {
		return err
	}
	var req revokeRequest // the body is optional: none signs out this token only
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSONBody(body, &req); err != nil {
			return err
		}
	}
	if req.All != nil && *req.All {
		err = s.deps.Wallets.RevokeAll(c.UserContext(), t.Owner, s.cfg.WalletTokenTTL)
	} else {
		err = s.deps.Wallets.Revoke(c.UserContext(), plain)
	}
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// clientRate limits what one client address (see clientIP) may do per minute; name keeps the
// budgets apart.
func (s *Server) clientRate(c *fiber.Ctx, name string, perMinute int, detail string) error {
	d, err := s.deps.Limiter.Allow(c.UserContext(), name+":"+s.clientIP(c), perMinute)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &HTTPError{Status: http.StatusTooManyRequests, Detail: detail,
			Headers: map[string]string{"Retry-After": strconv.Itoa(max(1, ceilSeconds(d.RetryAfter)))}}
	}
	return nil
}
