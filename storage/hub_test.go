package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/redistest"
)

// Pub/sub channels are global to the Redis server, not per database: every test uses channel
// names no other test (or test process) can produce.
func uniq(t *testing.T, name string) string {
	return fmt.Sprintf("test-%d-%s:%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-"), name)
}

// hubEnv is a hub on its own named connection (so the test can find and kill it), plus a separate
// client that plays "another process" and inspects the server.
type hubEnv struct {
	rdb  *redis.Client // the claimed test client: publishes and inspects
	hub  *storage.Hub
	name string // CLIENT SETNAME of the hub's connections
	db   int
}

func newHubEnv(t *testing.T, buf int) *hubEnv {
	t.Helper()
	rdb := redistest.Claim(t)
	opts := *rdb.Options()
	opts.ClientName = fmt.Sprintf("tbtest-hub-%d", time.Now().UnixNano())
	hubClient := redis.NewClient(&opts)
	hub := storage.NewHub(hubClient, buf)
	t.Cleanup(func() {
		_ = hub.Close()
		_ = hubClient.Close()
	})
	return &hubEnv{rdb: rdb, hub: hub, name: opts.ClientName, db: opts.DB}
}

type clientInfo struct {
	id   string
	name string
	db   int
	sub  int
}

// pubsubClients lists the server's pub/sub connections on this test's database.
func (e *hubEnv) pubsubClients(t *testing.T) []clientInfo {
	t.Helper()
	s, err := e.rdb.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	var out []clientInfo
	for line := range strings.Lines(s) {
		var ci clientInfo
		ci.db = -1
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				ci.id = v
			case "name":
				ci.name = v
			case "db":
				ci.db, _ = strconv.Atoi(v)
			case "sub":
				ci.sub, _ = strconv.Atoi(v)
			}
		}
		if ci.db == e.db {
			out = append(out, ci)
		}
	}
	return out
}

// hubConns are the pub/sub connections of this test's hub.
func (e *hubEnv) hubConns(t *testing.T) []clientInfo {
	t.Helper()
	var out []clientInfo
	for _, c := range e.pubsubClients(t) {
		if c.name == e.name {
			out = append(out, c)
		}
	}
	return out
}

func (e *hubEnv) numsub(t *testing.T, channel string) int64 {
	t.Helper()
	m, err := e.rdb.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

// recv waits up to 5 s for one message.
func recv(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscriber channel closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
	}
	return nil
}

// quiet asserts that nothing arrives for a short while.
func quiet(t *testing.T, ch <-chan []byte, what string) {
	t.Helper()
	select {
	case m, ok := <-ch:
		t.Fatalf("%s: got %q (open %v), want nothing", what, m, ok)
	case <-time.After(150 * time.Millisecond):
	}
}

func subscribe(t *testing.T, h *storage.Hub, channel string) (<-chan []byte, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch, leave, err := h.Subscribe(ctx, channel)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", channel, err)
	}
	return ch, leave
}

