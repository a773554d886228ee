package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener lets at most cap(sem) connections be open at once, and at
// most perIP from one client address (clientAddr: an IPv4 address, or an
// IPv6 address's /64). Accept waits for a free slot before taking the next
// connection, so further clients wait in the kernel's backlog instead of
// each costing a goroutine (network.max_connections); a connection past
// its address's cap is closed at once (network.max_connections_per_ip).
//
// It also knows which connections are idle: a connection is busy while a
// request of it is in a handler (withConnBusy marks it, through the
// connection that connContext puts in the request's context), and idle
// otherwise: before its first request, while a client sends its headers
// slowly, and between keep-alive requests. When three quarters of the
// slots or more are taken, shedIdle closes the connections idle for longer
// than a short timeout (as nginx and HAProxy shorten keep-alive under
// load), so that idle, slowloris and keep-alive connections cannot hold
// the slots that clients with requests need.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	perIP     int
	start     time.Time     // the origin of limitConn.idleSince
	done      chan struct{} // closed by Close, to unblock a waiting Accept
	closeOnce sync.Once
	// closed counts the connections this listener closes, by reason.
	closed func(reason string)
	// netErr counts a network error by kind (the 431s of net/http).
	netErr func(kind string)
	// framing makes each connection check its requests' framing
	// (framing.go); only for plain-text connections.
	framing bool

	mu     sync.Mutex // guards byAddr and open
	byAddr map[string]int
	open   map[*limitConn]struct{}
}

func newLimitListener(ln net.Listener, n, perIP int, closed func(reason string)) *limitListener {
	if closed == nil {
		closed = func(string) {}
	}
	return &limitListener{
		Listener: ln, sem: make(chan struct{}, n), perIP: perIP, start: time.Now(),
		done: make(chan struct{}), closed: closed,
		byAddr: map[string]int{}, open: map[*limitConn]struct{}{},
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
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
		addr := clientAddr(c.RemoteAddr().String())
		l.mu.Lock()
		if l.perIP > 0 && l.byAddr[addr] >= l.perIP {
			l.mu.Unlock()
			l.closed("per_ip_limit") // counted before the slot is free again
			<-l.sem
			c.Close()
			continue
		}
		l.byAddr[addr]++
		lc := &limitConn{Conn: c, l: l, addr: addr}
		if l.framing {
			lc.frames = newFramer()
		}
		lc.idleSince.Store(l.sinceStart())
		l.open[lc] = struct{}{}
		l.mu.Unlock()
		return lc, nil
	}
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) sinceStart() int64 { return int64(time.Since(l.start)) }

// underPressure reports whether three quarters of the slots or more are
// taken. Called with l.mu held.
func (l *limitListener) underPressure() bool { return 4*len(l.open) >= 3*cap(l.sem) }

// shedIdle closes the connections idle for at least idle, when the
// listener is under pressure, and returns how many it closed.
func (l *limitListener) shedIdle(idle time.Duration) int {
	now := l.sinceStart()
	var victims []*limitConn
	l.mu.Lock()
	if l.underPressure() {
		for c := range l.open {
			if c.busy.Load() == 0 && now-c.idleSince.Load() >= int64(idle) {
				victims = append(victims, c)
			}
		}
	}
	l.mu.Unlock()
	for _, c := range victims {
		// Counted before the slot is given back: a client served in
		// that slot then always finds the count that made room for it.
		l.closed("idle_under_load")
		c.Close()
	}
	return len(victims)
}

// shedLoop runs shedIdle every quarter of idle until the listener closes.
func (l *limitListener) shedLoop(idle time.Duration) {
	t := time.NewTicker(idle / 4)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			l.shedIdle(idle)
		}
	}
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	addr string
	once sync.Once
	// busy counts the requests of this connection in a handler (HTTP/2
	// has several at once); idleSince is when the last one ended, in
	// nanoseconds since l.start.
	busy      atomic.Int32
	idleSince atomic.Int64
	frames    *framer // nil: not checked (TLS)
}

// Write counts the 431 answers net/http writes itself, past maxHeaderBytes,
// which no handler sees (on plain-text connections: under TLS this
// connection carries ciphertext).
func (c *limitConn) Write(p []byte) (int, error) {
	if c.frames != nil && bytes.HasPrefix(p, []byte("HTTP/1.1 431 ")) {
		if c.l.netErr != nil {
			c.l.netErr("too_large")
		}
	}
	return c.Conn.Write(p)
}

func (c *limitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.frames != nil {
		c.frames.feed(p[:n])
	}
	return n, err
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		if c.l.byAddr[c.addr]--; c.l.byAddr[c.addr] <= 0 {
			delete(c.l.byAddr, c.addr)
		}
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

func (c *limitConn) enter() { c.busy.Add(1) }

func (c *limitConn) leave() {
	c.idleSince.Store(c.l.sinceStart())
	c.busy.Add(-1)
}

// connKey is the context key of a request's *limitConn.
const connKey ctxKey = 100

// connContext is http.Server.ConnContext: it puts the connection's
// *limitConn (under TLS, the one below it) in the context of its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitConn); ok {
		return context.WithValue(ctx, connKey, lc)
	}
	return ctx
}

// withConnBusy marks the request's connection busy while the request is in
// the chain, so that shedIdle leaves it alone.
func (s *Server) withConnBusy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc, _ := r.Context().Value(connKey).(*limitConn)
		if lc == nil {
			next.ServeHTTP(w, r)
			return
		}
		lc.enter()
		defer lc.leave()
		next.ServeHTTP(w, r)
	})
}

// withFraming refuses, with 400 and a closed connection, an HTTP/1 request
// whose framing is ambiguous: Content-Length with Transfer-Encoding, or
// Content-Length repeated (framing.go). Every request passes it in the
// order the connection carried them.
func (s *Server) withFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, _ := r.Context().Value(connKey).(*limitConn); lc != nil && lc.frames != nil && r.ProtoMajor == 1 {
			if why := lc.frames.check(r); why != "" {
				s.metrics.networkErrors.With("bad_framing").Inc()
				writeErrorBody(w, &apiError{status: http.StatusBadRequest, code: "invalid_argument", message: why,
					header: map[string]string{"Connection": "close"}})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// pressureIdle is the idle timeout of connections when the listener is
// under pressure: network.idle_timeout_ms, at most a second.
func (s *Server) pressureIdle() time.Duration {
	if d := s.cfg.Network.IdleTimeout; d > 0 && d < time.Second {
		return d
	}
	return time.Second
}

// clientAddr is the address a client is counted by, for connection caps
// and for rate limits without an identity: an IPv4 address as it is, an
// IPv6 address by its /64 (one host commonly has a whole /64 to pick
// addresses from), or remoteAddr itself when it is not an IP address.
func clientAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip.Is4() {
		return host
	}
	if ip.Is4In6() {
		return ip.Unmap().String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
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
