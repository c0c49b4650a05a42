package api

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// freshListener keeps track of the connections that have not sent a byte yet, so that a stopping
// api can end them. fasthttp counts such a connection as active (reading its first request), not
// idle, and its graceful stop waits for it until the read timeout (60 s, past the stop's
// deadline); yet HTTP clients open spare connections they may never use (Go's, when a request
// finds an idle connection before its new one is dialed).
type freshListener struct {
	net.Listener
	mu      sync.Mutex
	fresh   map[*freshConn]struct{}
	stopped bool
}

func newFreshListener(ln net.Listener) *freshListener {
	return &freshListener{Listener: ln, fresh: map[*freshConn]struct{}{}}
}

func (l *freshListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	fc := &freshConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fresh[fc] = struct{}{}
	if l.stopped {
		_ = c.SetReadDeadline(time.Now())
	}
	return fc, nil
}

// endFresh ends every connection that has not sent a byte: its read ends as if the client had
// closed it, so fasthttp lets it go without an answer. (One whose first bytes arrive at this very
// moment gets a read timeout instead: a stopping server may refuse it.)
func (l *freshListener) endFresh() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for fc := range l.fresh {
		_ = fc.Conn.SetReadDeadline(time.Now())
	}
}

func (l *freshListener) forget(c *freshConn) {
	l.mu.Lock()
	delete(l.fresh, c)
	l.mu.Unlock()
}

func (l *freshListener) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

// freshConn is a connection of a freshListener.
type freshConn struct {
	net.Conn
	l    *freshListener
	used atomic.Bool // it sent a byte
}

func (c *freshConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	switch {
	case n > 0 && !c.used.Load():
		c.used.Store(true)
		c.l.forget(c)
	case n == 0 && !c.used.Load() && errors.Is(err, os.ErrDeadlineExceeded) && c.l.isStopped():
		return 0, io.EOF
	}
	return n, err
}

func (c *freshConn) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}

// ReadFrom keeps the kernel's zero-copy path (sendfile) for responses read from files.
func (c *freshConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
