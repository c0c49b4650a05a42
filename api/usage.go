package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/storage"
)

type usageBody struct {
	KeyID         string              `json:"key_id"`
	Owner         string              `json:"owner"`
	Name          string              `json:"name"`
	IsActive      bool                `json:"is_active"`
	CreatedAt     time.Time           `json:"created_at"`
	ExpiresAt     *time.Time          `json:"expires_at"`
	LifetimeCalls int64               `json:"lifetime_calls"`
	Usage         storage.UsageReport `json:"usage"`
	AsOf          time.Time           `json:"as_of"`
}

// usage reports the calling key's own usage, and nobody else's.
func (s *Server) usage(c *fiber.Ctx) error {
	k := callerOf(c).key
	now := s.now().UTC()
	rep, err := s.deps.Usage.Report(c.UserContext(), k.ID, now)
	if err != nil {
		return err
	}
	return c.JSON(usageBody{
		KeyID: k.ID, Owner: k.Owner, Name: k.Name, IsActive: k.Active(now),
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LifetimeCalls: rep.TotalCalls,
		Usage: rep, AsOf: now,
	})
}
