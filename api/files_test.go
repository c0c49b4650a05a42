package api

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignedFiles(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 bytes
	if _, err := h.srv.deps.Objects.Put(ctx, "images/2026/11/30/job-0.png", bytes.NewReader(data), int64(len(data)), "image/png", ""); err != nil {
		t.Fatal(err)
	}
	signed, err := h.srv.deps.Objects.URL(ctx, "images/2026/11/30/job-0.png", time.Hour, "http://example.com")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(signed, "http://example.com")

	t.Run("whole file", func(t *testing.T) {
		res := h.do("GET", path, "")
		if res.Status != 200 || !bytes.Equal(res.Body, data) || res.Header.Get("Content-Type") != "image/png" ||
			res.Header.Get("Accept-Ranges") != "bytes" || res.Header.Get("ETag") == "" {
			t.Fatalf("status %d, %d bytes, headers %v", res.Status, len(res.Body), res.Header)
		}
	})
	for _, tc := range []struct {
		rng, contentRange string
		want              []byte
	}{
		{"bytes=0-9", "bytes 0-9/10000", data[:10]},
		{"bytes=9990-", "bytes 9990-9999/10000", data[9990:]},
		{"bytes=-5", "bytes 9995-9999/10000", data[9995:]},
		{"bytes=9995-20000", "bytes 9995-9999/10000", data[9995:]},
	} {
		t.Run("range "+tc.rng, func(t *testing.T) {
			res := h.do("GET", path, "", "Range", tc.rng)
			if res.Status != 206 || res.Header.Get("Content-Range") != tc.contentRange || !bytes.Equal(res.Body, tc.want) {
				t.Fatalf("status %d, Content-Range %q, %d bytes", res.Status, res.Header.Get("Content-Range"), len(res.Body))
			}
		})
	}
	t.Run("ignored ranges send everything", func(t *testing.T) {
		for _, rng := range []string{"bytes=0-1,5-6", "items=0-1", "bytes=x-y"} {
			if res := h.do("GET", path, "", "Range", rng); res.Status != 200 || len(res.Body) != len(data) {
				t.Fatalf("%s: status %d", rng, res.Status)
			}
		}
	})
	t.Run("unsatisfiable range", func(t *testing.T) {
		res := h.do("GET", path, "", "Range", "bytes=10000-")
		if res.Status != 416 || res.Header.Get("Content-Range") != "bytes */10000" {
			t.Fatalf("status %d %v", res.Status, res.Header)
		}
	})
	u, _ := url.Parse(path)
	q := u.Query()
	for _, tc := range []struct {
		name, path, detail string
	}{
		{"tampered signature", u.Path + "?expires=" + q.Get("expires") + "&sig=" + strings.Repeat("0", 64), "signature"},
		{"tampered expiry", u.Path + "?expires=" + q.Get("expires") + "1&sig=" + q.Get("sig"), "signature"},
		{"other file, same signature", "/files/images/2026/11/30/job-1.png?" + u.RawQuery, "signature"},
		{"no signature", u.Path, "signature"},
		{"escape attempt", "/files/../../etc/passwd?" + u.RawQuery, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.do("GET", tc.path, "")
			if res.Status != 403 && !(tc.detail == "" && res.Status == 404) {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if tc.detail != "" && !strings.Contains(string(res.Body), tc.detail) {
				t.Fatalf("body %s", res.Body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		h.srv.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		defer func() { h.srv.now = time.Now }()
		res := h.do("GET", path, "")
		if res.Status != 403 || !strings.Contains(string(res.Body), "expired") {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	})
	t.Run("signed but deleted", func(t *testing.T) {
		if err := h.srv.deps.Objects.Delete(ctx, "images/2026/11/30/job-0.png"); err != nil {
			t.Fatal(err)
		}
		if res := h.do("GET", path, ""); res.Status != 404 {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	})
}

func TestHealthReportsObjectStore(t *testing.T) {
	h := newHarness(t)
	checks := h.do("GET", "/health", "").json(t)["checks"].(map[string]any)
	if o := checks["object_store"].(map[string]any); o["status"] != "ok" || o["mode"] != "local" {
		t.Fatalf("object_store check %v", o)
	}
}
