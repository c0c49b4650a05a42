package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/storage"
)

// dev runs api and worker in one process, embedding whatever is not configured, and prints a
// ready API key the first time it meets a Redis.
func (s *service) dev(ctx context.Context, stdout io.Writer) error {
	if err := s.embed(); err != nil {
		return err
	}
	if err := s.devPayments(); err != nil {
		return err
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
	ready := make(chan string, 1)
	go func() {
		select {
		case addr := <-ready:
			if err := s.banner(ctx, addr, stdout); err != nil {
				s.log.Error("create the first API key", "error", err)
			}
		case <-ctx.Done():
		}
	}()
	return s.both(ctx, ready)
}

// embed starts in-process stand-ins for unset dependencies, loudly: nothing they hold is real.
func (s *service) embed() error {
	cfg := &s.cfg
	if !cfg.Redis.Configured() {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		s.closers = append(s.closers, mr.Close)
		cfg.Redis.URL = "redis://" + mr.Addr()
		s.log.Warn("REDIS_URL is unset: using an embedded in-memory Redis; nothing survives a restart", "addr", mr.Addr())
	}
	s.upstreams["openai"], s.upstreams["blockfrost"] = "live", "live"
	if cfg.OpenAIKey == "" {
		url, stop, err := openaiemu.New("dev-emulator").Start("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("openai emulator: %w", err)
		}
		s.closers = append(s.closers, stop)
		cfg.OpenAIKey, cfg.OpenAIBaseURL, s.upstreams["openai"] = "dev-emulator", url, "emulated"
		s.log.Warn("OPENAI_API_KEY is unset: chat and images answer from the built-in emulator, not a real model", "url", url)
	}
	if cfg.BlockfrostID == "" {
		network, err := blockfrostemu.ParseNetwork(cfg.Network.String())
		if err != nil {
			return &configError{"CARDANO_NETWORK", err.Error()}
		}
		// A live chain: blocks follow the clock, so submitted payments confirm in dev too.
		emu := blockfrostemu.New("dev-emulator", blockfrostemu.WithNetwork(network), blockfrostemu.WithLiveChain(20*time.Second))
		url, stop, err := emu.Start("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("blockfrost emulator: %w", err)
		}
		s.closers = append(s.closers, stop)
		s.emu = emu
		cfg.BlockfrostID, cfg.BlockfrostURL, s.upstreams["blockfrost"] = "dev-emulator", url, "emulated"
		s.log.Warn("BLOCKFROST_PROJECT_ID is unset: chain data comes from the built-in emulator, not Cardano", "url", url)
	}
	return nil
}

// bootstrapKey creates an all-scope key once per Redis; plain is "" when one was made before.
func (s *service) bootstrapKey(ctx context.Context) (plain string, k storage.APIKey, err error) {
	first, err := s.rdb.SetNX(ctx, s.keys.DevBootstrap(), time.Now().UTC().Format(time.RFC3339), 0).Result()
	if err != nil || !first {
		return "", k, err
	}
	ks := storage.NewKeyStore(s.rdb, s.keys, 0)
	k, plain, err = ks.Create(ctx, storage.NewKeyParams{Name: "dev", Owner: "dev", Scopes: storage.AllScopes(), RPM: 600})
	return plain, k, err
}

// banner prints where dev is, its key (or how to make one), calls to try, and the 402 → pay →
// retry loop as commands to copy.
func (s *service) banner(ctx context.Context, addr string, stdout io.Writer) error {
	plain, k, err := s.bootstrapKey(ctx)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	var b strings.Builder
	fmt.Fprintf(&b, "\nT Backend dev is up at %s (docs: %s/docs)\n", base, base)
	key := plain
	if plain != "" {
		fmt.Fprintf(&b, "API key %s with every scope (shown once): %s\n", k.ID, plain)
	} else {
		key = "YOUR_KEY"
		fmt.Fprintf(&b, "This Redis already had its dev key (shown on its first start). Make another with:\n  %s\n", s.keysCommand())
	}
	fmt.Fprintf(&b, "Try:\n  curl -s -H 'api-key: %s' %s/usage\n", key, base)
	fmt.Fprintf(&b, "  curl -s -H 'api-key: %s' -H 'Content-Type: application/json' -d '%s' %s/chat\n", key, devChatBody, base)
	s.payLoop(&b, base)
	_, err = fmt.Fprintln(stdout, b.String())
	return err
}

// devChatBody is the /chat call the banner's examples make.
const devChatBody = `{"message":"Hello from dev"}`

// payLoop prints the pay-per-call loop with the dev wallet, when there is one.
func (s *service) payLoop(b *strings.Builder, base string) {
	w := s.wallet
	if w == nil || s.cfg.Pay == nil {
		return
	}
	price, priced := s.cfg.Pay.Prices["/chat"]
	if !priced {
		return
	}
	saved, headers := besideFile(w.path, "402.json"), besideFile(w.path, "paid.headers")
	pay := fmt.Sprintf("%s pay --from-402 %s --skey %s --blockfrost-url %s --blockfrost-project %s",
		selfCommand(), saved, w.path, s.cfg.BlockfrostURL, s.cfg.BlockfrostID)
	fmt.Fprintf(b, "\nOr pay per call (%s lovelace for /chat) from the dev wallet %s\n", strconv.FormatUint(price, 10), w.address)
	fmt.Fprintf(b, "(%d ADA on the emulated chain, signing key in %s):\n", devWalletLovelace/1_000_000, w.path)
	fmt.Fprintf(b, "  1. curl -s -o %s -H 'Content-Type: application/json' -d '%s' %s/chat\n", saved, devChatBody, base)
	fmt.Fprintf(b, "  2. %s > %s\n", pay, headers)
	fmt.Fprintf(b, "  3. curl -s -H @%s -H 'Content-Type: application/json' -d '%s' %s/chat\n", headers, devChatBody, base)
	fmt.Fprintf(b, "  (or 2 and 3 in one: %s --retry --api %s --route /chat --body '%s')\n", pay, base, devChatBody)
}

// keysCommand is the command that makes an all-scope key on this service's Redis.
func (s *service) keysCommand() string {
	env := ""
	if u := s.cfg.Redis.URL; u != "" {
		if p, err := url.Parse(u); err == nil {
			u = p.Redacted() // the password stays out of the terminal's scrollback
		}
		env = "REDIS_URL='" + u + "' "
	}
	return env + selfCommand() + " keys create --name dev --scopes all"
}

// selfCommand is how to run this binary again: `go run ./cmd/tbackend` under `go run` (whose
// binary is deleted on exit), else as it was started (make dev: ./bin/tbackend, from the same
// directory the banner's other paths are relative to).
func selfCommand() string {
	if exe, err := os.Executable(); err != nil || strings.Contains(exe, "go-build") {
		return "go run ./cmd/tbackend"
	}
	return os.Args[0]
}

// besideFile names a file in the directory of path, spelled ./… when relative (a shell copy of
// it then never looks up a command or a user's home).
func besideFile(path, name string) string {
	p := filepath.Join(filepath.Dir(path), name)
	if !filepath.IsAbs(p) && !strings.HasPrefix(p, ".") {
		p = "." + string(filepath.Separator) + p
	}
	return p
}
