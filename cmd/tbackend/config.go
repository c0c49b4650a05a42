package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage"
)

// config is every setting, read from the environment names in docs/design.md and nowhere else.
type config struct {
	HTTPAddr      string
	Redis         storage.RedisConfig
	OpenAIKey     string
	OpenAIBaseURL string
	ChatModel     string
	ImageModel    string
	BlockfrostID  string
	BlockfrostURL string
	Network       cardano.Network
	StorageDir    string
	S3            s3Config
	PublicBaseURL string
	Payments      string           // PAYMENTS_CONFIG, the file's path
	Pay           *payments.Config // its content; nil when payments are off
	LogLevel      slog.Level
	LogFormat     string

	WorkerConcurrency  int
	WorkerPollInterval time.Duration
	MetricsAddr        string
	AdminQueuesWrite   bool
	FilesSigningKey    string
	ObjectRetention    time.Duration
	Chat               chatConfig
	Tokens             tokenConfig
	// ImageURLTTL is how long the signed or presigned URLs of image results stay valid.
	ImageURLTTL time.Duration
	// DevWallet is where `tbackend dev` keeps the signing key of its funded wallet.
	DevWallet string
	// TrustedProxies are the proxies whose X-Forwarded-For hops name the client (TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix

	// JobHeartbeat is how often workers beat for their running jobs; a job whose beats stop is
	// noticed as lost within about six of them (storage.Liveness, jobs.WatchLiveness).
	JobHeartbeat time.Duration
	// KeyMaxJobs and KeyMaxStreams cap the jobs in flight and the open streams of one caller
	// (an API key without its own caps, or a paid caller's owner); 0: no cap.
	KeyMaxJobs, KeyMaxStreams int
	// WorkerShutdown is how long a stopping worker lets running jobs finish before it hands them
	// back to their queue.
	WorkerShutdown time.Duration
}

// tokenConfig bounds one token analysis's holder scan.
type tokenConfig struct {
	HolderPages int           // pages of 100 holdings read at most
	Budget      time.Duration // time for all chain reads of one analysis
}

// chatConfig tunes calls to the LLM.
type chatConfig struct {
	FirstToken, Idle, Request time.Duration
	Retries, ContextTokens    int
}

type s3Config struct {
	Endpoint, AccessKey, SecretKey, Bucket, Region string
	UseSSL                                         bool
	// PublicURL is the base URL clients reach the bucket's endpoint by, when it is not the
	// internal endpoint: presigned URLs are signed for that host.
	PublicURL string
}

// configError names the variable, so start-up fails with one clear line.
type configError struct{ name, problem string }

func (e *configError) Error() string { return e.name + ": " + e.problem }

