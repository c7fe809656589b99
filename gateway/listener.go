package gateway

import (
	"cmp"
	"log/slog"
	"net"
	"sync"

	"github.com/webhookd/webhookd/api"
)

// DefaultMaxConnections is how many connections the API listener holds open at once by default.
const DefaultMaxConnections = 1024

// limitListener accepts at most n connections at once: Accept waits while n are open, so that clients beyond them
// wait in the kernel's backlog instead of each holding a descriptor and a goroutine here.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it is closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// sharedLimits gives the API's quotas the store's limiter when it has one (Redis: every replica draws from the same
// buckets), unless the caller chose a Limiter.
func sharedLimits(l api.Limits, store Store) api.Limits {
	if l.Limiter == nil {
		if sl, ok := store.(api.Limiter); ok {
			l.Limiter = sl
		}
	}
	return l
}

// connectionCap is the connection cap for MaxConnections n (0: the default; negative: none) under a descriptor limit
// of files (0: unknown): at most half of it.
func connectionCap(n, files int, log *slog.Logger) int {
	n = cmp.Or(n, DefaultMaxConnections)
	if n < 0 {
		return 0
	}
	if half := files / 2; files > 0 && n > half {
		log.Warn("connection cap lowered to half the open-file limit; raise ulimit -n for more",
			"max_connections", n, "open_file_limit", files, "cap", max(half, 1))
		return max(half, 1)
	}
	return n
}
