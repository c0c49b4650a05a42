package api

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// Who a paid call belongs to. Headers name a partner and a wallet; only proofs make them the
// caller's: a partner key (an API key bound to the partner), a wallet token (a signed sign-in
// challenge), or the chain (the key that signed the paying transaction's input).

// errPartnerKeyRequired: the partner's terms are cheaper than the list price, so only the
// partner's own key may ask for them.
var errPartnerKeyRequired = &HTTPError{Status: http.StatusForbidden, Detail: map[string]string{
	"error":   "partner_key_required",
	"message": "this partner's terms lower the price: send the partner's API key (api-key) to use them, or call without X-Partner",
}}

// errWalletProofRequired: the wallet has prepaid credits, and only its holder (or its partner,
// with the partner key) may spend them.
var errWalletProofRequired = &HTTPError{Status: http.StatusUnauthorized,
	Headers: map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="wallet"`},
	Detail: map[string]string{
		"error": "wallet_proof_required",
		"message": "spending a wallet's prepaid credits needs proof that it is yours: a wallet token " +
			"(Authorization: Bearer, from POST /auth/wallet/verify), or the partner's API key",
	}}

// partnerOf settles which partner terms a call gets. A partner key names its own partner
// (X-Partner may repeat it, not name another); anyone else may name a partner only when its
// terms do not lower what the caller pays.
func (s *Server) partnerOf(c *fiber.Ctx, cl *caller, route string, params payments.Params) (string, error) {
	named := c.Get("X-Partner")
	if cl != nil && cl.key.Partner != "" {
		if named != "" && named != cl.key.Partner {
			return "", httpError(http.StatusForbidden, "X-Partner names another partner than the partner key's")
		}
		return cl.key.Partner, nil
	}
	if named == "" {
		return "", nil
	}
	if _, ok := s.deps.Payments.Partners[named]; !ok {
		return "", httpError(http.StatusBadRequest, "Unknown partner "+quoteClip(named))
	}
	cheaper, err := s.deps.Payments.Cheaper(route, named, params)
	if err != nil {
		return "", err
	}
	if cheaper {
		return "", errPartnerKeyRequired
	}
	return named, nil
}

// walletProven reports whether the caller proved wallet (canonical bech32) for partner's
// credits: the partner's key vouching for its user, or a wallet token for the wallet's payment
// key (scoped to this partner, or to none).
func (s *Server) walletProven(c *fiber.Ctx, cl *caller, partner, wallet string) (bool, error) {
	if cl != nil && cl.key.Partner != "" {
		return cl.key.Partner == partner, nil
	}
	if c.Get(fiber.HeaderAuthorization) == "" {
		return false, nil
	}
	tok, _, err := s.bearerWallet(c)
	if err != nil {
		return false, err
	}
	cred, ok := payments.PaymentKey(wallet)
	return ok && tok.Credential == cred.Hex() && (tok.Partner == "" || tok.Partner == partner), nil
}

// walletOwner is the owner id of a wallet address: its payment key credential, the same whether
// the wallet signed in, paid, or was vouched for by its partner.
func walletOwner(wallet string) string {
	if cred, ok := payments.PaymentKey(wallet); ok {
		return storage.WalletOwner(cred.Hex())
	}
	return "wallet-address:" + wallet
}

// invoiceOwner is the owner of a call paid by an invoice: whoever signed its paying input, so
// the same wallet paying again continues the same sessions; the invoice itself when the chain
// named nobody.
func invoiceOwner(inv payments.Invoice) string {
	if inv.Payer != "" {
		return storage.WalletOwner(inv.Payer)
	}
	return "invoice:" + inv.ID
}

// creditsWithoutProof answers a prepaid call that proved no wallet: the purchase invoice when the
// wallet has nothing to spend (buying needs no proof: the payment itself must come from the
// wallet), a refusal when it has credits.
func (s *Server) creditsWithoutProof(c *fiber.Ctx, route string, p payer, params payments.Params) error {
	b, err := s.deps.Ledger.Balance(c.UserContext(), p.partner, creditAccount(p.wallet, route))
	if err != nil {
		return err
	}
	if b.Credits > 0 {
		return errWalletProofRequired
	}
	return s.offerInvoice(c, route, p, params, "")
}

func quoteClip(s string) string { return `"` + clipText(s, 64) + `"` }

// walletRPM is the per-minute rate limit of a wallet token's holder on the routes it may use.
const walletRPM = 600

// requireCaller is requireKey that also admits a wallet token (Authorization: Bearer, when
// payments are on): its holder reaches what its wallet owns, such as the job of a paid call that
// outlived its wait, or a paid stream to resume.
func (s *Server) requireCaller(scope string) fiber.Handler {
	keyed := s.requireKey(scope)
	return func(c *fiber.Ctx) error {
		if c.Get("api-key") != "" || s.deps.Payments == nil || c.Get(fiber.HeaderAuthorization) == "" {
			return keyed(c)
		}
		tok, _, err := s.bearerWallet(c)
		if err != nil {
			return err
		}
		if err := s.rateLimit(c, storage.APIKey{ID: tok.ID, RPM: walletRPM}); err != nil {
			return err
		}
		c.Locals(localCaller, &caller{owner: tok.Owner})
		return c.Next()
	}
}
