package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/workers/blockfrostemu"
	"github.com/tbackend/tbackend/workers/openaiemu"
)

// dev runs api and worker in one process, embedding whatever is not configured, and prints a
// ready API key the first time it meets a Redis.
func (s *service) dev(ctx context.Context, stdout io.Writer) error {
	if err := s.embed(); err != nil {
		return err
	}
	if err := s.openRedis(ctx); err != nil {
		return err
	}
	if err := s.openObjects(ctx); err != nil {
		return err
	}
	s.startMetrics(ctx)
	ready := make(chan string, 1)
	go func() {
		select {
		case addr := <-ready:
			if err := s.bootstrapKey(ctx, addr, stdout); err != nil {
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
		network, err := blockfrostemu.ParseNetwork(cfg.Network)
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
		cfg.BlockfrostID, cfg.BlockfrostURL, s.upstreams["blockfrost"] = "dev-emulator", url, "emulated"
		s.log.Warn("BLOCKFROST_PROJECT_ID is unset: chain data comes from the built-in emulator, not Cardano", "url", url)
	}
	return nil
}

// bootstrapKey creates an all-scope key once per Redis and prints it with a curl line to try.
func (s *service) bootstrapKey(ctx context.Context, addr string, stdout io.Writer) error {
	first, err := s.rdb.SetNX(ctx, s.keys.DevBootstrap(), time.Now().UTC().Format(time.RFC3339), 0).Result()
	if err != nil || !first {
		return err
	}
	ks := storage.NewKeyStore(s.rdb, s.keys, 0)
	k, plain, err := ks.Create(ctx, storage.NewKeyParams{Name: "dev", Owner: "dev", Scopes: storage.AllScopes(), RPM: 600})
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	fmt.Fprintf(stdout, "\nT Backend dev is up at %s (docs: %s/docs)\n", base, base)
	fmt.Fprintf(stdout, "API key %s with every scope (shown once): %s\n", k.ID, plain)
	fmt.Fprintf(stdout, "Try:\n  curl -s -X POST -H 'api-key: %s' -H 'Content-Type: application/json' -d '{}' %s/admin/ping\n", plain, base)
	fmt.Fprintf(stdout, "  curl -s -H 'api-key: %s' %s/usage\n\n", plain, base)
	return nil
}
