package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tbackend/tbackend/api"
)

// bareFiberCommand is the hidden subcommand that serves figure 1's baseline in a process of its
// own, as the api is: `tbench bare-fiber -listen ADDR -body FILE -type CT -status N`.
const bareFiberCommand = "bare-fiber"

func bareFiberMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(bareFiberCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	bodyFile := fs.String("body", "", "file holding the exact bytes to answer")
	ctype := fs.String("type", "application/json", "Content-Type")
	status := fs.Int("status", 200, "status code")
	if fs.Parse(args) != nil {
		return 2
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(stderr, "bare-fiber:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "bare-fiber:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := api.ServeBare(ctx, ln, "/health", *status, *ctype, body); err != nil {
		fmt.Fprintln(stderr, "bare-fiber:", err)
		return 1
	}
	return 0
}

// startBare starts the baseline of figure 1 (this very executable, as a child) answering body.
// The returned URL is its /health.
func (e *env) startBare(ctx context.Context, body []byte, ctype string) (*child, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	file := filepath.Join(e.dir, "health.body")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	c, err := startChild("bare fiber", exe, []string{bareFiberCommand, "-listen", addr, "-body", file, "-type", ctype,
		"-status", strconv.Itoa(200)}, e.serviceEnv("info"), filepath.Join(e.dir, "bare.log"))
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr + "/health"
	err = c.waitReady(ctx, 10*time.Second, func(ctx context.Context) error {
		_, _, err := e.call(ctx, "GET", url, nil, nil, 200)
		return err
	})
	if err != nil {
		c.stop(time.Second)
		return nil, "", err
	}
	return c, url, nil
}
