package objstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalConfig configures the local-directory backend.
type LocalConfig struct {
	// Dir is the root directory; it is created if missing.
	Dir string
	// SigningKey signs file URLs (HMAC-SHA256); at least 16 bytes. Every
	// process that serves /files/ must share it.
	SigningKey []byte
	// PublicBaseURL (e.g. https://api.example.com) prefixes file URLs when
	// URL is called without a base; may be empty.
	PublicBaseURL string
}

const (
	filePerm = 0o644
	dirPerm  = 0o755

	metaSuffix = ".meta.json"
	tmpPrefix  = ".tmp-"

	// staleTempAge is how old an orphaned temp file (left by a crash
	// mid-write) must be before a sweep removes it, so sweeps never race a
	// write in progress.
	staleTempAge = time.Hour

	// sigContext separates file-URL signatures from anything else that might
	// ever be signed with the same key.
	sigContext = "objstore-file-url-v1\n"
)

type localBackend struct {
	// root confines every file operation to Dir, including through
	// symlinks, so no key or planted link can reach outside it.
	root          *os.Root
	signingKey    []byte
	publicBaseURL string

	// locks pair each object file with its sidecar: writers (rename pair,
	// delete pair) take the write lock and readers the read lock, so a
	// process never sees one writer's bytes with another's metadata.
	locks [64]sync.RWMutex
}

// meta is the sidecar content. Bytes live in the object file itself.
type meta struct {
	ContentType  string `json:"content_type"`
	CacheControl string `json:"cache_control,omitempty"`
}

// NewLocal opens (creating if needed) a directory-backed store.
func NewLocal(cfg LocalConfig) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("objstore: local: Dir is required")
	}
	if len(cfg.SigningKey) < 16 {
		return nil, errors.New("objstore: local: SigningKey must be at least 16 bytes")
	}
	base := strings.TrimRight(cfg.PublicBaseURL, "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("objstore: local: PublicBaseURL %q is not an absolute http(s) URL", cfg.PublicBaseURL)
		}
	}
	if err := os.MkdirAll(cfg.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	lb := &localBackend{root: root, signingKey: bytes.Clone(cfg.SigningKey), publicBaseURL: base}
	return &Store{mode: "local", b: lb, local: lb}, nil
}

func (l *localBackend) lock(key string) *sync.RWMutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &l.locks[h.Sum32()%uint32(len(l.locks))]
}

// metaName is the hidden sidecar next to the object. Keys never have a
// segment starting with ".", so it cannot collide with an object.
func metaName(key string) string {
	dir, name := path.Split(key)
	return dir + "." + name + metaSuffix
}

func (l *localBackend) put(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) (obj Object, err error) {
	dir := path.Dir(key)
	tmp, tmpName, err := l.createTemp(dir)
	if err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}
	var metaTmp string
	defer func() {
		if err != nil {
			tmp.Close()
			l.root.Remove(tmpName)
			if metaTmp != "" {
				l.root.Remove(metaTmp)
			}
		}
	}()

	src := r
	if size >= 0 {
		// One byte past size is enough to notice a reader that is too long.
		src = io.LimitReader(r, size+1)
	}
	n, err := io.Copy(tmp, ctxReader{ctx: ctx, r: src})
	if err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if size >= 0 && n != size {
		return Object{}, fmt.Errorf("objstore: put %q: got %d bytes, declared %d", key, n, size)
	}
	if err = tmp.Sync(); err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if err = tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}

	m := meta{ContentType: contentType, CacheControl: cacheControl}
	if metaTmp, err = l.writeTemp(dir, m); err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}

	mu := l.lock(key)
	mu.Lock()
	err = l.root.Rename(metaTmp, metaName(key))
	if err == nil {
		metaTmp = ""
		err = l.root.Rename(tmpName, key)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = l.root.Stat(key)
	}
	mu.Unlock()
	if err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}
	// The rename is only durable once the directory entry is on disk.
	if err = l.syncDir(dir); err != nil {
		return Object{}, fmt.Errorf("objstore: put %q: %w", key, err)
	}
	return objectFrom(key, fi, m), nil
}

// createTemp creates a hidden temp file in dir (so the final rename stays on
// one filesystem and is atomic). It retries when a concurrent retention sweep
// removed the just-created, still-empty directory.
func (l *localBackend) createTemp(dir string) (*os.File, string, error) {
	var lastErr error
	for range 3 {
		if dir != "." {
			if err := l.root.MkdirAll(dir, dirPerm); err != nil {
				return nil, "", err
			}
		}
		name := path.Join(dir, tmpPrefix+rand.Text())
		f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			return f, name, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
		lastErr = err
	}
	return nil, "", lastErr
}

func (l *localBackend) writeTemp(dir string, m meta) (string, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	f, name, err := l.createTemp(dir)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.root.Remove(name)
		return "", err
	}
	return name, nil
}

