package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage/objstore"
)

// harness is what the conformance suite needs from a backend setup.
type harness struct {
	s    *objstore.Store
	mode string
	// baseURL is passed to URL: the test file server for local, "" for S3.
	baseURL string
}

// conformance runs the same behaviour checks against any backend. Each case
// works under its own key prefix so cases can run in parallel.
func conformance(t *testing.T, h harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h harness, prefix string)
	}{
		{"Mode", testMode},
		{"Ping", testPing},
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"StreamUnknownSize", testStreamUnknownSize},
		{"ShortReader", testShortReader},
		{"CanceledPut", testCanceledPut},
		{"InvalidKeys", testInvalidKeys},
		{"NotFound", testNotFound},
		{"URLDownload", testURLDownload},
		{"URLTampered", testURLTampered},
		{"URLExpired", testURLExpired},
		{"URLTTLBounds", testURLTTLBounds},
		{"Retention", testRetention},
		{"LocalOnlyMethods", testLocalOnlyMethods},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, h, "conf-"+strings.ToLower(tc.name)+"/")
		})
	}
}

func testMode(t *testing.T, h harness, _ string) {
	if got := h.s.Mode(); got != h.mode {
		t.Fatalf("Mode() = %q, want %q", got, h.mode)
	}
}

func testPing(t *testing.T, h harness, _ string) {
	if err := h.s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testRoundTrip(t *testing.T, h harness, prefix string) {
	ctx := t.Context()
	tests := []struct {
		name, key    string
		data         []byte
		contentType  string
		cacheControl string
		unknownSize  bool
		wantType     string
	}{
		{name: "text", key: "a.txt", data: []byte("hello world\n"), contentType: "text/plain; charset=utf-8",
			cacheControl: "public, max-age=60", wantType: "text/plain; charset=utf-8"},
		{name: "empty defaults type", key: "empty", data: []byte{}, wantType: "application/octet-stream"},
		{name: "binary unknown size", key: "img/2024/01/pic_1-x.png", data: randBytes(t, 1<<20), contentType: "image/png",
			cacheControl: "public, max-age=31536000, immutable", unknownSize: true, wantType: "image/png"},
		{name: "deep nested", key: "a/b/c/d/e/f.json", data: []byte(`{"ok":true}`), contentType: "application/json",
			cacheControl: "no-store", wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := prefix + tt.key
			var r io.Reader = bytes.NewReader(tt.data)
			size := int64(len(tt.data))
			if tt.unknownSize {
				r, size = onlyReader{r}, -1
			}
			before := time.Now()
			put, err := h.s.Put(ctx, key, r, size, tt.contentType, tt.cacheControl)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := objstore.Object{Key: key, ContentType: tt.wantType, CacheControl: tt.cacheControl, Size: int64(len(tt.data))}
			checkObject(t, "Put", put, want)
			if put.ETag == "" {
				t.Error("Put: empty ETag")
			}
			if d := put.ModTime.Sub(before); d < -5*time.Second || d > time.Minute {
				t.Errorf("Put: ModTime %v is %v away from the time of the call", put.ModTime, d)
			}

			rc, got, err := h.s.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			body, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("Get read: %v", err)
			}
			if !bytes.Equal(body, tt.data) {
				t.Fatalf("Get: %d bytes differ from the %d bytes put", len(body), len(tt.data))
			}
			checkSame(t, "Get", got, put)

			st, err := h.s.Stat(ctx, key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			checkSame(t, "Stat", st, put)

			if err := h.s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := h.s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
			}
			if _, _, err := h.s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
			}
			if err := h.s.Delete(ctx, key); err != nil {
				t.Fatalf("second Delete: %v, want nil", err)
			}
		})
	}
}

func testOverwrite(t *testing.T, h harness, prefix string) {
	ctx := t.Context()
	key := prefix + "same"
	first := mustPut(t, h.s, key, []byte("first version"), "text/plain", "max-age=1")
	second := mustPut(t, h.s, key, []byte("second, longer version"), "application/json", "")
	if second.ETag == first.ETag {
		t.Errorf("ETag unchanged across overwrite: %q", first.ETag)
	}
	body, obj := mustGet(t, h.s, key)
	if string(body) != "second, longer version" {
		t.Fatalf("body = %q", body)
	}
	checkObject(t, "Get", obj, objstore.Object{Key: key, ContentType: "application/json", Size: int64(len(body))})
	if err := h.s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
}

