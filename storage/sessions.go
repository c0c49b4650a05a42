package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string    `json:"role"`
	Content string    `json:"content"`
	Tokens  int       `json:"tokens,omitempty"`
	At      time.Time `json:"at"`
}

// Sessions keeps conversation histories: one Redis list of JSON messages per (owner, session id),
// capped to the newest maxMessages and expiring ttl after the last append. The owner scopes the
// session: another caller who sends the same session id reads and writes a different list.
type Sessions struct {
	rdb         redis.UniversalClient
	keys        Keys
	ttl         time.Duration
	maxMessages int
}

// NewSessions returns a history store. ttl <= 0 keeps histories without expiry; maxMessages <= 0
// keeps every message.
func NewSessions(rdb redis.UniversalClient, keys Keys, ttl time.Duration, maxMessages int) *Sessions {
	return &Sessions{rdb: rdb, keys: keys, ttl: ttl, maxMessages: maxMessages}
}

// History returns owner's messages of sessionID, oldest first: an empty slice when there are none.
func (s *Sessions) History(ctx context.Context, owner, sessionID string) ([]Message, error) {
	raw, err := s.rdb.LRange(ctx, s.keys.Session(owner, sessionID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: read session: %w", err)
	}
	out := make([]Message, 0, len(raw))
	for i, r := range raw {
		var m Message
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			return nil, fmt.Errorf("storage: read session: message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Append adds msgs to the end of owner's session in one atomic step (MULTI: RPUSH, LTRIM to the
// newest maxMessages, EXPIRE ttl), so concurrent appends neither lose nor interleave messages and
// every append restarts the session's time to live. Appending nothing does nothing.
func (s *Sessions) Append(ctx context.Context, owner, sessionID string, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	vals := make([]any, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("storage: append to session: %w", err)
		}
		vals[i] = b
	}
	key := s.keys.Session(owner, sessionID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, vals...)
		if s.maxMessages > 0 {
			p.LTrim(ctx, key, -int64(s.maxMessages), -1)
		}
		if s.ttl > 0 {
			p.PExpire(ctx, key, s.ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: append to session: %w", err)
	}
	return nil
}

// Delete forgets owner's session (no error when there is none).
func (s *Sessions) Delete(ctx context.Context, owner, sessionID string) error {
	if err := s.rdb.Del(ctx, s.keys.Session(owner, sessionID)).Err(); err != nil {
		return fmt.Errorf("storage: delete session: %w", err)
	}
	return nil
}
