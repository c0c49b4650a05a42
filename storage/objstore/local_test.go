package objstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage/objstore"
)

var testSigningKey = []byte("test-signing-key-0123456789abcdef")

func newLocal(t *testing.T) (*objstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey})
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return s, dir
}

// fileServer serves /files/{key} the way the api does: verify the signed
// query, then let http.ServeContent handle ranges and conditional requests.
func fileServer(s *objstore.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, "/files/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if err := s.VerifyFileURL(key, q.Get("expires"), q.Get("sig"), time.Now()); err != nil {
			switch {
			case errors.Is(err, objstore.ErrInvalidKey):
				http.Error(w, "bad key", http.StatusBadRequest)
			case errors.Is(err, objstore.ErrBadSignature), errors.Is(err, objstore.ErrExpired):
				http.Error(w, "forbidden", http.StatusForbidden)
			default:
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
			return
		}
		f, obj, err := s.OpenLocal(key)
		if errors.Is(err, objstore.ErrNotFound) {
			http.NotFound(w, r)
			return
		} else if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", obj.ContentType)
		if obj.CacheControl != "" {
			w.Header().Set("Cache-Control", obj.CacheControl)
		}
		w.Header().Set("ETag", strconv.Quote(obj.ETag))
		http.ServeContent(w, r, "", obj.ModTime, f)
	})
}

func TestLocal(t *testing.T) {
	s, _ := newLocal(t)
	srv := httptest.NewServer(fileServer(s))
	t.Cleanup(srv.Close)
	conformance(t, harness{s: s, mode: "local", baseURL: srv.URL})
}

func TestNewLocalConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  objstore.LocalConfig
		ok   bool
	}{
		{"valid", objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey}, true},
		{"creates missing dir", objstore.LocalConfig{Dir: filepath.Join(dir, "x", "y"), SigningKey: testSigningKey}, true},
		{"public base", objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey, PublicBaseURL: "https://api.example.com/"}, true},
		{"no dir", objstore.LocalConfig{SigningKey: testSigningKey}, false},
		{"short key", objstore.LocalConfig{Dir: dir, SigningKey: []byte("short")}, false},
		{"relative public base", objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey, PublicBaseURL: "api.example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := objstore.NewLocal(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewLocal: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && s.Mode() != "local" {
				t.Fatalf("Mode = %q", s.Mode())
			}
		})
	}
}

func TestLocalURLBase(t *testing.T) {
	dir := t.TempDir()
	withPublic, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey, PublicBaseURL: "https://pub.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	without, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: testSigningKey})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		s        *objstore.Store
		base     string
		wantHead string
	}{
		{"explicit base wins", withPublic, "http://req.example.com/", "http://req.example.com/files/a/b.png?"},
		{"configured base", withPublic, "", "https://pub.example.com/files/a/b.png?"},
		{"root-relative", without, "", "/files/a/b.png?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.s.URL(t.Context(), "a/b.png", time.Minute, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u, tt.wantHead) {
				t.Fatalf("URL = %q, want prefix %q", u, tt.wantHead)
			}
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			q := parsed.Query()
			if err := tt.s.VerifyFileURL("a/b.png", q.Get("expires"), q.Get("sig"), time.Now()); err != nil {
				t.Fatalf("VerifyFileURL of a fresh URL: %v", err)
			}
		})
	}
}