func testStreamUnknownSize(t *testing.T, h harness, prefix string) {
	ctx := t.Context()
	const size = 12 << 20
	key := prefix + "big.bin"
	// Generated and hashed on the fly: neither side ever holds 12 MiB.
	src := io.LimitReader(mrand.NewChaCha8([32]byte{1, 2, 3}), size)
	wantSum := sha256.New()
	put, err := h.s.Put(ctx, key, onlyReader{io.TeeReader(src, wantSum)}, -1, "application/octet-stream", "")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if put.Size != size {
		t.Fatalf("Put size = %d, want %d", put.Size, size)
	}
	if h.mode == "s3" && !strings.HasSuffix(put.ETag, "-2") {
		// 12 MiB in 8 MiB parts: proof the multipart streaming path ran.
		t.Errorf("ETag %q: want a 2-part multipart upload", put.ETag)
	}
	rc, obj, err := h.s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	gotSum := sha256.New()
	n, err := io.Copy(gotSum, rc)
	if err != nil {
		t.Fatalf("Get read: %v", err)
	}
	if n != size || obj.Size != size {
		t.Fatalf("read %d bytes, Object.Size %d, want %d", n, obj.Size, size)
	}
	if !bytes.Equal(gotSum.Sum(nil), wantSum.Sum(nil)) {
		t.Fatal("downloaded content differs from the uploaded stream")
	}
}

func testShortReader(t *testing.T, h harness, prefix string) {
	key := prefix + "short"
	if _, err := h.s.Put(t.Context(), key, strings.NewReader("12345"), 10, "text/plain", ""); err == nil {
		t.Fatal("Put with fewer bytes than declared succeeded")
	}
	if _, err := h.s.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after failed Put: %v, want ErrNotFound", err)
	}
}

func testCanceledPut(t *testing.T, h harness, prefix string) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	key := prefix + "canceled"
	if _, err := h.s.Put(ctx, key, strings.NewReader("data"), 4, "text/plain", ""); err == nil {
		t.Fatal("Put with a canceled context succeeded")
	}
	if _, err := h.s.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after canceled Put: %v, want ErrNotFound", err)
	}
}

var invalidKeys = []string{
	"",
	"/abs",
	"..",
	"../escape",
	"a/../../b",
	"a/..",
	"a..b",
	"./a",
	"a/./b",
	".hidden",
	"a/.b.meta.json",
	"a\\b",
	"a\x00b",
	"a//b",
	"a/",
	"a b",
	"a?b",
	"a#b",
	"a%2e",
	"ключ",
	strings.Repeat("a", 513),
	strings.Repeat("a", 201),
}

func testInvalidKeys(t *testing.T, h harness, _ string) {
	ctx := t.Context()
	for _, key := range invalidKeys {
		name := strconv.Quote(key)
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if _, err := h.s.Put(ctx, key, strings.NewReader("x"), 1, "", ""); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Put: %v", err)
			}
			if _, _, err := h.s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Get: %v", err)
			}
			if _, err := h.s.Stat(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Stat: %v", err)
			}
			if err := h.s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Delete: %v", err)
			}
			if _, err := h.s.URL(ctx, key, time.Minute, h.baseURL); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("URL: %v", err)
			}
		})
	}
	for _, prefix := range []string{"/", "../", "a/../", "a//"} {
		if _, err := h.s.DeleteOlderThan(ctx, prefix, time.Hour); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("DeleteOlderThan(%q): %v, want ErrInvalidKey", prefix, err)
		}
	}
}

func testNotFound(t *testing.T, h harness, prefix string) {
	ctx := t.Context()
	mustPut(t, h.s, prefix+"file", []byte("x"), "", "")
	for _, key := range []string{prefix + "missing", prefix + "no/such/dir/file", prefix + "file/child"} {
		if _, err := h.s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat(%q): %v, want ErrNotFound", key, err)
		}
		if _, _, err := h.s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", key, err)
		}
		if err := h.s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v, want nil", key, err)
		}
	}
	// A key that is only a prefix of other keys is not an object.
	mustPut(t, h.s, prefix+"dir/inner", []byte("x"), "", "")
	if _, err := h.s.Stat(ctx, prefix+"dir"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat of a key prefix: %v, want ErrNotFound", err)
	}
}