func TestHubDelivers(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx := context.Background()
	a, b := uniq(t, "a"), uniq(t, "b")

	var subsA []<-chan []byte
	for range 3 {
		ch, _ := subscribe(t, e.hub, a)
		subsA = append(subsA, ch)
	}
	subB, _ := subscribe(t, e.hub, b)

	publishers := []struct {
		name    string
		publish func(channel string, msg []byte) error
	}{
		{"another client", func(c string, m []byte) error { return e.rdb.Publish(ctx, c, m).Err() }},
		{"Publisher", func(c string, m []byte) error { return storage.NewPublisher(e.rdb).Publish(ctx, c, m) }},
		{"Hub.Publish", func(c string, m []byte) error { return e.hub.Publish(ctx, c, m) }},
	}
	for _, p := range publishers {
		t.Run(p.name, func(t *testing.T) {
			msg := []byte(`{"via":"` + p.name + `"}`)
			if err := p.publish(a, msg); err != nil {
				t.Fatal(err)
			}
			for i, ch := range subsA {
				if got := recv(t, ch); string(got) != string(msg) {
					t.Fatalf("subscriber %d of a got %q, want %q", i, got, msg)
				}
			}
			quiet(t, subB, "subscriber of b after a publish on a")

			if err := p.publish(b, []byte("for b")); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, subB); string(got) != "for b" {
				t.Fatalf("subscriber of b got %q", got)
			}
			for i, ch := range subsA {
				quiet(t, ch, fmt.Sprint("subscriber ", i, " of a after a publish on b"))
			}
		})
	}

	t.Run("order kept", func(t *testing.T) {
		for i := range 20 {
			if err := e.rdb.Publish(ctx, a, strconv.Itoa(i)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, ch := range subsA {
			for i := range 20 {
				if got := string(recv(t, ch)); got != strconv.Itoa(i) {
					t.Fatalf("message %d = %q: order lost", i, got)
				}
			}
		}
	})
}

func TestHubAcrossProcesses(t *testing.T) {
	// Two hubs stand for two api processes: a publish through one reaches subscribers of both.
	e1 := newHubEnv(t, 0)
	opts := *e1.rdb.Options()
	c2 := redis.NewClient(&opts)
	defer c2.Close()
	h2 := storage.NewHub(c2, 0)
	defer h2.Close()

	ch := uniq(t, "x")
	s1, _ := subscribe(t, e1.hub, ch)
	s2, _ := subscribe(t, h2, ch)
	if err := h2.Publish(context.Background(), ch, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for i, s := range []<-chan []byte{s1, s2} {
		if got := recv(t, s); string(got) != "hello" {
			t.Fatalf("hub %d got %q", i+1, got)
		}
	}
	if n := e1.numsub(t, ch); n != 2 {
		t.Fatalf("NUMSUB = %d, want 2 (one connection per hub)", n)
	}
}

func TestHubSubscribeReturnsWhenActive(t *testing.T) {
	// A message published right after Subscribe returns is never missed.
	e := newHubEnv(t, 0)
	ctx := context.Background()
	for i := range 100 {
		c := uniq(t, strconv.Itoa(i))
		ch, leave := subscribe(t, e.hub, c)
		if err := e.rdb.Publish(ctx, c, "m").Err(); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, ch); string(got) != "m" {
			t.Fatalf("iteration %d: got %q", i, got)
		}
		leave()
	}
}

func TestHubOneConnection(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx := context.Background()
	if n := len(e.hubConns(t)); n != 0 {
		t.Fatalf("%d pub/sub connections before any subscription", n)
	}
	const channels, perChannel = 50, 4
	names := make([]string, channels)
	for i := range names {
		names[i] = uniq(t, strconv.Itoa(i))
	}
	subs := make([][]<-chan []byte, channels)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, channels*perChannel)
	for i := range channels {
		for range perChannel {
			wg.Go(func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				ch, _, err := e.hub.Subscribe(sctx, names[i])
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				subs[i] = append(subs[i], ch)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Subscribe: %v", err)
	}

	conns := e.pubsubClients(t)
	if len(conns) != 1 {
		t.Fatalf("%d pub/sub connections on db %d for %d subscribers, want 1: %+v", len(conns), e.db, channels*perChannel, conns)
	}
	if conns[0].name != e.name || conns[0].sub != channels {
		t.Fatalf("pub/sub connection %+v: want the hub's, subscribed to %d channels", conns[0], channels)
	}
	if got := e.hub.Channels(); got != channels {
		t.Fatalf("Channels() = %d, want %d", got, channels)
	}
	for _, n := range names {
		if got := e.numsub(t, n); got != 1 {
			t.Fatalf("NUMSUB %s = %d, want 1", n, got)
		}
	}

	for i, n := range names {
		if err := e.rdb.Publish(ctx, n, "msg-"+strconv.Itoa(i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range names {
		if len(subs[i]) != perChannel {
			t.Fatalf("channel %d has %d subscribers", i, len(subs[i]))
		}
		for _, ch := range subs[i] {
			if got, want := string(recv(t, ch)), "msg-"+strconv.Itoa(i); got != want {
				t.Fatalf("subscriber of channel %d got %q, want %q", i, got, want)
			}
			select {
			case m := <-ch:
				t.Fatalf("subscriber of channel %d got a second message %q", i, m)
			default:
			}
		}
	}
}

func TestHubCancel(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx := context.Background()
	c := uniq(t, "c")
	other := uniq(t, "other")
	ch1, leave1 := subscribe(t, e.hub, c)
	ch2, leave2 := subscribe(t, e.hub, c)
	chOther, _ := subscribe(t, e.hub, other)

	leave1()
	if n := e.numsub(t, c); n != 1 {
		t.Fatalf("NUMSUB after one of two left = %d, want 1", n)
	}
	if err := e.rdb.Publish(ctx, c, "after-1").Err(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch2); string(got) != "after-1" {
		t.Fatalf("remaining subscriber got %q", got)
	}
	quiet(t, ch1, "subscriber that left")

	leave2()
	leave2() // twice is harmless
	leave1()
	testwait.For(t, "NUMSUB drops to 0 after the last subscriber left", 5*time.Second, func() bool { return e.numsub(t, c) == 0 })
	if got := e.hub.Channels(); got != 1 {
		t.Fatalf("Channels() = %d, want 1 (the other channel)", got)
	}
	if err := e.rdb.Publish(ctx, other, "still here").Err(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, chOther); string(got) != "still here" {
		t.Fatalf("other channel got %q", got)
	}

	// The channel can be joined again.
	ch3, leave3 := subscribe(t, e.hub, c)
	defer leave3()
	if err := e.rdb.Publish(ctx, c, "again").Err(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch3); string(got) != "again" {
		t.Fatalf("resubscribed subscriber got %q", got)
	}
}

func TestHubSlowSubscriber(t *testing.T) {
	// A subscriber that does not read loses messages past its buffer; nobody else waits for it.
	const buf = 2
	e := newHubEnv(t, buf)
	ctx := context.Background()
	c := uniq(t, "slow")
	fast, _ := subscribe(t, e.hub, c)
	slow, _ := subscribe(t, e.hub, c)
	const n = 20
	for i := range n {
		if err := e.rdb.Publish(ctx, c, strconv.Itoa(i)).Err(); err != nil {
			t.Fatal(err)
		}
		// The fast reader keeps up while the slow one's buffer is full.
		if m := string(recv(t, fast)); m != strconv.Itoa(i) {
			t.Fatalf("fast subscriber message %d = %q", i, m)
		}
	}
	if len(slow) != buf {
		t.Fatalf("slow subscriber holds %d messages, want its buffer of %d", len(slow), buf)
	}
	for i := range buf {
		if m := <-slow; string(m) != strconv.Itoa(i) {
			t.Fatalf("slow subscriber message %d = %q, want the oldest ones", i, m)
		}
	}
}

func TestHubReconnectResync(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx := context.Background()
	a, b := uniq(t, "a"), uniq(t, "b")
	a1, _ := subscribe(t, e.hub, a)
	a2, _ := subscribe(t, e.hub, a)
	b1, _ := subscribe(t, e.hub, b)

	conns := e.hubConns(t)
	if len(conns) != 1 {
		t.Fatalf("hub has %d pub/sub connections, want 1", len(conns))
	}
	old := conns[0].id
	if err := e.rdb.Do(ctx, "CLIENT", "KILL", "ID", old).Err(); err != nil {
		t.Fatalf("CLIENT KILL ID %s: %v", old, err)
	}

	// Every subscriber hears "messages may have been lost": an empty message.
	for name, ch := range map[string]<-chan []byte{"a1": a1, "a2": a2, "b1": b1} {
		if m := recv(t, ch); len(m) != 0 {
			t.Fatalf("%s: first message after the connection dropped = %q, want an empty resync", name, m)
		}
	}
	conns = e.hubConns(t)
	if len(conns) != 1 || conns[0].id == old {
		t.Fatalf("after reconnect: connections %+v, want one new one (old id %s)", conns, old)
	}
	for _, c := range []string{a, b} {
		if n := e.numsub(t, c); n != 1 {
			t.Fatalf("NUMSUB %s after reconnect = %d, want 1", c, n)
		}
	}
	// Delivery resumes.
	if err := e.rdb.Publish(ctx, a, "after").Err(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan []byte{"a1": a1, "a2": a2} {
		if m := recv(t, ch); string(m) != "after" {
			t.Fatalf("%s after reconnect got %q", name, m)
		}
	}
	quiet(t, b1, "b after a publish on a")
	// And new subscriptions work on the new connection.
	c := uniq(t, "c")
	c1, _ := subscribe(t, e.hub, c)
	if err := e.rdb.Publish(ctx, c, "new").Err(); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, c1); string(m) != "new" {
		t.Fatalf("new subscriber after reconnect got %q", m)
	}
}

func TestHubClose(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx := context.Background()
	a := uniq(t, "a")
	ch1, leave1 := subscribe(t, e.hub, a)
	ch2, _ := subscribe(t, e.hub, uniq(t, "b"))
	if len(e.hubConns(t)) != 1 {
		t.Fatal("no hub connection")
	}
	if err := e.hub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, ch := range []<-chan []byte{ch1, ch2} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatalf("subscriber %d: got a message, want its channel closed", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d: channel not closed", i)
		}
	}
	if _, _, err := e.hub.Subscribe(ctx, a); !errors.Is(err, storage.ErrHubClosed) {
		t.Fatalf("Subscribe after Close: err = %v, want ErrHubClosed", err)
	}
	if err := e.hub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	leave1() // leaving after Close is harmless
	if got := e.hub.Channels(); got != 0 {
		t.Fatalf("Channels() after Close = %d", got)
	}
	testwait.For(t, "the hub's connection closes", 5*time.Second, func() bool { return len(e.hubConns(t)) == 0 })
}

func TestHubSubscribeCanceledContext(t *testing.T) {
	e := newHubEnv(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := uniq(t, "c")
	ch, leave, err := e.hub.Subscribe(ctx, c)
	if err == nil {
		// Redis may confirm before the select notices the context: then it is a normal subscription.
		leave()
		if ch == nil {
			t.Fatal("nil channel without an error")
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// Either way nothing stays subscribed.
	testwait.For(t, "no channel left behind", 5*time.Second, func() bool { return e.hub.Channels() == 0 && e.numsub(t, c) == 0 })
	// And the hub still works.
	ch2, _ := subscribe(t, e.hub, c)
	if err := e.rdb.Publish(context.Background(), c, "ok").Err(); err != nil {
		t.Fatal(err)
	}
	// The abandoned subscription's late confirmation may make the hub announce a resync (an
	// empty message: "re-read what you wait for"); the message itself must still arrive.
	m := recv(t, ch2)
	if len(m) == 0 {
		m = recv(t, ch2)
	}
	if string(m) != "ok" {
		t.Fatalf("got %q", m)
	}
}

func TestHubRejoinWhileLeaving(t *testing.T) {
	// One subscriber leaves a channel while another joins it (a client reconnecting to a stream,
	// say). Whatever the interleaving, the newcomer must receive what is published afterwards.
	e := newHubEnv(t, 0)
	ctx := context.Background()
	const rounds, parallel = 250, 8
	for i := range rounds {
		names := make([]string, parallel)
		leaves := make([]func(), parallel)
		for j := range parallel {
			names[j] = uniq(t, fmt.Sprint(i, "-", j))
			_, leaves[j] = subscribe(t, e.hub, names[j])
		}
		chans := make([]<-chan []byte, parallel)
		errs := make([]error, parallel)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j := range parallel {
			wg.Go(func() {
				<-start
				leaves[j]()
			})
			wg.Go(func() {
				<-start
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				chans[j], _, errs[j] = e.hub.Subscribe(sctx, names[j])
			})
		}
		close(start)
		wg.Wait()
		for j := range parallel {
			if errs[j] != nil {
				t.Fatalf("round %d: Subscribe: %v", i, errs[j])
			}
			if err := e.rdb.Publish(ctx, names[j], "m").Err(); err != nil {
				t.Fatal(err)
			}
		}
		for j := range parallel {
			select {
			case m := <-chans[j]:
				if string(m) != "m" {
					t.Fatalf("round %d: got %q", i, m)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("round %d: the new subscriber never got the message (NUMSUB %d)",
					i, e.numsub(t, names[j]))
			}
		}
	}
}
