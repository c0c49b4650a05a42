package api

import (
	"context"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ServeBare answers GET path with status, contentType and body from a fiber app that has no
// middleware and no other route, until ctx ends. It is a baseline of the benchmark command
// (cmd/tbench): the api's front is measured against fiber itself answering the same bytes. It
// lives here because fiber stays inside this package.
func ServeBare(ctx context.Context, ln net.Listener, path string, status int, contentType string, body []byte) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get(path, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, contentType)
		return c.Status(status).Send(body)
	})
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
		return err
	}
	return <-errc
}
