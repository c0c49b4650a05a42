package api

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/tbackend/tbackend/storage"
)

// queuesPrefix is where asynqmon is mounted.
const queuesPrefix = "/admin/queues"

// queuesAuth lets a browser reach asynqmon: besides the api-key header, it accepts the key as the
// password of HTTP Basic auth, which the browser then sends on every request of the UI (asynqmon
// has no authentication of its own). Without credentials it asks the browser for them.
func (s *Server) queuesAuth(c *fiber.Ctx) error {
	if c.Get("api-key") == "" {
		if key, ok := basicPassword(c.Get(fiber.HeaderAuthorization)); ok {
			c.Request().Header.Set("api-key", key)
		} else {
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="tbackend queues", charset="UTF-8"`)
		}
	}
	return s.requireKey(storage.ScopeAdmin)(c)
}

func basicPassword(h string) (string, bool) {
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", false
	}
	_, pass, ok := strings.Cut(string(raw), ":")
	return pass, ok && pass != ""
}

// queuesHandler serves asynqmon (its page, its bundle and its JSON api) under queuesPrefix.
func (s *Server) queuesHandler() fiber.Handler {
	if s.deps.Queues == nil {
		return func(*fiber.Ctx) error { return fiber.ErrNotFound }
	}
	h := adaptor.HTTPHandler(s.deps.Queues)
	return func(c *fiber.Ctx) error {
		if !s.cfg.AdminQueuesWrite && c.Method() != http.MethodGet && c.Method() != http.MethodHead {
			return httpError(http.StatusForbidden, "The queue dashboard is read-only (set ADMIN_QUEUES_WRITE=true to allow changes)")
		}
		return h(c)
	}
}
