package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/internal/testwait"
)

// Every role's -h lists every variable config.go reads for it (found in the source here, so a
// new variable that the help missed fails).
func TestHelpListsTheEnvironment(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`env\("([A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 30 {
		t.Fatalf("found only %d variables in config.go", len(names))
	}
	for _, role := range []string{"api", "worker", "dev"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{role, "-h"}, envOf(), &out, &out); err != nil {
			t.Fatal(err)
		}
		help := out.String()
		for _, m := range names {
			if m[1] == "DEV_WALLET" && role != "dev" {
				if strings.Contains(help, m[1]) {
					t.Errorf("%s -h lists DEV_WALLET, which only dev reads", role)
				}
				continue
			}
			if !regexp.MustCompile(`\b` + m[1] + `\b`).MatchString(help) {
				t.Errorf("%s -h does not list %s:\n%s", role, m[1], help)
			}
		}
	}
}

func TestVersionFlags(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, envOf(), &out, &out); err != nil || !strings.HasPrefix(out.String(), "tbackend ") {
			t.Errorf("%s: %v %q", arg, err, out.String())
		}
	}
}

func TestDevDefaultsToLoopback(t *testing.T) {
	for role, want := range map[string]string{"dev": "127.0.0.1:8080", "api": ":8080"} {
		cfg, _ := loadConfig(role, envOf("REDIS_URL", "redis://x:6379", "FILES_SIGNING_KEY", strings.Repeat("k", 32)))
		if cfg.HTTPAddr != want {
			t.Errorf("%s listens on %q, want %q", role, cfg.HTTPAddr, want)
		}
	}
	if cfg, _ := loadConfig("dev", envOf("HTTP_ADDR", ":9999")); cfg.HTTPAddr != ":9999" {
		t.Errorf("HTTP_ADDR is not obeyed: %q", cfg.HTTPAddr)
	}
}

// Logs are JSON for collectors (a pipe or a file) unless LOG_FORMAT=text; a terminal gets text.
func TestLogFormat(t *testing.T) {
	for format, wantJSON := range map[string]bool{"auto": true, "json": true, "text": false} {
		var buf bytes.Buffer
		newLogger(config{LogFormat: format, LogLevel: slog.LevelInfo}, &buf).Info("hello")
		if got := strings.HasPrefix(buf.String(), "{"); got != wantJSON {
			t.Errorf("LOG_FORMAT=%s into a buffer: %q", format, buf.String())
		}
	}
	if f, err := os.CreateTemp(t.TempDir(), "log"); err != nil || isTerminal(f) {
		t.Errorf("a regular file counts as a terminal (%v)", err)
	}
}

// On a Redis that already has its dev key, the banner says how to make one instead of nothing.
func TestDevBannerOnAKnownRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	first, _, _ := startDev(t, "REDIS_URL", redisURL)
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	env := envOf("HTTP_ADDR", "127.0.0.1:0", "STORAGE_DIR", t.TempDir(), "REDIS_URL", redisURL, "PAYMENTS_CONFIG", "off")
	second := start(t, []string{"dev"}, env)
	testwait.For(t, "the dev banner", 20*time.Second, func() bool { return strings.Contains(second.stdout.String(), "curl") })
	banner := second.stdout.String()
	want := "REDIS_URL='" + redisURL + "' "
	if keyRE.MatchString(banner) || !strings.Contains(banner, want) || !strings.Contains(banner, " keys create --name dev --scopes all\n") {
		t.Fatalf("second start's banner:\n%s", banner)
	}
	if strings.Contains(banner, "pay --from-402") {
		t.Errorf("PAYMENTS_CONFIG=off, yet the banner shows the pay loop:\n%s", banner)
	}
}
