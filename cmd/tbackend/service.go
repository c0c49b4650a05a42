package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/blockfrost/blockfrost-go"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/api"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/objstore"
	"github.com/tbackend/tbackend/workers"
	"github.com/tbackend/tbackend/workers/tokenanalysis"
)

var serviceUsage = map[string]string{
	"api":    "Usage: tbackend api\n\nServes the HTTP api on HTTP_ADDR. Needs REDIS_URL (or Sentinel/Cluster settings).\n",
	"worker": "Usage: tbackend worker\n\nRuns the job workers. Needs REDIS_URL, OPENAI_API_KEY and BLOCKFROST_PROJECT_ID.\nWORKER_CONCURRENCY (32) and WORKER_POLL_INTERVAL (10ms) tune it.\n",
	"dev": "Usage: tbackend dev\n\nRuns api and worker in one process. Whatever is not configured is embedded: an in-memory\n" +
		"Redis when REDIS_URL is unset, the local object store, and emulators of OpenAI and Blockfrost\n" +
		"when their keys are unset. Prints a ready API key on first start.\n",
}

func runService(ctx context.Context, role string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, serviceUsage[role]+envUsage(role)) }
	if help, err := parseFlags(fs, args, stderr); help || err != nil {
		return err
	}
	cfg, err := loadConfig(role, getenv)
	if err != nil {
		return err
	}
	out := newLogWriter(stderr)
	defer out.Close()
	log := newLogger(cfg, out)
	storage.RouteRedisLogs(log)
	rt := &service{cfg: cfg, log: log, keys: storage.NewKeys(""), upstreams: map[string]string{}, reg: newRegistry()}
	defer rt.close()
	// From here on the log is the one place a failure is told: collectors read it as JSON.
	if err := rt.run(ctx, role, stdout); err != nil {
		log.Error(role+" failed", "error", err)
		return loggedError{err}
	}
	return nil
}

// loggedError is a failure already in the log, which main does not print again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// run does the role's work (once the logger is set up).
func (s *service) run(ctx context.Context, role string, stdout io.Writer) error {
	if role == "dev" {
		return s.dev(ctx, stdout)
	}
	if err := s.openRedis(ctx); err != nil {
		return err
	}
	if err := s.openObjects(ctx); err != nil {
		return err
	}
	if err := s.startMetrics(ctx); err != nil {
		return err
	}
	if role == "api" {
		s.upstreams["openai"], s.upstreams["blockfrost"] = modeOf(s.cfg.OpenAIKey), modeOf(s.cfg.BlockfrostID)
		return s.serveAPI(ctx, nil)
	}
	return s.serveWorker(ctx)
}

func modeOf(key string) string {
	if key == "" {
		return "unknown" // this api process has no key: only the workers call upstreams
	}
	return "live"
}

// envUsage lists the variables role reads, wrapped, for its -h.
func envUsage(role string) string {
	var b strings.Builder
	b.WriteString("\nEnvironment (README.md describes each):\n")
	line := " "
	for _, name := range configVars(role) {
		if len(line)+1+len(name) > 100 {
			b.WriteString(line + "\n")
			line = " "
		}
		line += " " + name
	}
	b.WriteString(line + "\n")
	return b.String()
}

