package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/storage/objstore"
)

// file serves an object of the local store through a signed, expiring URL (objstore.URL made
// it). Anyone holding the URL may fetch the object until it expires; nothing else is served.
// S3 deployments hand out presigned bucket URLs instead, so there this route finds nothing.
func (s *Server) file(c *fiber.Ctx) error {
	st := s.deps.Objects
	if st == nil || st.Mode() != "local" {
		return fiber.ErrNotFound
	}
	key := c.Params("*")
	if err := st.VerifyFileURL(key, c.Query("expires"), c.Query("sig"), s.now()); err != nil {
		if errors.Is(err, objstore.ErrExpired) {
			return httpError(http.StatusForbidden, "File URL expired")
		}
		return httpError(http.StatusForbidden, "Invalid file URL signature")
	}
	f, obj, err := st.OpenLocal(key)
	if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrInvalidKey) {
		return httpError(http.StatusNotFound, "File not found")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, obj.ContentType)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderLastModified, obj.ModTime.UTC().Format(http.TimeFormat))
	if obj.ETag != "" {
		c.Set(fiber.HeaderETag, `"`+obj.ETag+`"`)
	}
	cache := obj.CacheControl
	if cache == "" {
		cache = "private, max-age=300"
	}
	c.Set(fiber.HeaderCacheControl, cache)

	start, length, ok, err := parseRange(c.Get(fiber.HeaderRange), obj.Size)
	if err != nil {
		_ = f.Close()
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", obj.Size))
		return httpError(http.StatusRequestedRangeNotSatisfiable, "Requested range not satisfiable")
	}
	if !ok {
		return c.SendStream(f, int(obj.Size)) // fasthttp closes f when done
	}
	c.Status(http.StatusPartialContent)
	c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, obj.Size))
	return c.SendStream(sectionCloser{io.NewSectionReader(f, start, length), f}, int(length))
}

type sectionCloser struct {
	io.Reader
	io.Closer
}

// errUnsatisfiable is a range that lies wholly outside the object.
var errUnsatisfiable = errors.New("range not satisfiable")

// parseRange reads a single byte range ("bytes=a-b", "bytes=a-", "bytes=-n"). ok is false when
// the whole object should be sent: no header, several ranges, or a header we do not understand
// (RFC 9110 lets a server ignore Range).
func parseRange(h string, size int64) (start, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	if first == "" { // suffix: the last n bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || a < 0 {
		return 0, 0, false, nil
	}
	if a >= size {
		return 0, 0, false, errUnsatisfiable
	}
	b := size - 1
	if last != "" {
		if b, perr = strconv.ParseInt(last, 10, 64); perr != nil || b < a {
			return 0, 0, false, nil
		}
		b = min(b, size-1)
	}
	return a, b - a + 1, true, nil
}