func (l *localBackend) syncDir(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some filesystems cannot fsync directories; the data itself is synced.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// readMeta falls back to a type guessed from the extension when the sidecar
// is missing, e.g. for files an operator copied in by hand.
func (l *localBackend) readMeta(key string) meta {
	var m meta
	if data, err := l.root.ReadFile(metaName(key)); err == nil {
		_ = json.Unmarshal(data, &m)
	}
	if m.ContentType == "" {
		m.ContentType = mime.TypeByExtension(path.Ext(key))
		if m.ContentType == "" {
			m.ContentType = defaultContentType
		}
	}
	return m
}

func (l *localBackend) get(_ context.Context, key string) (io.ReadCloser, Object, error) {
	f, obj, err := l.open(key)
	if err != nil {
		return nil, Object{}, err
	}
	return f, obj, nil
}

func (l *localBackend) open(key string) (*os.File, Object, error) {
	mu := l.lock(key)
	mu.RLock()
	defer mu.RUnlock()
	f, err := l.root.Open(key)
	if err != nil {
		return nil, Object{}, mapLocalErr("get", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist // a directory is a key prefix, not an object
	}
	if err != nil {
		f.Close()
		return nil, Object{}, mapLocalErr("get", key, err)
	}
	return f, objectFrom(key, fi, l.readMeta(key)), nil
}

func (l *localBackend) stat(_ context.Context, key string) (Object, error) {
	mu := l.lock(key)
	mu.RLock()
	defer mu.RUnlock()
	fi, err := l.root.Stat(key)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return Object{}, mapLocalErr("stat", key, err)
	}
	return objectFrom(key, fi, l.readMeta(key)), nil
}

func (l *localBackend) remove(_ context.Context, key string) error {
	mu := l.lock(key)
	mu.Lock()
	defer mu.Unlock()
	return l.removeLocked(key)
}

func (l *localBackend) removeLocked(key string) error {
	fi, err := l.root.Lstat(key)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // not an object
	}
	if err := l.root.Remove(key); err != nil && !isNotExist(err) {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if err := l.root.Remove(metaName(key)); err != nil && !isNotExist(err) {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	return nil
}

func (l *localBackend) url(_ context.Context, key string, ttl time.Duration, baseURL string) (string, error) {
	base := strings.TrimRight(baseURL, "/")
	if base == "" {
		base = l.publicBaseURL
	}
	exp := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	// Keys are limited to URL-safe bytes, so they need no escaping.
	return base + "/files/" + key + "?expires=" + exp + "&sig=" + hex.EncodeToString(l.sign(key, exp)), nil
}

func (l *localBackend) sign(key, expires string) []byte {
	mac := hmac.New(sha256.New, l.signingKey)
	mac.Write([]byte(sigContext))
	mac.Write([]byte(key))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(expires))
	return mac.Sum(nil)
}

func (l *localBackend) verify(key, expires, sig string, now time.Time) error {
	exp, err := strconv.ParseInt(expires, 10, 64)
	// Only the canonical form was signed; "+123" or "0123" are tampering.
	if err != nil || strconv.FormatInt(exp, 10) != expires {
		return fmt.Errorf("%w: malformed expires", ErrBadSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed sig", ErrBadSignature)
	}
	if !hmac.Equal(got, l.sign(key, expires)) {
		return ErrBadSignature
	}
	if now.Unix() > exp {
		return fmt.Errorf("%w: at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func (l *localBackend) ping(context.Context) error {
	fi, err := l.root.Stat(".")
	if err != nil {
		return fmt.Errorf("objstore: ping: %w", err)
	}
	if !fi.IsDir() {
		return errors.New("objstore: ping: root is not a directory")
	}
	return nil
}

func (l *localBackend) deleteOlderThan(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	// Walk only the deepest directory the prefix names.
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	tmpCutoff := time.Now().Add(-staleTempAge)
	if cutoff.Before(tmpCutoff) {
		tmpCutoff = cutoff
	}

	deleted := 0
	emptied := map[string]bool{}
	err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && isNotExist(err) {
				return fs.SkipAll
			}
			if isNotExist(err) {
				return nil // removed concurrently
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p == start {
				return nil
			}
			if strings.HasPrefix(name, ".") ||
				!strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir // cannot hold matching keys
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(name, tmpPrefix) {
			if info, err := d.Info(); err == nil && info.ModTime().Before(tmpCutoff) {
				l.root.Remove(p)
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || !strings.HasPrefix(p, prefix) {
			return nil // sidecars go with their object
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		ok, err := l.removeIfOlder(p, cutoff)
		if err != nil {
			return err
		}
		if ok {
			deleted++
			emptied[path.Dir(p)] = true
		}
		return nil
	})
	l.pruneDirs(emptied)
	if err != nil {
		return deleted, fmt.Errorf("objstore: retention sweep %q: %w", prefix, err)
	}
	return deleted, nil
}

// removeIfOlder re-checks the age under the key lock, so an object that was
// overwritten after the walk saw it survives.
func (l *localBackend) removeIfOlder(key string, cutoff time.Time) (bool, error) {
	mu := l.lock(key)
	mu.Lock()
	defer mu.Unlock()
	fi, err := l.root.Lstat(key)
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return false, err
	}
	if !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	return true, l.removeLocked(key)
}

// pruneDirs removes directories a sweep left empty (deepest first, then
// their parents), so date-sharded layouts do not accumulate empty folders.
// Remove fails on non-empty directories, which is what stops it.
func (l *localBackend) pruneDirs(dirs map[string]bool) {
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	slices.SortFunc(list, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range list {
		for d != "." && d != "/" && d != "" {
			if l.root.Remove(d) != nil {
				break
			}
			d = path.Dir(d)
		}
	}
}

func objectFrom(key string, fi os.FileInfo, m meta) Object {
	return Object{
		Key:          key,
		ContentType:  m.ContentType,
		CacheControl: m.CacheControl,
		Size:         fi.Size(),
		ModTime:      fi.ModTime(),
		// Derived from the file itself rather than stored, so it always
		// matches the bytes being served; every Put renames a new file in,
		// which changes the mtime.
		ETag: strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16),
	}
}

func isNotExist(err error) bool {
	// ENOTDIR: a key whose "directory" is actually an object file.
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func mapLocalErr(op, key string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("objstore: %s %q: %w", op, key, err)
}

// ctxReader stops a local copy when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
