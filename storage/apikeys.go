package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Scopes a key can hold.
const (
	ScopeChat            = "chat"
	ScopeTokenAnalysis   = "token-analysis"
	ScopeImages          = "images"
	ScopeImageVariations = "images:variations"
	ScopePayments        = "payments"
	ScopeAdmin           = "admin"
)

// AllScopes lists every scope, in the order they are shown.
func AllScopes() []string {
	return []string{ScopeChat, ScopeTokenAnalysis, ScopeImages, ScopeImageVariations, ScopePayments, ScopeAdmin}
}

// Key errors.
var (
	ErrKeyNotFound  = errors.New("storage: api key not found")
	ErrUnknownScope = errors.New("storage: unknown scope")
	// ErrKeyCorrupt is a key record with a field that does not parse. Such a key is refused:
	// reading a garbled rpm as 0 would make it unlimited, a garbled revoked_at would unrevoke it.
	ErrKeyCorrupt = errors.New("storage: api key record corrupt")
)

// APIKey is a key's record. The plaintext is never stored: only its SHA-256 (a key carries 256
// random bits, so a fast hash is as safe as a slow one and keeps lookups cheap).
type APIKey struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Partner binds the key to a payments partner: it proves the caller is that partner
	// (its discount, its users' prepaid credits). "" for ordinary keys.
	Partner string   `json:"partner,omitempty"`
	Scopes  []string `json:"scopes"`
	RPM     int      `json:"rpm"`
	// MaxJobs and MaxStreams cap the jobs in flight and the open streams the key may hold at
	// once: 0 means the service's default, a negative value no cap.
	MaxJobs    int        `json:"max_jobs,omitempty"`
	MaxStreams int        `json:"max_streams,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Active tells whether the key may be used at now.
func (k APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// HasScope tells whether the key holds scope.
func (k APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// NewKeyParams are the caller's choices for a new key.
type NewKeyParams struct {
	Name, Owner string
	Partner     string // a payments partner the key stands for, or ""
	Scopes      []string
	TTL         time.Duration // 0: never expires
	RPM         int
	// MaxJobs, MaxStreams: concurrent jobs and streams (0: the service default, < 0: no cap).
	MaxJobs, MaxStreams int
}

// KeyStore keeps API keys in Redis, with a short in-process cache in front of lookups: a revoked
// key stops working within cacheTTL on every replica without a round trip per request.
type KeyStore struct {
	rdb  redis.UniversalClient
	keys Keys
	now  func() time.Time

	cacheTTL time.Duration
	mu       sync.Mutex
	cache    map[string]cachedKey
}

type cachedKey struct {
	key     APIKey
	err     error
	expires time.Time
}

const maxCachedKeys = 10000

// NewKeyStore returns a store; cacheTTL 0 disables the cache.
func NewKeyStore(rdb redis.UniversalClient, keys Keys, cacheTTL time.Duration) *KeyStore {
	return &KeyStore{rdb: rdb, keys: keys, now: time.Now, cacheTTL: cacheTTL, cache: map[string]cachedKey{}}
}

// HashKey is the stored form of a plaintext key.
func HashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// Create makes a key and returns its record and its plaintext, which is shown once and never again.
func (s *KeyStore) Create(ctx context.Context, p NewKeyParams) (APIKey, string, error) {
	for _, sc := range p.Scopes {
		if !slices.Contains(AllScopes(), sc) {
			return APIKey{}, "", fmt.Errorf("%w: %q", ErrUnknownScope, sc)
		}
	}
	secret := make([]byte, 32)
	idBytes := make([]byte, 8)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(idBytes)
	plaintext := "tb_" + hex.EncodeToString(secret)
	now := s.now().UTC().Truncate(time.Second)
	k := APIKey{ID: "key_" + hex.EncodeToString(idBytes), Name: p.Name, Owner: p.Owner, Partner: p.Partner,
		Scopes: slices.Clone(p.Scopes), RPM: p.RPM, MaxJobs: p.MaxJobs, MaxStreams: p.MaxStreams, CreatedAt: now}
	if p.TTL > 0 {
		exp := now.Add(p.TTL)
		k.ExpiresAt = &exp
	}
	// The record first, then the hash that points at it: a crash in between leaves no key that
	// resolves to nothing. (The keys live in different Cluster slots, so this is no transaction.)
	if err := s.rdb.HSet(ctx, s.keys.APIKey(k.ID), encodeKey(k)).Err(); err != nil {
		return APIKey{}, "", fmt.Errorf("storage: create key: %w", err)
	}
	if err := s.rdb.Set(ctx, s.keys.APIKeyByHash(HashKey(plaintext)), k.ID, 0).Err(); err != nil {
		return APIKey{}, "", fmt.Errorf("storage: create key: %w", err)
	}
	if err := s.rdb.SAdd(ctx, s.keys.APIKeyIndex(), k.ID).Err(); err != nil {
		return APIKey{}, "", fmt.Errorf("storage: create key: %w", err)
	}
	return k, plaintext, nil
}

// Lookup resolves a plaintext key. It does not judge the key: callers check Active and scopes.
func (s *KeyStore) Lookup(ctx context.Context, plaintext string) (APIKey, error) {
	h := HashKey(plaintext)
	now := s.now()
	if s.cacheTTL > 0 {
		s.mu.Lock()
		c, ok := s.cache[h]
		s.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.key, c.err
		}
	}
	k, err := s.lookup(ctx, h)
	if s.cacheTTL > 0 && (err == nil || errors.Is(err, ErrKeyNotFound)) {
		s.mu.Lock()
		if len(s.cache) >= maxCachedKeys {
			clear(s.cache) // a crude bound; the cache only saves round trips
		}
		s.cache[h] = cachedKey{key: k, err: err, expires: now.Add(s.cacheTTL)}
		s.mu.Unlock()
	}
	return k, err
}

func (s *KeyStore) lookup(ctx context.Context, hash string) (APIKey, error) {
	id, err := s.rdb.Get(ctx, s.keys.APIKeyByHash(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("storage: lookup key: %w", err)
	}
	return s.Get(ctx, id)
}

// Get reads a key's record by id.
func (s *KeyStore) Get(ctx context.Context, id string) (APIKey, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.APIKey(id)).Result()
	if err != nil {
		return APIKey{}, fmt.Errorf("storage: read key: %w", err)
	}
	if len(m) == 0 {
		return APIKey{}, ErrKeyNotFound
	}
	return decodeKey(id, m)
}

// List returns every key, oldest first.
func (s *KeyStore) List(ctx context.Context) ([]APIKey, error) {
	ids, err := s.rdb.SMembers(ctx, s.keys.APIKeyIndex()).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: list keys: %w", err)
	}
	out := make([]APIKey, 0, len(ids))
	for _, id := range ids {
		k, err := s.Get(ctx, id)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke disables a key for good.
func (s *KeyStore) Revoke(ctx context.Context, id string) error {
	n, err := s.rdb.Exists(ctx, s.keys.APIKey(id)).Result()
	if err != nil {
		return fmt.Errorf("storage: revoke key: %w", err)
	}
	if n == 0 {
		return ErrKeyNotFound
	}
	now := s.now().UTC().Format(time.RFC3339)
	if err := s.rdb.HSet(ctx, s.keys.APIKey(id), "revoked_at", now).Err(); err != nil {
		return fmt.Errorf("storage: revoke key: %w", err)
	}
	return nil
}

func encodeKey(k APIKey) map[string]any {
	m := map[string]any{
		"name": k.Name, "owner": k.Owner, "scopes": strings.Join(k.Scopes, ","),
		"rpm": k.RPM, "created_at": k.CreatedAt.Format(time.RFC3339),
	}
	if k.ExpiresAt != nil {
		m["expires_at"] = k.ExpiresAt.Format(time.RFC3339)
	}
	if k.Partner != "" {
		m["partner"] = k.Partner
	}
	if k.MaxJobs != 0 {
		m["max_jobs"] = k.MaxJobs
	}
	if k.MaxStreams != 0 {
		m["max_streams"] = k.MaxStreams
	}
	return m
}

func decodeKey(id string, m map[string]string) (APIKey, error) {
	k := APIKey{ID: id, Name: m["name"], Owner: m["owner"], Partner: m["partner"]}
	if m["scopes"] != "" {
		k.Scopes = strings.Split(m["scopes"], ",")
	}
	d := keyDecoder{id: id, m: m}
	// rpm is always written (0: unlimited), so a missing one is as corrupt as a garbled one.
	if k.RPM = d.int("rpm", true); k.RPM < 0 {
		d.fail("rpm")
	}
	k.MaxJobs = d.int("max_jobs", false)
	k.MaxStreams = d.int("max_streams", false)
	if created := d.time("created_at"); created != nil {
		k.CreatedAt = *created
	}
	k.ExpiresAt = d.time("expires_at")
	k.RevokedAt = d.time("revoked_at")
	return k, d.err
}

// keyDecoder reads a key record's fields, keeping the first that does not parse.
type keyDecoder struct {
	id  string
	m   map[string]string
	err error
}

func (d *keyDecoder) fail(field string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s has %s %q", ErrKeyCorrupt, d.id, field, d.m[field])
	}
}

// int parses a number field; an absent optional one is 0.
func (d *keyDecoder) int(field string, required bool) int {
	v, ok := d.m[field]
	if !ok && !required {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		d.fail(field)
		return 0
	}
	return n
}

// time parses an optional RFC 3339 field.
func (d *keyDecoder) time(field string) *time.Time {
	v, ok := d.m[field]
	if !ok || v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		d.fail(field)
		return nil
	}
	return &t
}