func TestLocalVerifyFileURL(t *testing.T) {
	s, dir := newLocal(t)
	const key = "img/x.png"
	u, err := s.URL(t.Context(), key, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	exp, sig := parsed.Query().Get("expires"), parsed.Query().Get("sig")
	expN, _ := strconv.ParseInt(exp, 10, 64)
	now := time.Now()

	otherKeyStore, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: []byte("a-different-signing-key-entirely")})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		s       *objstore.Store
		key     string
		expires string
		sig     string
		now     time.Time
		want    error
	}{
		{"valid", s, key, exp, sig, now, nil},
		{"valid at the last second", s, key, exp, sig, time.Unix(expN, 0), nil},
		{"expired", s, key, exp, sig, time.Unix(expN+1, 0), objstore.ErrExpired},
		{"other key", s, "img/y.png", exp, sig, now, objstore.ErrBadSignature},
		{"flipped sig", s, key, exp, flipLastHex(sig), now, objstore.ErrBadSignature},
		{"upper-case sig", s, key, exp, strings.ToUpper(sig), now, nil},
		{"truncated sig", s, key, exp, sig[:len(sig)-2], now, objstore.ErrBadSignature},
		{"non-hex sig", s, key, exp, "zz" + sig[2:], now, objstore.ErrBadSignature},
		{"empty sig", s, key, exp, "", now, objstore.ErrBadSignature},
		{"later expires", s, key, strconv.FormatInt(expN+3600, 10), sig, now, objstore.ErrBadSignature},
		{"non-canonical expires", s, key, "+" + exp, sig, now, objstore.ErrBadSignature},
		{"non-numeric expires", s, key, "soon", sig, now, objstore.ErrBadSignature},
		{"empty expires", s, key, "", sig, now, objstore.ErrBadSignature},
		{"different signing key", otherKeyStore, key, exp, sig, now, objstore.ErrBadSignature},
		{"invalid key", s, "../etc/passwd", exp, sig, now, objstore.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.VerifyFileURL(tt.key, tt.expires, tt.sig, tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyFileURL = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestLocalNoEscape plants symlinks pointing outside Dir: no operation may
// read or write through them.
func TestLocalNoEscape(t *testing.T) {
	s, dir := newLocal(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "linkfile")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	if _, err := s.Put(ctx, "linkdir/new", strings.NewReader("x"), 1, "", ""); err == nil {
		t.Error("Put through a symlinked directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written outside Dir: %v", err)
	}
	if _, _, err := s.Get(ctx, "linkdir/secret"); err == nil {
		t.Error("Get through a symlinked directory succeeded")
	}
	if _, _, err := s.Get(ctx, "linkfile"); err == nil {
		t.Error("Get of a symlink to an outside file succeeded")
	}
	if f, _, err := s.OpenLocal("linkfile"); err == nil {
		f.Close()
		t.Error("OpenLocal of a symlink to an outside file succeeded")
	}
	if _, err := s.Stat(ctx, "linkdir/secret"); err == nil {
		t.Error("Stat through a symlinked directory succeeded")
	}
	_ = s.Delete(ctx, "linkdir/secret")
	if b, err := os.ReadFile(secret); err != nil || string(b) != "outside" {
		t.Errorf("outside file changed: %q, %v", b, err)
	}
	if _, err := s.DeleteOlderThan(ctx, "", 0); err != nil {
		t.Errorf("sweep over planted symlinks: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("sweep touched the outside file: %v", err)
	}
}

// TestLocalSidecars checks the on-disk layout: one object file, one hidden
// sidecar, no temp files left by successful or failed writes.
func TestLocalSidecars(t *testing.T) {
	s, dir := newLocal(t)
	ctx := t.Context()
	mustPut(t, s, "d/obj.webp", []byte("webp"), "image/webp", "max-age=5")
	_, _ = s.Put(ctx, "d/failed", strings.NewReader("short"), 99, "", "")

	names := listDir(t, filepath.Join(dir, "d"))
	want := []string{".obj.webp.meta.json", "obj.webp"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files in d/ = %v, want %v", names, want)
	}

	// A file copied in by hand has no sidecar: the type comes from the
	// extension.
	if err := os.WriteFile(filepath.Join(dir, "d", "manual.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, "d/manual.png")
	if err != nil || st.ContentType != "image/png" || st.Size != 3 {
		t.Fatalf("Stat of sidecar-less file: %+v, %v", st, err)
	}

	if err := s.Delete(ctx, "d/obj.webp"); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, filepath.Join(dir, "d")); fmt.Sprint(names) != "[manual.png]" {
		t.Fatalf("after Delete: %v, want the sidecar gone too", names)
	}
}

// TestLocalRetentionBackdated uses real month-old mtimes, which S3 cannot
// fake, and checks sidecars, empty directories and stale temp files go too.
func TestLocalRetentionBackdated(t *testing.T) {
	s, dir := newLocal(t)
	ctx := t.Context()
	old := time.Now().Add(-40 * 24 * time.Hour)
	mustPut(t, s, "images/2024/01/old.png", []byte("old"), "image/png", "")
	mustPut(t, s, "images/2024/02/new.png", []byte("new"), "image/png", "")
	mustPut(t, s, "exports/old.csv", []byte("old"), "text/csv", "")
	for _, p := range []string{"images/2024/01/old.png", "exports/old.csv"} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	staleTmp := filepath.Join(dir, "images", "2024", "02", ".tmp-crashed")
	if err := os.WriteFile(staleTmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(staleTmp, old, old); err != nil {
		t.Fatal(err)
	}

	n, err := s.DeleteOlderThan(ctx, "images/", 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", "2024", "01")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("emptied directory left behind: %v", err)
	}
	if _, err := os.Stat(staleTmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file left behind: %v", err)
	}
	if _, err := s.Stat(ctx, "images/2024/02/new.png"); err != nil {
		t.Errorf("new object: %v", err)
	}
	if _, err := s.Stat(ctx, "exports/old.csv"); err != nil {
		t.Errorf("object outside the prefix: %v", err)
	}
	// A partial-segment prefix matches like an S3 prefix.
	n, err = s.DeleteOlderThan(ctx, "exp", 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("DeleteOlderThan(\"exp\") = %d, %v; want 1, nil", n, err)
	}
}

// TestLocalConcurrentOverwrite races writers of one key against readers:
// every read must pair bytes and metadata from the same write.
func TestLocalConcurrentOverwrite(t *testing.T) {
	s, _ := newLocal(t)
	ctx := t.Context()
	const key = "race/obj"
	mustPut(t, s, key, []byte("a"), "text/a", "")
	var wg sync.WaitGroup
	for _, v := range []string{"a", "b", "c"} {
		wg.Go(func() {
			for range 50 {
				data := bytes.Repeat([]byte(v), 1000)
				if _, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "text/"+v, ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for range 100 {
				rc, obj, err := s.Get(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if "text/"+string(b[:1]) != obj.ContentType || int64(len(b)) != obj.Size {
					t.Errorf("read %d bytes of %q with %q, size %d", len(b), b[:1], obj.ContentType, obj.Size)
					return
				}
			}
		})
	}
	wg.Wait()
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
