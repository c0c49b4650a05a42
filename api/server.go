// Package api is the HTTP face of the service: fiber app, routes, authentication, rate limits,
// validation, the OpenAPI document, and the translation of errors into FastAPI-shaped bodies.
// fiber never appears outside this package.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/objstore"
)

// Config is the api's own settings.
type Config struct {
	Version, Commit string
	// PublicBaseURL is how clients reach us; empty means "derive it from the request".
	PublicBaseURL string
	// SyncWait bounds how long a synchronous request waits for its job before it gets a job id.
	SyncWait time.Duration
	// Upstreams reports each upstream's mode ("emulated" or "live") on /health.
	Upstreams map[string]string
	// ShutdownTimeout bounds how long in-flight requests may take to finish on shutdown.
	ShutdownTimeout time.Duration
	// AdminQueuesWrite lets admins change queues (retry, delete, pause) in the dashboard.
	AdminQueuesWrite bool
	// Heartbeat is the interval of `: ping` comments on idle event streams.
	Heartbeat time.Duration
	// Network is the Cardano network the workers analyse (default mainnet).
	Network cardano.Network
	// ImageModel is the model of image generation and edits (requests are validated for it);
	// ImageURLTTL is how long the URLs of image results stay valid.
	ImageModel  string
	ImageURLTTL time.Duration
	// WalletTokenTTL is the lifetime of a wallet sign-in's bearer token.
	WalletTokenTTL time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For hops name the client (clientIP).
	TrustedProxies []netip.Prefix
	// MaxJobs and MaxStreams cap one caller's jobs in flight and open streams, unless its key
	// has caps of its own: 0 is the default (16 and 8), a negative value no cap.
	MaxJobs, MaxStreams int
}

// Deps are the api's collaborators.
type Deps struct {
	Keys      *storage.KeyStore
	Limiter   *storage.RateLimiter
	Usage     *storage.Usage
	Jobs      *jobs.Client
	RedisPing func(ctx context.Context) error
	Objects   *objstore.Store
	Log       *slog.Logger
	// Metrics, when set, records HTTP metrics and serves /metrics (admin scope).
	Metrics *Metrics
	// Queues is the asynqmon dashboard, mounted under /admin/queues (admin scope).
	Queues http.Handler
	// Hub is the process's shared pub/sub connection (chat streams listen on it).
	Hub *storage.Hub
	// Frames holds chat stream frames for replay; Idempotency maps request ids to jobs.
	Frames      *storage.Frames
	Idempotency *storage.Idempotency
	// Tokens is the token-analysis answer cache the workers fill.
	Tokens *storage.TokenCache
	// Payments, when set, lets callers without an api-key pay per call (Ledger holds the money).
	Payments *payments.Config
	Ledger   *ledger.Ledger
	// Wallets keeps wallet sign-in challenges and tokens (used when Payments is set).
	Wallets *storage.WalletAuth
}

// Server is the api.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	app  *fiber.App
	spec []byte // the OpenAPI document as JSON
	now  func() time.Time

	healthCache healthCache

	// stop ends when the api begins to stop, waits a little later (see stopping.go).
	stop, waits     context.Context
	halt, haltWaits context.CancelFunc
}

// bodyReadAhead is fiber's BodyLimit. With StreamRequestBody, a body larger than this reaches the
// handler as a stream after fasthttp has read only its first ~8 KiB; every route reads bodies
// through bodyStream (readBody, or the image routes' streaming readers), which applies the
// route's own limit before reading further.
const bodyReadAhead = 1 << 20

// NewServer builds the api.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	if cfg.Network == "" {
		cfg.Network = cardano.Mainnet
	}
	if cfg.SyncWait <= 0 {
		cfg.SyncWait = 5 * time.Minute
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.ImageModel == "" {
		cfg.ImageModel = "gpt-image-1"
	}
	if cfg.ImageURLTTL <= 0 {
		cfg.ImageURLTTL = time.Hour
	}
	if cfg.WalletTokenTTL <= 0 {
		cfg.WalletTokenTTL = 24 * time.Hour
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = defaultMaxJobs
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = defaultMaxStreams
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	spec, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, spec: spec, now: time.Now}
	s.stop, s.halt = context.WithCancel(context.Background())
	s.waits, s.haltWaits = context.WithCancel(context.Background())
	s.app = fiber.New(fiber.Config{
		AppName:               "tbackend",
		DisableStartupMessage: true,
		StreamRequestBody:     true,
		// Multipart bodies are the image routes' to read, part by part as they stream in;
		// fasthttp would otherwise parse them whole first (spilling files to temp storage).
		DisablePreParseMultipartForm: true,
		// Values read from a request (headers, params, method) are copies, not views into
		// fasthttp's reused buffers: they outlive the request in metrics, jobs and goroutines.
		Immutable:    true,
		BodyLimit:    bodyReadAhead,
		ReadTimeout:  60 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorHandler: s.writeError,
		JSONEncoder:  marshalJSON,
	})
	s.routes()
	return s, nil
}

// Serve answers requests on ln until ctx ends, then stops accepting connections and lets
// in-flight requests finish (bounded by the shutdown timeout). Nothing in flight outlives the
// start of the stop by much: streams end with a frame to resume after, synchronous waits answer
// with their job's id a little later (beginStop), and idle connections are closed (keep-alive
// ones by fasthttp, never used ones by freshListener).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	fl := newFreshListener(ln)
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(fl) }()
	select {
	case err := <-errc:
		s.beginStop(fl)()
		return err
	case <-ctx.Done():
	}
	defer s.beginStop(fl)()
	if err := s.app.ShutdownWithTimeout(s.cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("api: graceful stop ran past its %s deadline: %w", s.cfg.ShutdownTimeout, err)
	}
	return <-errc
}
