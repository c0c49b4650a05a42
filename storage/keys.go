package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Keys builds every Redis key and channel name of ours, one function per kind, all under one
// prefix. Per-owner keys carry the owner id in a hash tag ({…}) so that the multi-key operations
// on one owner land in one Cluster slot.
type Keys struct {
	prefix string
}

// DefaultPrefix is the prefix of every key in production.
const DefaultPrefix = "tb:"

// NewKeys returns a key builder. Tests pass their own prefix to stay apart from each other.
func NewKeys(prefix string) Keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keys{prefix: prefix}
}

// Prefix is the common prefix of all keys.
func (k Keys) Prefix() string { return k.prefix }

func (k Keys) join(parts ...string) string { return k.prefix + strings.Join(parts, ":") }

// APIKey is the record of one API key (hash).
func (k Keys) APIKey(id string) string { return k.join("apikey", "{"+id+"}") }

// APIKeyByHash maps the SHA-256 of a plaintext key to its id (string).
func (k Keys) APIKeyByHash(hash string) string { return k.join("apikey", "hash", hash) }

// APIKeyIndex is the set of all key ids.
func (k Keys) APIKeyIndex() string { return k.join("apikeys") }

// RateLimit is the GCRA state of one key (string: theoretical arrival time).
func (k Keys) RateLimit(keyID string) string { return k.join("rl", "{"+keyID+"}") }

// DistinctLimit is the set of distinct members one key admitted in the current window (set;
// expires with the window).
func (k Keys) DistinctLimit(keyID string) string { return k.join("rld", "{"+keyID+"}") }

// InFlight names who holds the one running piece of work of a key (string; expires).
func (k Keys) InFlight(keyID string) string { return k.join("inflight", "{"+keyID+"}") }

// JobSlots are the jobs one owner ("key:<id>", a wallet owner) has in flight (sorted set: job id
// → the time its slot lapses, ms).
func (k Keys) JobSlots(owner string) string { return k.join("slots", "jobs", "{"+owner+"}") }

// StreamSlots are the event streams one owner has open (sorted set: stream id → the time its slot
// lapses, ms).
func (k Keys) StreamSlots(owner string) string { return k.join("slots", "streams", "{"+owner+"}") }

// Usage is the lifetime usage of one key (hash).
func (k Keys) Usage(keyID string) string { return k.join("usage", "{"+keyID+"}") }

// UsageDay is one key's usage on one UTC day (hash; expires).
func (k Keys) UsageDay(keyID, day string) string { return k.join("usage", "{"+keyID+"}", "d", day) }

// UsageMonth is one key's usage in one UTC month (hash; expires).
func (k Keys) UsageMonth(keyID, month string) string {
	return k.join("usage", "{"+keyID+"}", "m", month)
}

// UsageApplied is the last tally batch each api instance added to one key's usage (hash:
// instance → sequence number; expires), so that a resent batch is not counted twice.
func (k Keys) UsageApplied(keyID string) string { return k.join("usage", "{"+keyID+"}", "applied") }

// Notices is the pub/sub channel on which one api instance hears about finished jobs.
func (k Keys) Notices(instance string) string { return k.join("notices", instance) }

// JobAlive is a running job's heartbeat (string; expires unless its worker refreshes it).
func (k Keys) JobAlive(jobID string) string { return k.join("alive", jobID) }

// DevBootstrap remembers that `tbackend dev` already printed its first key.
func (k Keys) DevBootstrap() string { return k.join("dev", "bootstrap") }

// WalletChallenge is one open sign-in challenge, under the SHA-256 of its message (string
// holding JSON; expires with the challenge).
func (k Keys) WalletChallenge(messageHash string) string {
	return k.join("walletauth", "chal", messageHash)
}

// WalletToken is one wallet bearer token, under the SHA-256 of its plaintext (string holding
// JSON; expires with the token).
func (k Keys) WalletToken(hash string) string { return k.join("walletauth", "token", hash) }

// WalletRevokedBefore is the Unix second before which every token of a wallet owner is revoked
// (string; expires once no such token can still be alive).
func (k Keys) WalletRevokedBefore(owner string) string {
	return k.join("walletauth", "revoked", "{"+owner+"}")
}