func testURLDownload(t *testing.T, h harness, prefix string) {
	key := prefix + "images/pic.png"
	data := randBytes(t, 300<<10)
	mustPut(t, h.s, key, data, "image/png", "public, max-age=3600")
	u, err := h.s.URL(t.Context(), key, time.Minute, h.baseURL)
	if err != nil {
		t.Fatalf("URL: %v", err)
	}

	resp := httpGet(t, u, "")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	if !bytes.Equal(body, data) {
		t.Fatalf("downloaded %d bytes differ from the %d put", len(body), len(data))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control = %q", cc)
	}

	resp = httpGet(t, u, "bytes=100-199")
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) {
		t.Fatalf("range GET: %s, %d bytes, want 206 with bytes 100-199", resp.Status, len(body))
	}
}

func testURLTampered(t *testing.T, h harness, prefix string) {
	key, other := prefix+"secret.txt", prefix+"other.txt"
	mustPut(t, h.s, key, []byte("secret"), "text/plain", "")
	mustPut(t, h.s, other, []byte("other"), "text/plain", "")
	raw, err := h.s.URL(t.Context(), key, time.Hour, h.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	good, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sigParam, expParam := "sig", "expires"
	if h.mode == "s3" {
		sigParam, expParam = "X-Amz-Signature", "X-Amz-Expires"
	}
	tampers := []struct {
		name   string
		mutate func(u *url.URL)
		// S3 answers 400 AuthorizationQueryParametersError, not 403, when
		// a presign parameter is missing altogether.
		alsoOK int
	}{
		{"flipped signature", func(u *url.URL) {
			q := u.Query()
			q.Set(sigParam, flipLastHex(q.Get(sigParam)))
			u.RawQuery = q.Encode()
		}, 0},
		{"missing signature", func(u *url.URL) {
			q := u.Query()
			q.Del(sigParam)
			u.RawQuery = q.Encode()
		}, http.StatusBadRequest},
		{"extended expiry", func(u *url.URL) {
			q := u.Query()
			n, _ := strconv.ParseInt(q.Get(expParam), 10, 64)
			q.Set(expParam, strconv.FormatInt(n+1000, 10))
			u.RawQuery = q.Encode()
		}, 0},
		{"other key", func(u *url.URL) {
			u.Path = strings.Replace(u.Path, "secret.txt", "other.txt", 1)
			u.RawPath = ""
		}, 0},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			u := *good
			tc.mutate(&u)
			resp := httpGet(t, u.String(), "")
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden && (tc.alsoOK == 0 || resp.StatusCode != tc.alsoOK) {
				t.Fatalf("GET tampered URL: %s (%s), want 403", resp.Status, body)
			}
		})
	}
	// The untampered URL still works, so the 403s are about the tampering.
	resp := httpGet(t, raw, "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || string(body) != "secret" {
		t.Fatalf("GET good URL: %s (%s)", resp.Status, body)
	}
}

func testURLExpired(t *testing.T, h harness, prefix string) {
	key := prefix + "soon-gone.txt"
	mustPut(t, h.s, key, []byte("brief"), "text/plain", "")
	u, err := h.s.URL(t.Context(), key, time.Second, h.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	resp := httpGet(t, u, "")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET expired URL: %s (%s), want 403", resp.Status, body)
	}
}

func testURLTTLBounds(t *testing.T, h harness, prefix string) {
	key := prefix + "k"
	for _, ttl := range []time.Duration{0, -time.Minute, 500 * time.Millisecond, 8 * 24 * time.Hour} {
		if _, err := h.s.URL(t.Context(), key, ttl, h.baseURL); err == nil {
			t.Errorf("URL with ttl %s succeeded", ttl)
		}
	}
}

