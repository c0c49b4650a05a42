// Package objstore stores generated files (images, exports) either in a local
// directory or in an S3-compatible bucket (MinIO, AWS S3) behind one concrete
// type, so callers never care which backend the deployment chose.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"strings"
	"time"
)

// Sentinel errors. Callers test them with errors.Is; the api maps them to
// HTTP statuses in one place.
var (
	ErrNotFound     = errors.New("objstore: object not found")
	ErrInvalidKey   = errors.New("objstore: invalid object key")
	ErrBadSignature = errors.New("objstore: bad file URL signature")
	ErrExpired      = errors.New("objstore: file URL expired")
	// ErrUnavailable wraps a store's own "try again later" answer (S3 503 SlowDown or
	// ServiceUnavailable): callers report it as an outage, not as a failure of the request.
	ErrUnavailable = errors.New("objstore: store unavailable")
)

// Object describes a stored object.
type Object struct {
	Key          string
	ContentType  string
	CacheControl string
	Size         int64
	ModTime      time.Time
	ETag         string // unquoted
}

const (
	// maxKeyLen stays well below S3's 1024-byte limit and PATH_MAX.
	maxKeyLen = 512
	// maxSegmentLen leaves room under NAME_MAX (255) for the hidden
	// ".<name>.meta.json" sidecar of the local backend.
	maxSegmentLen = 200

	defaultContentType = "application/octet-stream"

	// URL lifetimes follow S3 presigning limits so both backends accept the
	// same inputs.
	minURLTTL = time.Second
	maxURLTTL = 7 * 24 * time.Hour
)

// backend is what each storage flavour implements. Keys reaching it are
// already validated.
type backend interface {
	put(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) (Object, error)
	get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	stat(ctx context.Context, key string) (Object, error)
	remove(ctx context.Context, key string) error
	url(ctx context.Context, key string, ttl time.Duration, baseURL string) (string, error)
	ping(ctx context.Context) error
	deleteOlderThan(ctx context.Context, prefix string, cutoff time.Time) (int, error)
}

// Store is the object store. It is safe for concurrent use.
type Store struct {
	mode  string
	b     backend
	local *localBackend // nil unless mode == "local"
}

// Mode reports the backend: "local" or "s3".
func (s *Store) Mode() string { return s.mode }

// Put stores r under key, streaming it (it never holds the whole object in
// memory). size is the exact length, or -1 when unknown. An empty
// contentType is stored as application/octet-stream.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	if size < -1 {
		return Object{}, fmt.Errorf("objstore: put %q: negative size %d", key, size)
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: content type %q: %w", key, contentType, err)
	}
	if strings.ContainsFunc(cacheControl, isCtl) {
		return Object{}, fmt.Errorf("objstore: put %q: cache control contains control characters", key)
	}
	return s.b.put(ctx, key, r, size, contentType, cacheControl)
}

// Get opens the object for reading. The caller closes the reader.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, err
	}
	return s.b.get(ctx, key)
}

// Stat returns the object's metadata.
func (s *Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	return s.b.stat(ctx, key)
}

// Delete removes the object. Deleting a missing key is not an error, so
// retried deletes and sweeps stay idempotent.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	return s.b.remove(ctx, key)
}

// URL returns a time-limited download URL for key.
//
// S3: a presigned GET URL for the configured public host (baseURL is
// ignored). Local: baseURL (or LocalConfig.PublicBaseURL when baseURL is
// empty) + "/files/" + key + "?expires=<unix>&sig=<hex>", served by the api
// with VerifyFileURL and OpenLocal; with no base at all the URL is
// root-relative. ttl must be between 1s and 7 days.
func (s *Store) URL(ctx context.Context, key string, ttl time.Duration, baseURL string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if ttl < minURLTTL || ttl > maxURLTTL {
		return "", fmt.Errorf("objstore: url ttl %s outside [%s, %s]", ttl, minURLTTL, maxURLTTL)
	}
	return s.b.url(ctx, key, ttl, baseURL)
}

// Ping is a cheap health check of the backend.
func (s *Store) Ping(ctx context.Context) error { return s.b.ping(ctx) }

// DeleteOlderThan deletes objects whose key starts with prefix and which were
// last modified more than age ago, and returns how many it deleted. prefix
// is a plain key prefix ("" for everything, "images/" for one folder).
func (s *Store) DeleteOlderThan(ctx context.Context, prefix string, age time.Duration) (int, error) {
	if err := validatePrefix(prefix); err != nil {
		return 0, err
	}
	if age < 0 {
		return 0, fmt.Errorf("objstore: negative retention age %s", age)
	}
	return s.b.deleteOlderThan(ctx, prefix, time.Now().Add(-age))
}

// VerifyFileURL checks the expires and sig query values of a local file URL
// produced by URL. It returns ErrInvalidKey, ErrBadSignature or ErrExpired.
// The signature is checked before the expiry, so a tampered expiry is
// reported as a bad signature.
func (s *Store) VerifyFileURL(key, expires, sig string, now time.Time) error {
	if s.local == nil {
		return fmt.Errorf("objstore: VerifyFileURL needs the local backend (mode %s)", s.mode)
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	return s.local.verify(key, expires, sig, now)
}

// OpenLocal opens the local file behind key, for range-capable serving with
// http.ServeContent. The caller closes the file.
func (s *Store) OpenLocal(key string) (*os.File, Object, error) {
	if s.local == nil {
		return nil, Object{}, fmt.Errorf("objstore: OpenLocal needs the local backend (mode %s)", s.mode)
	}
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, err
	}
	return s.local.open(key)
}

// ValidateKey reports whether key is acceptable to every backend: 1..512
// bytes of [A-Za-z0-9._-] in non-empty "/"-separated segments, none
// starting with ".", no "..", no leading or trailing "/". Refusing dot-segments keeps keys from escaping the local
// directory and reserves dot names for the local backend's sidecars and
// temp files.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c != '/' && !isKeyByte(c) {
			return fmt.Errorf("%w: %q: byte %q not allowed", ErrInvalidKey, key, c)
		}
	}
	if strings.Contains(key, "..") {
		// Only "/../"-style segments are dangerous, but no legitimate key
		// needs "..", so refusing it outright is simpler to audit.
		return fmt.Errorf("%w: %q: contains \"..\"", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q: empty path segment", ErrInvalidKey, key)
		case seg[0] == '.':
			return fmt.Errorf("%w: %q: segment starts with a dot", ErrInvalidKey, key)
		case len(seg) > maxSegmentLen:
			return fmt.Errorf("%w: %q: segment longer than %d bytes", ErrInvalidKey, key, maxSegmentLen)
		}
	}
	return nil
}

// validatePrefix accepts "" or anything that could start a valid key,
// including a trailing "/".
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }
