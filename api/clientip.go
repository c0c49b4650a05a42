package api

import (
	"bytes"
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the caller's address for per-client limits and logs: the peer, unless the peer is
// one of Config.TrustedProxies; then X-Forwarded-For is read from the right, past every hop that
// is a trusted proxy, and the first hop that is not is the client. Hops further left were written
// by the client itself and are never believed; an unreadable hop ends the walk at the last
// address a trusted proxy vouched for.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.IP()
	}
	addr := peer.Unmap()
	if !s.trustedProxy(addr) {
		return addr.String()
	}
	hops := bytes.Join(c.Request().Header.PeekAll(fiber.HeaderXForwardedFor), []byte(","))
	for len(hops) > 0 {
		i := bytes.LastIndexByte(hops, ',')
		hop := bytes.TrimSpace(hops[i+1:])
		hops = hops[:max(i, 0)]
		next, err := netip.ParseAddr(string(hop))
		if err != nil {
			break
		}
		addr = next.Unmap()
		if !s.trustedProxy(addr) {
			break
		}
	}
	return addr.String()
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