// clientPart turns a client-chosen identifier (a session id, a request id) into key material: the
// first 32 hex digits (128 bits) of its SHA-256. Arbitrary client bytes (braces, colons, newlines,
// megabytes) never reach a key, and every such key part has one fixed length.
func clientPart(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Session is one conversation's history (list of JSON messages; expires), scoped to its owner: the
// owner is the hash tag, the client's session id is hashed (see clientPart).
func (k Keys) Session(owner, sessionID string) string {
	return k.join("session", "{"+owner+"}", clientPart(sessionID))
}

// Idempotency maps one owner's request id to the job that serves it (string; expires). The
// owner is the hash tag, the client's request id is hashed (see clientPart).
func (k Keys) Idempotency(owner, requestID string) string {
	return k.join("idem", "{"+owner+"}", clientPart(requestID))
}

// StreamFrames is one job's chat frames (Redis Stream; expires), for replay after a reconnect.
func (k Keys) StreamFrames(jobID string) string { return k.join("frames", "{"+jobID+"}") }

// StreamChannel is the pub/sub channel of one job's live chat frames.
func (k Keys) StreamChannel(jobID string) string { return k.join("stream", jobID) }

// TokenNamed is the cached token-analysis answer for one way of naming a token (network,
// policy id, asset name, token text) and API version: a hash of body and computation time
// (expires). The naming is client text: it is hashed.
func (k Keys) TokenNamed(network, version, naming string) string {
	return k.join("ta", network, "named", "v"+version, clientPart(naming))
}

// TokenResult is the cached token-analysis answer of one asset and API version (hash of body and
// computation time; expires).
func (k Keys) TokenResult(network, version, unit string) string {
	return k.join("ta", network, "result", "v"+version, unit)
}

// TokenPart is one cached part of an asset's (or a policy's) facts (string of JSON; expires).
func (k Keys) TokenPart(network, part, id string) string {
	return k.join("ta", network, "part", part, id)
}

// ---- Payment ledger (storage/ledger) ----
//
// Every money key (invoices, the request → invoice index, tx claims, balances, debit refs and the
// ledger stream) carries the one fixed hash tag {ledger}, so all of them live in one Cluster slot.
// That is deliberate: each ledger script changes state and appends the event to the single ledger
// stream in one atomic step, and a script may only touch keys of one slot. Per-invoice or
// per-wallet tags would split the stream (and a tx claim is global, not per wallet). The price is
// that one Cluster shard carries all payment traffic: a few keys per paid call, far below what one
// Redis node serves. Client-influenced parts (invoice ids from X-Invoice-Id, tx hashes, partners,
// wallets, refs) are hashed as in clientPart, so no client byte reaches a key.

// ledgerTag is the hash tag shared by every ledger key.
const ledgerTag = "{ledger}"

func (k Keys) ledger(kind string, parts ...string) string {
	return k.join("ledger", ledgerTag, kind, clientParts(parts...))
}

// clientParts hashes several client-chosen parts as one, each length-prefixed so that no two
// different tuples ("a|b","c" and "a","b|c") share a key.
func clientParts(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return clientPart(b.String())
}

// LedgerEvents is the append-only ledger of every money event (Redis Stream; never trimmed).
func (k Keys) LedgerEvents() string { return k.join("ledger", ledgerTag, "events") }

// LedgerInvoice is one invoice (hash; expires 30 days after its expiry unless paid and unused).
func (k Keys) LedgerInvoice(id string) string { return k.ledger("inv", id) }

// LedgerRequest maps an unpaid request's RequestKey to its pending invoice id (string; expires
// with the invoice's payment window).
func (k Keys) LedgerRequest(requestKey string) string { return k.ledger("req", requestKey) }

// LedgerTxClaim names the invoice a transaction paid (string; never expires).
func (k Keys) LedgerTxClaim(txHash string) string { return k.ledger("tx", txHash) }

// LedgerAmounts holds the amounts that open invoices to one (payTo, asset) ask for, so that no two
// ask for the same one (sorted set: amount → the time it is free again, ms).
func (k Keys) LedgerAmounts(payTo, asset string) string { return k.ledger("amounts", payTo, asset) }

// LedgerBalance is the prepaid credit balance of a (partner, wallet) (hash; never expires).
func (k Keys) LedgerBalance(partner, wallet string) string { return k.ledger("bal", partner, wallet) }

// LedgerDebit records one debit of a (partner, wallet) by ref and whether it was refunded
// (string; expires with invoices' retention).
func (k Keys) LedgerDebit(partner, wallet, ref string) string {
	return k.ledger("debit", partner, wallet, ref)
}