// testRetention cannot backdate S3 objects, so it waits: old objects are
// written more than a second before the cutoff and new ones more than a
// second after it, which survives second-granular server timestamps.
func testRetention(t *testing.T, h harness, prefix string) {
	ctx := t.Context()
	olds := []string{prefix + "ret/old1", prefix + "ret/sub/old2"}
	news := []string{prefix + "ret/new1", prefix + "ret/sub/new2"}
	outside := prefix + "keep/old-but-outside"
	for _, k := range append(olds, outside) {
		mustPut(t, h.s, k, []byte("old"), "", "")
	}
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	for _, k := range news {
		mustPut(t, h.s, k, []byte("new"), "", "")
	}

	n, err := h.s.DeleteOlderThan(ctx, prefix+"ret/", time.Since(cutoff))
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n != len(olds) {
		t.Errorf("deleted %d objects, want %d", n, len(olds))
	}
	for _, k := range olds {
		if _, err := h.s.Stat(ctx, k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("old %s: %v, want ErrNotFound", k, err)
		}
	}
	for _, k := range append(news, outside) {
		if _, err := h.s.Stat(ctx, k); err != nil {
			t.Errorf("%s should survive: %v", k, err)
		}
	}
	if n, err := h.s.DeleteOlderThan(ctx, prefix+"ret/", time.Hour); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v; want 0, nil", n, err)
	}
	if n, err := h.s.DeleteOlderThan(ctx, prefix+"nothing-here/", 0); err != nil || n != 0 {
		t.Errorf("sweep of an empty prefix: %d, %v; want 0, nil", n, err)
	}
}

func testLocalOnlyMethods(t *testing.T, h harness, prefix string) {
	if h.mode == "local" {
		return // covered in depth by the local tests
	}
	if err := h.s.VerifyFileURL(prefix+"k", "1", "00", time.Now()); err == nil {
		t.Error("VerifyFileURL on S3 succeeded")
	}
	if f, _, err := h.s.OpenLocal(prefix + "k"); err == nil {
		f.Close()
		t.Error("OpenLocal on S3 succeeded")
	}
}

// onlyReader hides Len, Seek and ReadAt so the store sees a plain stream of
// unknown length.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPut(t *testing.T, s *objstore.Store, key string, data []byte, contentType, cacheControl string) objstore.Object {
	t.Helper()
	obj, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), contentType, cacheControl)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

func mustGet(t *testing.T, s *objstore.Store, key string) ([]byte, objstore.Object) {
	t.Helper()
	rc, obj, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q) read: %v", key, err)
	}
	return b, obj
}

// checkObject compares the fields a caller controls.
func checkObject(t *testing.T, what string, got, want objstore.Object) {
	t.Helper()
	if got.Key != want.Key || got.ContentType != want.ContentType || got.CacheControl != want.CacheControl || got.Size != want.Size {
		t.Errorf("%s: got {Key:%q ContentType:%q CacheControl:%q Size:%d}, want {Key:%q ContentType:%q CacheControl:%q Size:%d}",
			what, got.Key, got.ContentType, got.CacheControl, got.Size, want.Key, want.ContentType, want.CacheControl, want.Size)
	}
}

// checkSame requires Get/Stat to report exactly what Put did.
func checkSame(t *testing.T, what string, got, want objstore.Object) {
	t.Helper()
	checkObject(t, what, got, want)
	if got.ETag != want.ETag {
		t.Errorf("%s: ETag %q, Put said %q", what, got.ETag, want.ETag)
	}
	if !got.ModTime.Equal(want.ModTime) {
		t.Errorf("%s: ModTime %v, Put said %v", what, got.ModTime, want.ModTime)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func httpGet(t *testing.T, u, rangeHeader string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func flipLastHex(s string) string {
	if s == "" {
		return "00"
	}
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

func randomSuffix(t *testing.T) string {
	return hex.EncodeToString(randBytes(t, 6))
}

// requireEnv returns the variable or skips; in CI a missing service is a
// failure, because a silently skipped suite proves nothing.
func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set but CI=true: the S3 suite must run in CI (eval \"$(bash .ci/minio.sh)\")", name)
		}
		t.Skipf("%s not set; skipping tests against a real MinIO", name)
	}
	return v
}
