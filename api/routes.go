package api

import (
	"github.com/gofiber/fiber/v2/middleware/cors"

	"github.com/tbackend/tbackend/storage"
)

// routeInfo describes one route for GET /api.
type routeInfo struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Auth    string `json:"auth"`
	Summary string `json:"summary"`
}

// surface is the whole HTTP surface, in one list. The OpenAPI document must describe exactly these
// routes (a test holds them together).
func (s *Server) surface() []routeInfo {
	return []routeInfo{
		{"GET", "/health", "none", "Service health: Redis, object store, workers, upstream modes"},
		{"GET", "/api", "none", "Service name, version and this route list"},
		{"GET", "/openapi.json", "none", "The OpenAPI document"},
		{"GET", "/docs", "none", "Swagger UI for the OpenAPI document"},
		{"GET", "/usage", "api-key", "Usage of the calling key"},
		{"POST", "/chat", "api-key (chat)", "Chat with the LLM: sessions, structured output, vision, SSE streaming"},
		{"GET", "/chat/stream/{job_id}", "api-key (chat), or wallet token", "Resume a chat stream after Last-Event-ID"},
		{"POST", "/token-analysis", "api-key (token-analysis)", "Cardano token facts, risk score and narrative (cached)"},
		{"POST", "/images/generate", "api-key (images)", "Generate images from a prompt; results in object storage, as URLs (and base64 on request)"},
		{"POST", "/images/edit", "api-key (images)", "Edit images sent as base64 in JSON, with an optional mask"},
		{"POST", "/images/upload-and-edit", "api-key (images)", "Edit images uploaded as multipart/form-data files, with an optional mask"},
		{"POST", "/images/variations", "api-key (images:variations)", "Variations of one image (multipart file or JSON base64); API key only"},
		{"GET", "/jobs/{job_id}", "api-key, or wallet token", "Status and result of a job the caller created"},
		{"POST", "/admin/ping", "api-key (admin)", "Round trip through the job queue"},
		{"GET", "/admin/queues", "api-key (admin)", "Queue dashboard (asynqmon); browsers may send the key as the Basic auth password"},
		{"GET", "/metrics", "api-key (admin)", "Prometheus metrics"},
		{"GET", "/payments/config", "none", "Prices, asset, network and partner batch sizes of pay-per-call"},
		{"POST", "/payments/invoice", "none", "Open an invoice without a failing call first (e.g. to prepay a batch)"},
		{"POST", "/payments/submit", "none", "Submit a signed transaction paying an invoice, in the body"},
		{"GET", "/payments/status/{invoice_id}", "none", "An invoice's status"},
		{"GET", "/payments/balance", "none", "Prepaid credits of a partner's wallet"},
		{"POST", "/auth/wallet/challenge", "none", "A single-use message for a wallet to sign (CIP-30 signData)"},
		{"POST", "/auth/wallet/verify", "none", "Exchange a signed challenge for a bearer wallet token"},
		{"GET", "/auth/wallet/me", "wallet token", "What the bearer wallet token stands for"},
		{"POST", "/auth/wallet/revoke", "wallet token", "Sign out this token, or every token of its wallet"},
		{"GET", "/files/{key}", "signed URL", "A stored file (local object store), through a signed expiring URL"},
	}
}

func (s *Server) routes() {
	app := s.app
	app.Use(s.frame)
	app.Use(cors.New(cors.Config{
		AllowOrigins: "*",
		AllowHeaders: "api-key, Authorization, Content-Type, X-Request-Id, X-Invoice-Id, X-Payment, X-Partner, " +
			"X-Wallet-Address, x-bypass-cache, X-API-Version, Prefer, Last-Event-ID, X-Idempotency-Key, X-Chain",
		ExposeHeaders: "X-Request-ID, X-Job-Id, Retry-After, x-ratelimit-limit, x-ratelimit-remaining, " +
			"x-ratelimit-reset, X-Cache, X-Invoice-Id, X-Credits-Remaining, X-Pay-To, X-Amount, X-Asset, X-Chain",
	}))

	app.Get("/health", s.health)
	app.Get("/api", s.apiInfo)
	app.Get("/openapi.json", s.openAPI)
	app.Get("/docs", s.docsPage)
	app.Get("/docs/*", s.docsAsset)

	app.Get("/usage", s.requireKey(""), s.usage)
	app.Post("/chat", s.priced("/chat", storage.ScopeChat), s.chat)
	app.Get("/chat/stream/:job_id", s.requireCaller(storage.ScopeChat), s.chatResume)
	app.Post("/token-analysis", s.priced("/token-analysis", storage.ScopeTokenAnalysis, s.tokenPrefetch), s.tokenAnalysis)
	// Each image route names its gate on its own line: paid access can replace one without the others.
	app.Post("/images/generate", s.priced("/images/generate", storage.ScopeImages), s.imageGenerate)
	app.Post("/images/edit", s.priced("/images/edit", storage.ScopeImages), s.imageEdit)
	app.Post("/images/upload-and-edit", s.priced("/images/upload-and-edit", storage.ScopeImages), s.imageUploadEdit)
	app.Post("/images/variations", s.requireKey(storage.ScopeImageVariations), s.imageVariations)
	app.Get("/jobs/:job_id", s.requireCaller(""), s.jobStatus)
	app.Post("/admin/ping", s.requireKey(storage.ScopeAdmin), s.ping)
	app.Get(queuesPrefix, s.queuesAuth, s.queuesHandler())
	app.All(queuesPrefix+"/*", s.queuesAuth, s.queuesHandler())
	app.Get("/metrics", s.requireKey(storage.ScopeAdmin), s.metricsHandler())
	app.Get("/files/*", s.file)
	app.Get("/payments/config", s.paymentsConfig)
	app.Post("/payments/invoice", s.createInvoice)
	app.Get("/payments/status/:invoice_id", s.paymentStatusRoute)
	app.Post("/payments/submit", s.submitPayment)
	app.Get("/payments/balance", s.paymentBalance)
	app.Post("/auth/wallet/challenge", s.walletChallenge)
	app.Post("/auth/wallet/verify", s.walletVerify)
	app.Get("/auth/wallet/me", s.walletMe)
	app.Post("/auth/wallet/revoke", s.walletRevoke)
}
