package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Wallet sign-in errors.
var (
	// ErrChallengeUnknown: no open challenge has this message (never issued, already used, or
	// expired — callers cannot tell which, and need not: they ask for a new one).
	ErrChallengeUnknown = errors.New("storage: unknown or used sign-in challenge")
	// ErrWalletTokenInvalid: the bearer token is unknown, expired or revoked.
	ErrWalletTokenInvalid = errors.New("storage: invalid wallet token")
)

// WalletChallenge is a sign-in message handed to a wallet to sign (CIP-30 signData). The
// message itself is the nonce's carrier: it is stored under its hash and redeemed once.
type WalletChallenge struct {
	Address   string    `json:"address"` // canonical bech32
	Partner   string    `json:"partner,omitempty"`
	Message   string    `json:"message"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// WalletToken is what a bearer wallet token stands for: the wallet credential a signature
// proved, and the partner it was asked for.
type WalletToken struct {
	ID         string    `json:"id"`         // public name of the token (logs, revocation)
	Owner      string    `json:"owner"`      // WalletOwner(Credential)
	Address    string    `json:"address"`    // the address that signed in
	Credential string    `json:"credential"` // key hash hex (payment key, or stake key for a reward address)
	Partner    string    `json:"partner,omitempty"`
	IssuedAt   time.Time `json:"issuedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// WalletOwner is the owner id of everything a wallet holds (sessions, replays, jobs, credits):
// its proven key credential. The same key proven by a signature or by paying names one owner.
func WalletOwner(credentialHex string) string { return "wallet:" + strings.ToLower(credentialHex) }

// WalletAuth keeps sign-in challenges and wallet tokens. Token plaintexts are never stored:
// only their SHA-256, as for API keys.
type WalletAuth struct {
	rdb  redis.UniversalClient
	keys Keys
	now  func() time.Time
}

// NewWalletAuth returns the store.
func NewWalletAuth(rdb redis.UniversalClient, keys Keys) *WalletAuth {
	return &WalletAuth{rdb: rdb, keys: keys, now: time.Now}
}

// Challenge opens a single-use sign-in challenge for address (and partner) valid for ttl.
func (w *WalletAuth) Challenge(ctx context.Context, address, partner string, ttl time.Duration) (WalletChallenge, error) {
	now := w.now().UTC().Truncate(time.Second)
	ch := WalletChallenge{Address: address, Partner: partner, ExpiresAt: now.Add(ttl)}
	ch.Message = signInMessage(address, partner, randomHex(16), now, ch.ExpiresAt)
	raw, err := json.Marshal(ch)
	if err != nil {
		return WalletChallenge{}, err
	}
	if err := w.rdb.Set(ctx, w.keys.WalletChallenge(messageHash(ch.Message)), raw, ttl).Err(); err != nil {
		return WalletChallenge{}, fmt.Errorf("storage: open challenge: %w", err)
	}
	return ch, nil
}

// signInMessage is the text the wallet shows its user and signs. Everything the token will
// stand for is in it, so a user never signs something other than what they read.
func signInMessage(address, partner, nonce string, issued, expires time.Time) string {
	var b strings.Builder
	b.WriteString("Sign in to T Backend with this wallet.\n\n")
	b.WriteString("Address: " + address + "\n")
	if partner != "" {
		b.WriteString("Partner: " + partner + "\n")
	}
	b.WriteString("Nonce: " + nonce + "\n")
	b.WriteString("Issued: " + issued.Format(time.RFC3339) + "\n")
	b.WriteString("Expires: " + expires.Format(time.RFC3339))
	return b.String()
}

// Redeem takes the challenge whose message is message, once: a second redeem, or one after its
// expiry, is ErrChallengeUnknown. A failed signature check after Redeem still spends it, so one
// challenge allows exactly one attempt.
func (w *WalletAuth) Redeem(ctx context.Context, message []byte) (WalletChallenge, error) {
	raw, err := w.rdb.GetDel(ctx, w.keys.WalletChallenge(messageHash(string(message)))).Bytes()
	if errors.Is(err, redis.Nil) {
		return WalletChallenge{}, ErrChallengeUnknown
	}
	if err != nil {
		return WalletChallenge{}, fmt.Errorf("storage: redeem challenge: %w", err)
	}
	var ch WalletChallenge
	if err := json.Unmarshal(raw, &ch); err != nil || ch.Message != string(message) {
		return WalletChallenge{}, ErrChallengeUnknown
	}
	if !w.now().Before(ch.ExpiresAt) {
		return WalletChallenge{}, ErrChallengeUnknown
	}
	return ch, nil
}

// Issue makes a bearer token for a proven wallet credential and returns it with its plaintext,
// which is shown once.
func (w *WalletAuth) Issue(ctx context.Context, address, credentialHex, partner string, ttl time.Duration) (WalletToken, string, error) {
	now := w.now().UTC().Truncate(time.Second)
	t := WalletToken{ID: "wtk_" + randomHex(8), Owner: WalletOwner(credentialHex), Address: address,
		Credential: strings.ToLower(credentialHex), Partner: partner, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	plaintext := "tbw_" + randomHex(32)
	raw, err := json.Marshal(t)
	if err != nil {
		return WalletToken{}, "", err
	}
	if err := w.rdb.Set(ctx, w.keys.WalletToken(HashKey(plaintext)), raw, ttl).Err(); err != nil {
		return WalletToken{}, "", fmt.Errorf("storage: issue wallet token: %w", err)
	}
	return t, plaintext, nil
}

// Lookup resolves a bearer token: unknown, expired and revoked tokens are ErrWalletTokenInvalid.
func (w *WalletAuth) Lookup(ctx context.Context, plaintext string) (WalletToken, error) {
	raw, err := w.rdb.Get(ctx, w.keys.WalletToken(HashKey(plaintext))).Bytes()
	if errors.Is(err, redis.Nil) {
		return WalletToken{}, ErrWalletTokenInvalid
	}
	if err != nil {
		return WalletToken{}, fmt.Errorf("storage: wallet token: %w", err)
	}
	var t WalletToken
	if err := json.Unmarshal(raw, &t); err != nil || !w.now().Before(t.ExpiresAt) {
		return WalletToken{}, ErrWalletTokenInvalid
	}
	cutoff, err := w.rdb.Get(ctx, w.keys.WalletRevokedBefore(t.Owner)).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return WalletToken{}, fmt.Errorf("storage: wallet token: %w", err)
	}
	if t.IssuedAt.Unix() < cutoff {
		return WalletToken{}, ErrWalletTokenInvalid
	}
	return t, nil
}

// Revoke ends one token (signing out).
func (w *WalletAuth) Revoke(ctx context.Context, plaintext string) error {
	if err := w.rdb.Del(ctx, w.keys.WalletToken(HashKey(plaintext))).Err(); err != nil {
		return fmt.Errorf("storage: revoke wallet token: %w", err)
	}
	return nil
}

// RevokeAll ends every token of owner issued up to now (a lost device, a leaked token). Tokens
// carry their issue second, so the cutoff is the next second: a token issued in the same second
// as the revocation is revoked too, and a later sign-in works again.
func (w *WalletAuth) RevokeAll(ctx context.Context, owner string, maxTTL time.Duration) error {
	cutoff := w.now().Unix() + 1
	if err := w.rdb.Set(ctx, w.keys.WalletRevokedBefore(owner), strconv.FormatInt(cutoff, 10), maxTTL).Err(); err != nil {
		return fmt.Errorf("storage: revoke wallet tokens: %w", err)
	}
	return nil
}

func messageHash(message string) string {
	sum := sha256.Sum256([]byte(message))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}