// loadConfig reads the environment for a role ("api", "worker", "dev" or "keys").
func loadConfig(role string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := config{
		HTTPAddr:      env("HTTP_ADDR", defaultHTTPAddr(role)),
		OpenAIKey:     env("OPENAI_API_KEY", ""),
		OpenAIBaseURL: env("OPENAI_BASE_URL", "https://api.openai.com/v1"),
		ChatModel:     env("OPENAI_CHAT_MODEL", "gpt-4o-mini"),
		ImageModel:    env("OPENAI_IMAGE_MODEL", "gpt-image-1"),
		BlockfrostID:  env("BLOCKFROST_PROJECT_ID", ""),
		StorageDir:    env("STORAGE_DIR", "./data/objects"),
		PublicBaseURL: env("PUBLIC_BASE_URL", ""),
		Payments:      env("PAYMENTS_CONFIG", ""),
		LogFormat:     env("LOG_FORMAT", "auto"),
		Redis: storage.RedisConfig{
			URL:           env("REDIS_URL", ""),
			SentinelAddrs: list(env("REDIS_SENTINEL_ADDRS", "")),
			MasterName:    env("REDIS_MASTER_NAME", ""),
			ClusterAddrs:  list(env("REDIS_CLUSTER_ADDRS", "")),
		},
		S3: s3Config{
			Endpoint: env("S3_ENDPOINT", ""), AccessKey: env("S3_ACCESS_KEY", ""),
			SecretKey: env("S3_SECRET_KEY", ""), Bucket: env("S3_BUCKET", "tbackend"),
			Region: env("S3_REGION", "us-east-1"), PublicURL: env("S3_PUBLIC_URL", env("PUBLIC_BASE_URL", "")),
		},
		FilesSigningKey: env("FILES_SIGNING_KEY", ""),
	}
	if role == "dev" {
		cfg.DevWallet = env("DEV_WALLET", "./data/dev-wallet.skey")
	}
	checks := []func() error{
		func() error { return checkAddr("HTTP_ADDR", cfg.HTTPAddr) },
		func() error { return checkURL("OPENAI_BASE_URL", cfg.OpenAIBaseURL) },
		func() error { return checkURL("PUBLIC_BASE_URL", cfg.PublicBaseURL) },
		func() (err error) {
			cfg.TrustedProxies, err = cidrs("TRUSTED_PROXIES", env("TRUSTED_PROXIES", ""))
			return err
		},
		func() (err error) { cfg.Network, err = network(env("CARDANO_NETWORK", "mainnet")); return err },
		func() error { return oneOf("LOG_FORMAT", cfg.LogFormat, "json", "text", "auto") },
		func() (err error) { cfg.LogLevel, err = logLevel(env("LOG_LEVEL", "info")); return err },
		func() (err error) { cfg.S3.UseSSL, err = boolean("S3_USE_SSL", env("S3_USE_SSL", "false")); return err },
		func() error { return checkS3(cfg.S3) },
		func() (err error) {
			cfg.WorkerConcurrency, err = intRange("WORKER_CONCURRENCY", env("WORKER_CONCURRENCY", "32"), 1, 10000)
			return err
		},
		func() (err error) {
			cfg.WorkerPollInterval, err = duration("WORKER_POLL_INTERVAL", env("WORKER_POLL_INTERVAL", "10ms"), time.Millisecond, 5*time.Second)
			return err
		},
		func() (err error) {
			cfg.Pay, err = loadPayments(cfg.Payments, cfg.Network)
			return err
		},
		func() error {
			if cfg.MetricsAddr = env("METRICS_ADDR", ""); cfg.MetricsAddr != "" {
				return checkAddr("METRICS_ADDR", cfg.MetricsAddr)
			}
			return nil
		},
		func() (err error) {
			cfg.WorkerShutdown, err = duration("WORKER_SHUTDOWN_TIMEOUT", env("WORKER_SHUTDOWN_TIMEOUT", "25s"), time.Second, 10*time.Minute)
			return err
		},
		func() (err error) {
			cfg.JobHeartbeat, err = duration("JOB_HEARTBEAT_INTERVAL", env("JOB_HEARTBEAT_INTERVAL", "1s"), 50*time.Millisecond, 10*time.Second)
			return err
		},
		func() (err error) {
			cfg.KeyMaxJobs, err = intRange("KEY_MAX_JOBS", env("KEY_MAX_JOBS", "16"), 0, 100_000)
			return err
		},
		func() (err error) {
			cfg.KeyMaxStreams, err = intRange("KEY_MAX_STREAMS", env("KEY_MAX_STREAMS", "8"), 0, 100_000)
			return err
		},
		func() (err error) {
			cfg.AdminQueuesWrite, err = boolean("ADMIN_QUEUES_WRITE", env("ADMIN_QUEUES_WRITE", "false"))
			return err
		},
		func() error { return checkURL("S3_PUBLIC_URL", cfg.S3.PublicURL) },
		func() (err error) {
			cfg.Chat.FirstToken, err = duration("OPENAI_FIRST_TOKEN_TIMEOUT", env("OPENAI_FIRST_TOKEN_TIMEOUT", "60s"), 100*time.Millisecond, 10*time.Minute)
			return err
		},
		func() (err error) {
			cfg.Chat.Idle, err = duration("OPENAI_IDLE_TIMEOUT", env("OPENAI_IDLE_TIMEOUT", "30s"), 100*time.Millisecond, 10*time.Minute)
			return err
		},
		func() (err error) {
			cfg.Chat.Request, err = duration("OPENAI_REQUEST_TIMEOUT", env("OPENAI_REQUEST_TIMEOUT", "120s"), time.Second, 10*time.Minute)
			return err
		},
		func() (err error) {
			cfg.Chat.Retries, err = intRange("OPENAI_RETRIES", env("OPENAI_RETRIES", "2"), 0, 10)
			return err
		},
		func() (err error) {
			cfg.Chat.ContextTokens, err = intRange("OPENAI_CONTEXT_TOKENS", env("OPENAI_CONTEXT_TOKENS", "128000"), 1024, 10_000_000)
			return err
		},
		func() (err error) {
			cfg.Tokens.HolderPages, err = intRange("TOKEN_HOLDER_PAGES", env("TOKEN_HOLDER_PAGES", "100"), 1, 10_000)
			return err
		},
		func() (err error) {
			cfg.Tokens.Budget, err = duration("TOKEN_ANALYSIS_BUDGET", env("TOKEN_ANALYSIS_BUDGET", "20s"), time.Second, 80*time.Second)
			return err
		},
		func() (err error) {
			cfg.ImageURLTTL, err = duration("IMAGE_URL_TTL", env("IMAGE_URL_TTL", "1h"), time.Minute, 7*24*time.Hour)
			return err
		},
		func() (err error) {
			cfg.ObjectRetention, err = duration("OBJECT_RETENTION", env("OBJECT_RETENTION", "168h"), 0, 10*365*24*time.Hour)
			return err
		},
		func() error {
			if cfg.FilesSigningKey != "" && len(cfg.FilesSigningKey) < 32 {
				return &configError{"FILES_SIGNING_KEY", "must be at least 32 characters (for example: openssl rand -hex 32)"}
			}
			return nil
		},
	}
	cfg.BlockfrostURL = env("BLOCKFROST_URL", defaultBlockfrostURL(cfg.Network))
	checks = append(checks, func() error { return checkURL("BLOCKFROST_URL", cfg.BlockfrostURL) })
	for _, c := range checks {
		if err := c(); err != nil {
			return config{}, err
		}
	}
	return cfg, requireForRole(role, cfg)
}

