package storage

// In package storage so that the tests drive WalletAuth's clock (expiry without sleeping).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/storage/redistest"
)

const testWallet = "addr1q9dwryatu622vp6nrcs0shvrtzk7nfr55n69438pt6tzmg0g4rwcmvvnlvlsctqa7h9egcsvmp47g0jwq4fel3nckx6ss9yeyk"

func newWalletAuth(t *testing.T) (*WalletAuth, *fakeClock) {
	t.Helper()
	rdb := redistest.Claim(t)
	w := NewWalletAuth(rdb, NewKeys(fmt.Sprintf("test-%d:", time.Now().UnixNano())))
	clock := &fakeClock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	w.now = clock.Now
	return w, clock
}

func TestWalletChallengeIsSingleUse(t *testing.T) {
	ctx := context.Background()
	w, _ := newWalletAuth(t)
	ch, err := w.Challenge(ctx, testWallet, "acme", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Address: " + testWallet, "Partner: acme", "Nonce: ", "Expires: 2026-12-07T12:05:00Z"} {
		if !strings.Contains(ch.Message, want) {
			t.Fatalf("message lacks %q:\n%s", want, ch.Message)
		}
	}
	other, err := w.Challenge(ctx, testWallet, "acme", 5*time.Minute)
	if err != nil || other.Message == ch.Message {
		t.Fatalf("two challenges share a message (nonce not random?): %v", err)
	}

	got, err := w.Redeem(ctx, []byte(ch.Message))
	if err != nil || got.Address != testWallet || got.Partner != "acme" {
		t.Fatalf("redeem = %+v, %v", got, err)
	}
	if _, err := w.Redeem(ctx, []byte(ch.Message)); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("replayed challenge: err = %v", err)
	}
	if _, err := w.Redeem(ctx, []byte(ch.Message+" ")); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("altered message: err = %v", err)
	}
}

func TestWalletChallengeExpires(t *testing.T) {
	ctx := context.Background()
	w, clock := newWalletAuth(t)
	ch, err := w.Challenge(ctx, testWallet, "", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ch.Message, "Partner:") {
		t.Fatalf("a partnerless challenge names a partner:\n%s", ch.Message)
	}
	clock.Add(5 * time.Minute)
	if _, err := w.Redeem(ctx, []byte(ch.Message)); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("expired challenge: err = %v", err)
	}
}

// Fifty concurrent redeems of one challenge: exactly one wins.
func TestWalletChallengeRedeemRace(t *testing.T) {
	ctx := context.Background()
	w, _ := newWalletAuth(t)
	ch, err := w.Challenge(ctx, testWallet, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var wins, losses int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := w.Redeem(ctx, []byte(ch.Message))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrChallengeUnknown):
				losses++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || losses != 49 {
		t.Fatalf("wins %d, losses %d", wins, losses)
	}
}

func TestWalletTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	w, clock := newWalletAuth(t)
	tok, plain, err := w.Issue(ctx, testWallet, "5AE193ABE694A607531E20F85D8358ADE9A474A4F45AC4E15E962DA1", "acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "tbw_") || len(plain) != 4+64 || !strings.HasPrefix(tok.ID, "wtk_") {
		t.Fatalf("token %q id %q", plain, tok.ID)
	}
	if tok.Owner != "wallet:5ae193abe694a607531e20f85d8358ade9a474a4f45ac4e15e962da1" {
		t.Fatalf("owner %q: the credential must be canonical (lower-case)", tok.Owner)
	}
	got, err := w.Lookup(ctx, plain)
	if err != nil || got != tok {
		t.Fatalf("lookup = %+v, %v; want %+v", got, err, tok)
	}
	// The plaintext is not stored anywhere.
	keys, err := w.rdb.Keys(ctx, w.keys.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v, _ := w.rdb.Get(ctx, k).Result(); strings.Contains(k+v, plain[4:]) {
			t.Fatalf("plaintext token stored in %s", k)
		}
	}
	if _, err := w.Lookup(ctx, plain+"0"); !errors.Is(err, ErrWalletTokenInvalid) {
		t.Fatalf("unknown token: err = %v", err)
	}
	clock.Add(time.Hour)
	if _, err := w.Lookup(ctx, plain); !errors.Is(err, ErrWalletTokenInvalid) {
		t.Fatalf("expired token: err = %v", err)
	}
}

func TestWalletTokenRevocation(t *testing.T) {
	ctx := context.Background()
	w, clock := newWalletAuth(t)
	const cred = "5ae193abe694a607531e20f85d8358ade9a474a4f45ac4e15e962da1"
	_, one, _ := w.Issue(ctx, testWallet, cred, "", time.Hour)
	_, two, _ := w.Issue(ctx, testWallet, cred, "", time.Hour)
	_, stranger, _ := w.Issue(ctx, testWallet, strings.Repeat("ab", 28), "", time.Hour)

	if err := w.Revoke(ctx, one); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Lookup(ctx, one); !errors.Is(err, ErrWalletTokenInvalid) {
		t.Fatalf("signed-out token: err = %v", err)
	}
	if _, err := w.Lookup(ctx, two); err != nil {
		t.Fatalf("signing out one token ended another: %v", err)
	}

	if err := w.RevokeAll(ctx, WalletOwner(cred), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Lookup(ctx, two); !errors.Is(err, ErrWalletTokenInvalid) {
		t.Fatalf("revoked-all token: err = %v", err)
	}
	if _, err := w.Lookup(ctx, stranger); err != nil {
		t.Fatalf("revoking one wallet ended another wallet's token: %v", err)
	}
	clock.Add(2 * time.Second)
	_, fresh, _ := w.Issue(ctx, testWallet, cred, "", time.Hour)
	if _, err := w.Lookup(ctx, fresh); err != nil {
		t.Fatalf("a sign-in after revoking all does not work: %v", err)
	}
}

// `tbackend dev` embeds miniredis: sign-in (GETDEL, TTLs) must work there too.
func TestWalletAuthOnMiniredis(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	w := NewWalletAuth(redis.NewClient(&redis.Options{Addr: mr.Addr()}), NewKeys(""))
	ch, err := w.Challenge(ctx, testWallet, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Redeem(ctx, []byte(ch.Message)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Redeem(ctx, []byte(ch.Message)); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("replay on miniredis: %v", err)
	}
}