// newLogger writes text for a person at a terminal and JSON for collectors (and always with
// LOG_FORMAT=json).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" || cfg.LogFormat == "auto" && isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal) rather than a file or pipe.
func isTerminal(w io.Writer) bool {
	if lw, ok := w.(*logWriter); ok {
		w = lw.out
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// service holds what the roles share.
type service struct {
	cfg       config
	log       *slog.Logger
	keys      storage.Keys
	rdb       redis.UniversalClient
	upstreams map[string]string
	reg       *prometheus.Registry
	objects   *objstore.Store
	closers   []func()
	emu       devChain   // dev's emulated chain; nil on a real one
	wallet    *devWallet // dev's funded wallet; nil when payments cannot be tried
}

// devChain is what dev uses of its emulated chain (the Blockfrost emulator, which only dev.go
// constructs, so the api and worker roles do not depend on emulator packages): an address that
// receives payments, and a faucet for the dev wallet.
type devChain interface {
	Address(label string) string
	Fund(address string, lovelace uint64) (txHash string, err error)
}

func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func (s *service) ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// startMetrics serves METRICS_ADDR, when set, until ctx ends or the service closes. The service
// owns the listener: close stops it and waits for it, before Redis (which /health pings) closes.
func (s *service) startMetrics(ctx context.Context) error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return &configError{"METRICS_ADDR", err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serveMetrics(ctx, ln, s.reg, s.ping); err != nil {
			s.log.Error("metrics listener", "error", err)
		}
	}()
	s.closers = append(s.closers, func() { cancel(); <-done })
	return nil
}

func (s *service) openRedis(ctx context.Context) error {
	rdb, err := storage.OpenRedis(ctx, s.cfg.Redis)
	if err != nil {
		return err
	}
	s.rdb = rdb
	s.closers = append(s.closers, func() { _ = rdb.Close() })
	return nil
}

// capOf turns a KEY_MAX_* count (0: no cap) into the api's form (0: its default, < 0: no cap).
func capOf(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// serveAPI answers HTTP until ctx ends. ready, when set, receives the bound address.
func (s *service) serveAPI(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return &configError{"HTTP_ADDR", err.Error()}
	}
	// A deep queue for the one subscriber of job notices (a burst must not drop them); stream
	// relays ask for short ones of their own.
	hub := storage.NewHub(s.rdb, 4096)
	defer hub.Close()
	jc := jobs.NewClient(asynq.NewClientFromRedisClient(s.rdb), asynq.NewInspectorFromRedisClient(s.rdb),
		s.keys.Notices(jobs.NewID()))
	// Notices keep flowing while in-flight requests finish after ctx ends.
	noticeCtx, stopNotices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotices()
	if err := jc.Start(noticeCtx, hub); err != nil {
		return err
	}
	beat := s.cfg.JobHeartbeat
	jc.WatchLiveness(s.liveness(), 2*beat, beat)
	dashboard, err := newQueuesDashboard(s.cfg)
	if err != nil {
		return err
	}
	registerQueueMetrics(s.reg, s.rdb)
	// Calls are tallied in process and flushed every second; the last flush runs after the
	// server has stopped, so a stopping api loses none.
	usage := storage.NewUsage(s.rdb, s.keys)
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() { usage.Run(usageCtx, time.Second, s.log); close(usageDone) }()
	defer func() { stopUsage(); <-usageDone }()
	srv, err := api.NewServer(api.Config{
		Version: version, Commit: commit, PublicBaseURL: s.cfg.PublicBaseURL, Upstreams: s.upstreams,
		AdminQueuesWrite: s.cfg.AdminQueuesWrite, Network: s.cfg.Network,
		ImageModel: s.cfg.ImageModel, ImageURLTTL: s.cfg.ImageURLTTL,
		TrustedProxies: s.cfg.TrustedProxies,
		MaxJobs:        capOf(s.cfg.KeyMaxJobs), MaxStreams: capOf(s.cfg.KeyMaxStreams),
	}, api.Deps{
		Metrics:     api.NewMetrics(s.reg),
		Queues:      dashboard,
		Hub:         hub,
		Frames:      s.frames(),
		Idempotency: storage.NewIdempotency(s.rdb, s.keys, 24*time.Hour),
		Tokens:      s.apiTokenCache(),
		Payments:    s.cfg.Pay,
		Ledger:      ledger.New(s.rdb, s.keys, time.Now),
		Wallets:     storage.NewWalletAuth(s.rdb, s.keys),
		Keys:        storage.NewKeyStore(s.rdb, s.keys, 2*time.Second),
		Limiter:     storage.NewRateLimiter(s.rdb, s.keys),
		Usage:       usage,
		Jobs:        jc,
		RedisPing:   s.ping,
		Objects:     s.objects,
		Log:         s.log,
	})
	if err != nil {
		return err
	}
	s.log.Info("api listening", "addr", ln.Addr().String(), "version", version)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	err = srv.Serve(ctx, ln)
	s.log.Info("api stopped")
	return err
}

// serveWorker processes jobs until ctx ends, then drains.
func (s *service) serveWorker(ctx context.Context) error {
	host, _ := os.Hostname()
	metrics := workers.NewMetrics(s.reg)
	w := workers.NewServer(s.rdb, workers.Config{
		Concurrency: s.cfg.WorkerConcurrency, PollInterval: s.cfg.WorkerPollInterval,
		NoticePrefix: s.keys.Notices(""), Metrics: metrics,
		Liveness: s.liveness(), BeatEvery: s.cfg.JobHeartbeat, ShutdownTimeout: s.cfg.WorkerShutdown,
	}, storage.NewPublisher(s.rdb), s.log)
	w.Handle(jobs.TypePing, workers.Ping{Worker: fmt.Sprintf("%s/%d", host, os.Getpid())}.Handle)
	chat := s.chatHandler(metrics)
	chat.Interrupted = w.Stopping
	w.HandleLong(jobs.TypeChat, chat.Handle)
	// One Blockfrost client per process: its rate limiter is the process's share of the quota.
	chain := workers.NewBlockfrost(workers.BlockfrostConfig{URL: s.cfg.BlockfrostURL, ProjectID: s.cfg.BlockfrostID, Retries: 3}, metrics)
	w.Handle(jobs.TypeTokenAnalysis, s.tokenHandler(chain, metrics).Handle)
	// Invoices carry their own terms: the worker needs no payments configuration to check them.
	w.Handle(jobs.TypePaymentConfirm, (&workers.Payments{Chain: chain, Network: s.cfg.Network,
		Ledger: ledger.New(s.rdb, s.keys, time.Now)}).Handle)
	s.handleImages(w, metrics)
	sch, err := s.scheduleRetention(w)
	if err != nil {
		return err
	}
	if sch != nil {
		defer sch.Shutdown()
	}
	s.log.Info("worker started", "concurrency", s.cfg.WorkerConcurrency, "poll_interval", s.cfg.WorkerPollInterval.String())
	err = w.Run(ctx)
	s.log.Info("worker stopped")
	return err
}

// liveness holds running jobs' heartbeats: three missed beats and a job counts as lost.
func (s *service) liveness() *storage.Liveness {
	return storage.NewLiveness(s.rdb, s.keys, 3*s.cfg.JobHeartbeat)
}

// frames is where chat streams are kept for replay.
func (s *service) frames() *storage.Frames {
	return storage.NewFrames(s.rdb, s.keys, jobs.StreamTTL, 10000)
}

// chatHandler wires the chat job to the LLM, the session history and the stream relay.
func (s *service) chatHandler(m *workers.Metrics) *workers.Chat {
	c := s.cfg.Chat
	provider := "openai"
	if s.upstreams["openai"] == "emulated" {
		provider = "emulator"
	}
	return &workers.Chat{
		LLM: workers.NewOpenAI(s.cfg.OpenAIBaseURL, s.cfg.OpenAIKey, m), Model: s.cfg.ChatModel, Provider: provider,
		Sessions: storage.NewSessions(s.rdb, s.keys, 24*time.Hour, 200), Frames: s.frames(),
		Images: s.objects, Usage: storage.NewUsage(s.rdb, s.keys),
		FirstToken: c.FirstToken, Idle: c.Idle, Request: c.Request, Retries: c.Retries, ContextTokens: c.ContextTokens,
		Log: s.log,
	}
}

// Hot token answers are kept in the api's memory this long (a refreshed answer reaches every api
// within it) and up to this many bytes.
const (
	localTokenTTL   = time.Second
	localTokenBytes = 8 << 20
)

// apiTokenCache is the api's token cache, with an in-process copy of the hot answers.
func (s *service) apiTokenCache() *storage.TokenCache {
	c := storage.NewTokenCache(s.rdb, s.keys)
	c.KeepLocal(localTokenTTL, localTokenBytes)
	return c
}

// tokenHandler wires token analysis to Blockfrost, its caches and the LLM (V1 narrative).
func (s *service) tokenHandler(chain blockfrost.APIClient, m *workers.Metrics) *tokenanalysis.Job {
	cache := storage.NewTokenCache(s.rdb, s.keys)
	return &tokenanalysis.Job{
		Analyzer: &tokenanalysis.Analyzer{Chain: chain, Network: s.cfg.Network,
			MaxPages: s.cfg.Tokens.HolderPages, Budget: s.cfg.Tokens.Budget,
			Parts: tokenanalysis.StoreParts{Cache: cache, Network: s.cfg.Network.AnalysisName()}},
		Cache: cache, LLM: workers.NewOpenAI(s.cfg.OpenAIBaseURL, s.cfg.OpenAIKey, m), Model: s.cfg.ChatModel,
		Log: s.log,
	}
}

// both runs the api and the worker until ctx ends or one of them fails.
func (s *service) both(ctx context.Context, ready chan<- string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, f := range []func(context.Context) error{
		func(ctx context.Context) error { return s.serveAPI(ctx, ready) },
		s.serveWorker,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx)
			cancel()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
