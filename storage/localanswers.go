package storage

import (
	"container/list"
	"sync"
	"time"
)

// localAnswers is a small in-process copy of cached token answers, by their Redis key: a hot
// token is then answered without reading Redis. Entries live ttl from when they were read (an
// answer refreshed on another api is seen here within ttl) and the bodies together stay under
// maxBytes, the least recently used going first. Bodies are shared: callers must not modify them.
type localAnswers struct {
	ttl      time.Duration
	maxBytes int
	now      func() time.Time

	mu    sync.Mutex
	bytes int
	order *list.List // of *localAnswer, most recently used first
	byKey map[string]*list.Element
}

type localAnswer struct {
	key     string
	body    []byte
	at      time.Time
	expires time.Time
}

func newLocalAnswers(ttl time.Duration, maxBytes int) *localAnswers {
	return &localAnswers{ttl: ttl, maxBytes: maxBytes, now: time.Now, order: list.New(), byKey: map[string]*list.Element{}}
}

// get is key's answer when a fresh copy is here.
func (l *localAnswers) get(key string) ([]byte, time.Time, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byKey[key]
	if !ok {
		return nil, time.Time{}, false
	}
	a := e.Value.(*localAnswer)
	if !now.Before(a.expires) {
		l.remove(e)
		return nil, time.Time{}, false
	}
	l.order.MoveToFront(e)
	return a.body, a.at, true
}

// put keeps a copy of key's answer (replacing any), unless the body alone exceeds the bound.
func (l *localAnswers) put(key string, body []byte, at time.Time) {
	if len(body) > l.maxBytes {
		return
	}
	a := &localAnswer{key: key, body: body, at: at, expires: l.now().Add(l.ttl)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[key]; ok {
		l.remove(e)
	}
	l.byKey[key] = l.order.PushFront(a)
	l.bytes += len(body)
	for l.bytes > l.maxBytes {
		l.remove(l.order.Back())
	}
}

// forget drops key's copy, if any.
func (l *localAnswers) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[key]; ok {
		l.remove(e)
	}
}

// remove drops an entry; l.mu is held.
func (l *localAnswers) remove(e *list.Element) {
	a := l.order.Remove(e).(*localAnswer)
	delete(l.byKey, a.key)
	l.bytes -= len(a.body)
}
