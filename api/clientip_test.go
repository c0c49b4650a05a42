package api

import (
	"io"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The client address comes from X-Forwarded-For only through trusted proxies, read from the
// right: whatever the client wrote itself (the left part) is never believed.
func TestClientIP(t *testing.T) {
	// app.Test's connection comes from 0.0.0.0: that is "the peer" below.
	trust := func(cidrs ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, c := range cidrs {
			out = append(out, netip.MustParsePrefix(c))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		xff     []string
		want    string
	}{
		{"no trusted proxies: the peer, whatever the header says", nil, []string{"203.0.113.9"}, "0.0.0.0"},
		{"untrusted peer", trust("10.0.0.0/8"), []string{"203.0.113.9"}, "0.0.0.0"},
		{"trusted peer, one hop", trust("0.0.0.0/32"), []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left part is ignored", trust("0.0.0.0/32"), []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", trust("0.0.0.0/32", "10.0.0.0/8"), []string{"1.1.1.1, 203.0.113.9, 10.1.2.3", "10.9.9.9"}, "203.0.113.9"},
		{"every hop trusted: the leftmost", trust("0.0.0.0/32", "10.0.0.0/8"), []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage ends the walk at the last vouched address", trust("0.0.0.0/32", "10.0.0.0/8"), []string{"1.1.1.1, not-an-ip, 10.1.2.3"}, "10.1.2.3"},
		{"trusted peer without the header", trust("0.0.0.0/32"), nil, "0.0.0.0"},
		{"IPv6 client", trust("0.0.0.0/32"), []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped IPv6 hop", trust("0.0.0.0/32"), []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustedProxies: tc.trusted}}
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error { return c.SendString(s.clientIP(c)) })
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			res, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			if string(got) != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
		})
	}
}
