package storage

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrHubClosed is returned by Subscribe after Close.
var ErrHubClosed = errors.New("storage: hub closed")

// Hub is one process's single Redis pub/sub connection with in-process fan-out: any number of
// local subscribers share it, so a thousand open streams cost one Redis connection, not a thousand.
type Hub struct {
	rdb redis.UniversalClient
	ps  *redis.PubSub
	buf int

	mu       sync.Mutex
	channels map[string]*hubChannel
	closed   bool
	// wire orders (un)subscriptions: a map change and the command that mirrors it on the
	// connection happen together, so a last subscriber leaving while a new one joins the same
	// channel cannot reach Redis as SUBSCRIBE then UNSUBSCRIBE and leave the newcomer deaf.
	wire sync.Mutex
	// down is set while Redis does not answer the watch's pings; stop ends the watch.
	down atomic.Bool
	stop chan struct{}
}

// HubProbe is how often a Hub pings Redis to notice an outage that its idle pub/sub connection
// would not (go-redis reconnects it silently). A package variable so that tests can shorten it.
var HubProbe = time.Second

type hubChannel struct {
	members   map[chan []byte]struct{}
	ready     chan struct{} // closed when Redis confirms the subscription
	confirmed bool
}

// NewHub opens the shared connection and starts dispatching. buf is each subscriber's queue
// length; a subscriber that falls that far behind loses messages (and must re-read what it needs).
func NewHub(rdb redis.UniversalClient, buf int) *Hub {
	if buf <= 0 {
		buf = 64
	}
	h := &Hub{rdb: rdb, ps: rdb.Subscribe(context.Background()), buf: buf, channels: map[string]*hubChannel{},
		stop: make(chan struct{})}
	go h.loop(h.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)))
	go h.watch(HubProbe)
	return h
}

// watch pings Redis every probe. When Redis stops answering, live messages are being lost, so
// every subscriber gets the empty "re-read" message: its re-read then fails with an outage error
// and it can tell its own client at once instead of waiting silently for the connection to heal.
func (h *Hub) watch(probe time.Duration) {
	t := time.NewTicker(probe)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), probe)
		err := h.rdb.Ping(ctx).Err()
		cancel()
		if wasDown := h.down.Swap(err != nil); err != nil && !wasDown {
			h.broadcast()
		}
	}
}

// Down reports that Redis did not answer the last ping.
func (h *Hub) Down() bool { return h.down.Load() }

func (h *Hub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.channels {
		for ch := range c.members {
			offer(ch, nil)
		}
	}
}

func (h *Hub) loop(in <-chan any) {
	for v := range in {
		switch m := v.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.confirm(m.Channel)
			}
		case *redis.Message:
			h.deliver(m.Channel, []byte(m.Payload))
		}
	}
	h.Close()
}

// confirm marks a subscription active. A second confirmation of the same channel means the
// connection was re-established and messages in between are lost: subscribers get an empty
// message so they re-read the state they wait on.
func (h *Hub) confirm(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.channels[channel]
	if c == nil {
		return
	}
	if !c.confirmed {
		c.confirmed = true
		close(c.ready)
		return
	}
	for ch := range c.members {
		offer(ch, nil)
	}
}

func (h *Hub) deliver(channel string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.channels[channel]; c != nil {
		for ch := range c.members {
			offer(ch, msg)
		}
	}
}

// offer never blocks the shared connection on one slow subscriber.
func offer(ch chan []byte, msg []byte) {
	select {
	case ch <- msg:
	default:
	}
}

// Subscribe joins channel and returns once Redis has confirmed the subscription, so that a message
// published after Subscribe returns is never missed. cancel leaves the channel.
func (h *Hub) Subscribe(ctx context.Context, channel string) (<-chan []byte, func(), error) {
	return h.SubscribeSize(ctx, channel, h.buf)
}

// SubscribeSize is Subscribe with a queue of its own length (a subscriber that can refill what it
// misses, like a stream relay, keeps a short one).
func (h *Hub) SubscribeSize(ctx context.Context, channel string, buf int) (<-chan []byte, func(), error) {
	ch := make(chan []byte, max(buf, 1))
	h.wire.Lock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wire.Unlock()
		return nil, nil, ErrHubClosed
	}
	c := h.channels[channel]
	first := c == nil
	if first {
		c = &hubChannel{members: map[chan []byte]struct{}{}, ready: make(chan struct{})}
		h.channels[channel] = c
	}
	c.members[ch] = struct{}{}
	h.mu.Unlock()

	var once sync.Once
	cancel := func() { once.Do(func() { h.leave(channel, ch) }) }
	if first {
		if err := h.ps.Subscribe(ctx, channel); err != nil {
			h.wire.Unlock()
			cancel()
			return nil, nil, err
		}
	}
	h.wire.Unlock()
	select {
	case <-c.ready:
		return ch, cancel, nil
	case <-ctx.Done():
		cancel()
		return nil, nil, ctx.Err()
	}
}

func (h *Hub) leave(channel string, ch chan []byte) {
	h.wire.Lock()
	defer h.wire.Unlock()
	h.mu.Lock()
	c := h.channels[channel]
	if c == nil {
		h.mu.Unlock()
		return
	}
	delete(c.members, ch)
	last := len(c.members) == 0
	if last {
		delete(h.channels, channel)
	}
	closed := h.closed
	h.mu.Unlock()
	if last && !closed {
		_ = h.ps.Unsubscribe(context.Background(), channel)
	}
}

// Publish sends msg to every subscriber of channel in every process.
func (h *Hub) Publish(ctx context.Context, channel string, msg []byte) error {
	return h.rdb.Publish(ctx, channel, msg).Err()
}

// Subscribers counts the processes (pub/sub connections) subscribed to channel, across replicas.
func (h *Hub) Subscribers(ctx context.Context, channel string) (int64, error) {
	n, err := h.rdb.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, err
	}
	return n[channel], nil
}

// Channels reports how many channels this process is subscribed to (for metrics and tests).
func (h *Hub) Channels() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.channels)
}

// Close drops the connection and closes every subscriber's channel.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.stop)
	for _, c := range h.channels {
		for ch := range c.members {
			close(ch)
		}
	}
	h.channels = map[string]*hubChannel{}
	h.mu.Unlock()
	return h.ps.Close()
}

// Publisher publishes on Redis pub/sub without subscribing (the worker's side of the relay).
type Publisher struct {
	rdb redis.UniversalClient
}

// NewPublisher wraps a Redis client.
func NewPublisher(rdb redis.UniversalClient) *Publisher { return &Publisher{rdb: rdb} }

// Publish sends msg on channel.
func (p *Publisher) Publish(ctx context.Context, channel string, msg []byte) error {
	return p.rdb.Publish(ctx, channel, msg).Err()
}

// PublishIn queues msg on channel in pipe: the worker sends a job's notice in the same round trip
// as its result.
func (p *Publisher) PublishIn(ctx context.Context, pipe redis.Pipeliner, channel string, msg []byte) {
	pipe.Publish(ctx, channel, msg)
}