// requireForRole: the dev role embeds whatever is missing; the others need the real thing.
func requireForRole(role string, cfg config) error {
	if role == "dev" {
		return nil
	}
	r := cfg.Redis
	if !r.Configured() {
		return &configError{"REDIS_URL", "required (or REDIS_SENTINEL_ADDRS with REDIS_MASTER_NAME, or REDIS_CLUSTER_ADDRS); `tbackend dev` embeds one"}
	}
	if _, err := storage.RedisOptions(r); err != nil {
		return err
	}
	if cfg.S3.Endpoint == "" && cfg.FilesSigningKey == "" && (role == "api" || role == "worker") {
		return &configError{"FILES_SIGNING_KEY", "required with the local object store (S3_ENDPOINT unset): api and worker sign and check file URLs with it"}
	}
	if role == "worker" {
		if cfg.OpenAIKey == "" {
			return &configError{"OPENAI_API_KEY", "required by the worker (any OpenAI-compatible endpoint; see OPENAI_BASE_URL)"}
		}
		if cfg.BlockfrostID == "" {
			return &configError{"BLOCKFROST_PROJECT_ID", "required by the worker"}
		}
	}
	return nil
}

// defaultHTTPAddr: dev hands out an all-scope key, so it listens on loopback only unless told.
func defaultHTTPAddr(role string) string {
	if role == "dev" {
		return "127.0.0.1:8080"
	}
	return ":8080"
}

// configVars lists the environment variables loadConfig reads for role, in reading order: the
// help text is derived from the code that reads them, so it cannot drift.
func configVars(role string) []string {
	var names []string
	seen := map[string]bool{}
	_, _ = loadConfig(role, func(name string) string { // all unset: every default is valid, so every check runs
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return ""
	})
	return names
}

// paymentsOff as PAYMENTS_CONFIG turns payments off, also in dev.
const paymentsOff = "off"

func defaultBlockfrostURL(network cardano.Network) string {
	return "https://cardano-" + network.String() + ".blockfrost.io/api/v0"
}

// network reads CARDANO_NETWORK.
func network(v string) (cardano.Network, error) {
	n, err := cardano.ParseNetwork(v)
	if err != nil {
		return n, oneOf("CARDANO_NETWORK", v, string(cardano.Mainnet), string(cardano.Preprod), string(cardano.Preview))
	}
	return n, nil
}

// cidrs parses a comma-separated list of CIDRs (a bare address is its own /32 or /128).
func cidrs(name, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range list(v) {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, &configError{name, fmt.Sprintf("%q is not a CIDR like 10.0.0.0/8 or an IP address", c)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkAddr(name, v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return &configError{name, fmt.Sprintf("%q is not a listen address like :8080 or 127.0.0.1:8080", v)}
	}
	return nil
}

func checkURL(name, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &configError{name, fmt.Sprintf("%q is not an absolute http(s) URL", v)}
	}
	return nil
}

func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return &configError{name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))}
}

func logLevel(v string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return 0, &configError{"LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", v)}
	}
	return l, nil
}

func boolean(name, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &configError{name, fmt.Sprintf("%q is not true or false", v)}
	}
	return b, nil
}

func intRange(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &configError{name, fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi)}
	}
	return n, nil
}

func duration(name, v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, &configError{name, fmt.Sprintf("%q is not a duration from %s to %s", v, lo, hi)}
	}
	return d, nil
}

func checkS3(s s3Config) error {
	if s.Endpoint == "" {
		return nil
	}
	if strings.Contains(s.Endpoint, "/") {
		return &configError{"S3_ENDPOINT", fmt.Sprintf("%q must be host:port without a scheme (use S3_USE_SSL)", s.Endpoint)}
	}
	if s.AccessKey == "" {
		return &configError{"S3_ACCESS_KEY", "required with S3_ENDPOINT"}
	}
	if s.SecretKey == "" {
		return &configError{"S3_SECRET_KEY", "required with S3_ENDPOINT"}
	}
	return nil
}

// loadPayments reads PAYMENTS_CONFIG (nil when unset, or "off": dev's way to turn off its
// embedded configuration). Payments are verified through the Blockfrost project of
// CARDANO_NETWORK, so both must name the same network.
func loadPayments(path string, network cardano.Network) (*payments.Config, error) {
	if path == "" || path == paymentsOff {
		return nil, nil
	}
	pc, err := payments.Load(path)
	if err != nil {
		return nil, &configError{"PAYMENTS_CONFIG", err.Error()}
	}
	if pc.Network != network {
		return nil, &configError{"PAYMENTS_CONFIG", fmt.Sprintf("network %s differs from CARDANO_NETWORK %s (payments are checked on that chain)", pc.Network, network)}
	}
	return pc, nil
}
