package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
)

// limitListener lets at most cap(sem) connections be open at once. Accept
// waits for a free slot before taking the next connection, so further
// clients wait in the kernel's backlog instead of each costing a goroutine
// (network.max_connections).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close, to unblock a waiting Accept
	closeOnce sync.Once
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
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
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

// serverErrorLog receives net/http's own error lines (failed TLS
// handshakes, timeouts, resets), counts them in
// amaters_network_errors_total{kind} and logs them at debug level: they are
// the clients' doing, and a scanner could otherwise flood the log.
type serverErrorLog struct{ s *Server }

func (e serverErrorLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	kind := "other"
	switch {
	case strings.Contains(line, "TLS handshake error"):
		kind = "tls_handshake"
	case strings.Contains(line, "timeout"):
		kind = "timeout"
	case strings.Contains(line, "connection reset"), strings.Contains(line, "broken pipe"):
		kind = "reset"
	}
	e.s.metrics.networkErrors.With(kind).Inc()
	e.s.log.Debug("http server", slog.String("kind", kind), slog.String("error", line))
	return len(p), nil
}
