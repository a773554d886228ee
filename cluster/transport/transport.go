package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Paths and headers; part of the wire protocol between members.
const (
	pathMessages = "/raft/v1/messages"
	pathSnapshot = "/raft/v1/snapshot"
	headerFrom   = "Amaters-Peer-From"
	headerTo     = "Amaters-Peer-To"
)

// Handler receives what peers send. The node implements it.
type Handler interface {
	// Process steps a message from a peer into raft.
	Process(ctx context.Context, m *pb.Message) error
	// ReceiveSnapshot stores the state-machine data that travels with a
	// MsgSnap, then steps m. It returns once both are done.
	ReceiveSnapshot(ctx context.Context, m *pb.Message, data io.Reader) error
	// ReportUnreachable tells raft that a send to a peer failed.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to a peer ended.
	ReportSnapshot(id uint64, failed bool)
}

// Options configure New. The zero value is the defaults, except ID.
type Options struct {
	// ID is this member's raft id; messages for any other id are refused.
	ID uint64
	// TLS, when set, turns on mutual TLS: its Certificates are this
	// member's, its RootCAs the peer CA, which also verifies peers'
	// client certificates. Nil means cleartext HTTP/2 (h2c).
	TLS *tls.Config
	// InsecurePeers accepts cleartext peer requests from non-loopback
	// addresses; without it and without TLS only loopback peers are
	// served (protected mode).
	InsecurePeers bool
	// MaxMessageBytes bounds one decoded message; 0 means 64 MiB.
	MaxMessageBytes int64
	// BatchBytes is the size at which a sender stops adding messages to
	// one request; 0 means 1 MiB.
	BatchBytes int
	// QueueLen is the number of messages queued per peer before more are
	// dropped; 0 means 4096.
	QueueLen int
	// RequestTimeout bounds one batch request; 0 means 5 s.
	RequestTimeout time.Duration
	// Logger receives send failures (once per peer until it recovers);
	// nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 64 << 20
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 1 << 20
	}
	if o.QueueLen == 0 {
		o.QueueLen = 4096
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats are the transport's counters.
type Stats struct {
	Peers map[uint64]PeerStats
	// Refused counts requests refused: not a member, a certificate that
	// does not match, a message not from the sender or not for us, or a
	// non-loopback address in protected mode.
	Refused uint64
	// Malformed counts requests with an undecodable or oversize message.
	Malformed uint64
	// Received counts messages handed to the Handler.
	Received uint64
	// DroppedUnknown counts outgoing messages for ids that are not peers.
	DroppedUnknown uint64
}

// PeerStats are the counters of one peer.
type PeerStats struct {
	URL       string
	Sent      uint64 // messages delivered
	Failures  uint64 // failed requests
	Dropped   uint64 // messages dropped because the queue was full
	Reachable bool   // the last request succeeded
}

// Transport sends raft messages to peers and serves theirs. It is safe
// for concurrent use. The zero value is not usable; call New.
type Transport struct {
	opts   Options
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex // guards peers, removed, handler and closed
	peers   map[uint64]*peer
	removed map[uint64]bool
	handler Handler
	closed  bool

	refused, malformed, received, droppedUnknown atomic.Uint64
}

type peer struct {
	id       uint64
	url      string
	host     string
	queue    chan *pb.Message
	cancel   context.CancelFunc
	snapBusy atomic.Bool

	sent, failures, dropped atomic.Uint64
	reachable               atomic.Bool
}

// New returns a transport that sends nothing until peers are added and
// serves nothing until Start.
func New(opts Options) (*Transport, error) {
	if opts.ID == 0 {
		return nil, errors.New("transport: ID must be set")
	}
	opts = opts.withDefaults()
	rt := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: opts.RequestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: opts.RequestTimeout,
		Protocols:           new(http.Protocols),
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     2 * time.Minute,
	}
	if opts.TLS != nil {
		c := opts.TLS.Clone()
		c.MinVersion = tls.VersionTLS13
		rt.TLSClientConfig = c
		rt.Protocols.SetHTTP2(true)
	} else {
		rt.Protocols.SetUnencryptedHTTP2(true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		opts:    opts,
		client:  &http.Client{Transport: rt},
		ctx:     ctx,
		cancel:  cancel,
		peers:   map[uint64]*peer{},
		removed: map[uint64]bool{},
	}, nil
}

// LoadTLS builds the Options.TLS of a member from PEM files: its
// certificate and key, and the CA that signs every member's certificate.
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("peer CA %s: no certificate found", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

// Start sets the handler of received messages; until then requests are
// answered 503. It returns ErrClosed after Close.
func (t *Transport) Start(h Handler) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	t.handler = h
	return nil
}

// NewServer returns an http.Server for the peer listener: HTTP/2 only
// (over TLS with client certificates required when Options.TLS is set,
// cleartext otherwise), with header timeouts. Serve it with Serve, or
// ServeTLS(ln, "", "") with TLS.
func (t *Transport) NewServer() *http.Server {
	s := &http.Server{
		Handler:           t,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(t.opts.Logger.Handler(), slog.LevelWarn),
	}
	if t.opts.TLS != nil {
		c := t.opts.TLS.Clone()
		c.ClientCAs = c.RootCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.MinVersion = tls.VersionTLS13
		// Resumed sessions skip verification callbacks; the handler checks
		// the peer certificate on every request anyway, and tickets off
		// keeps a CA change effective at once.
		c.SessionTicketsDisabled = true
		s.TLSConfig = c
		s.Protocols.SetHTTP2(true)
	} else {
		s.Protocols.SetUnencryptedHTTP2(true)
	}
	return s
}

// AddPeer starts sending to id at the base URL u (http:// or https://).
// Adding a known peer with a new URL replaces it; a removed id is
// refused for good.
func (t *Transport) AddPeer(id uint64, u string) error {
	if id == t.opts.ID {
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return fmt.Errorf("peer %d: bad URL %q", id, u)
	}
	want := "http"
	if t.opts.TLS != nil {
		want = "https"
	}
	if pu.Scheme != want {
		return fmt.Errorf("peer %d: URL %q: scheme must be %s", id, u, want)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.removed[id] {
		return fmt.Errorf("peer %d was removed", id)
	}
	if p := t.peers[id]; p != nil {
		if p.url == u {
			return nil
		}
		p.cancel()
	}
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{id: id, url: u, host: pu.Hostname(), queue: make(chan *pb.Message, t.opts.QueueLen), cancel: cancel}
	p.reachable.Store(true)
	t.peers[id] = p
	t.wg.Go(func() { t.sendLoop(ctx, p) })
	return nil
}

// RemovePeer stops sending to id and refuses its requests from now on.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		p.cancel()
		delete(t.peers, id)
	}
	t.removed[id] = true
}

// Send queues messages for their peers and returns at once. A message
// for an unknown peer, or a full queue, drops the message and counts
// it; raft retransmits what matters.
func (t *Transport) Send(msgs []*pb.Message) {
	var full []uint64
	t.mu.RLock()
	h := t.handler
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			t.droppedUnknown.Add(1)
			continue
		}
		select {
		case p.queue <- m:
		default:
			p.dropped.Add(1)
			full = append(full, p.id)
		}
	}
	t.mu.RUnlock()
	if h != nil {
		for _, id := range full {
			h.ReportUnreachable(id)
		}
	}
}

// SendSnapshot sends a MsgSnap with the state-machine data, in the
// background; the outcome goes to Handler.ReportSnapshot. data is closed
// when done. One snapshot is in flight per peer; another one fails at
// once.
func (t *Transport) SendSnapshot(m *pb.Message, data io.ReadCloser) {
	t.mu.RLock()
	p, h := t.peers[m.GetTo()], t.handler
	t.mu.RUnlock()
	fail := func() {
		data.Close()
		if h != nil {
			h.ReportSnapshot(m.GetTo(), true)
		}
	}
	if p == nil || !p.snapBusy.CompareAndSwap(false, true) {
		fail()
		return
	}
	t.wg.Go(func() {
		defer p.snapBusy.Store(false)
		defer data.Close()
		frame, err := AppendFrame(nil, m)
		if err == nil {
			err = t.post(t.ctx, p, pathSnapshot, io.MultiReader(bytes.NewReader(frame), data), 0)
		}
		if err != nil {
			p.failures.Add(1)
			t.opts.Logger.Warn("send snapshot", "peer", p.id, "err", err)
		} else {
			p.sent.Add(1)
		}
		if h != nil {
			h.ReportSnapshot(p.id, err != nil)
		}
	})
}

func (t *Transport) sendLoop(ctx context.Context, p *peer) {
	var buf []byte
	batch := make([]*pb.Message, 0, 64)
	for {
		var m *pb.Message
		select {
		case <-ctx.Done():
			return
		case m = <-p.queue:
		}
		batch = append(batch[:0], m)
		size := proto.Size(m)
	drain:
		for size < t.opts.BatchBytes {
			select {
			case m = <-p.queue:
				batch = append(batch, m)
				size += proto.Size(m)
			default:
				break drain
			}
		}
		buf = buf[:0]
		var err error
		for _, m := range batch {
			if buf, err = AppendFrame(buf, m); err != nil {
				break
			}
		}
		if err == nil {
			err = t.post(ctx, p, pathMessages, bytes.NewReader(buf), t.opts.RequestTimeout)
		}
		if err != nil {
			p.failures.Add(1)
			if p.reachable.Swap(false) && ctx.Err() == nil {
				t.opts.Logger.Warn("peer unreachable", "peer", p.id, "err", err)
			}
			t.mu.RLock()
			h := t.handler
			t.mu.RUnlock()
			if h != nil {
				h.ReportUnreachable(p.id)
			}
			continue
		}
		p.sent.Add(uint64(len(batch)))
		p.reachable.Store(true)
	}
}

func (t *Transport) post(ctx context.Context, p *peer, path string, body io.Reader, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(headerFrom, strconv.FormatUint(t.opts.ID, 10))
	req.Header.Set(headerTo, strconv.FormatUint(p.id, 10))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("peer %d answered %s", p.id, resp.Status)
	}
	return nil
}

// Stats returns the counters.
func (t *Transport) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Stats{
		Peers:          make(map[uint64]PeerStats, len(t.peers)),
		Refused:        t.refused.Load(),
		Malformed:      t.malformed.Load(),
		Received:       t.received.Load(),
		DroppedUnknown: t.droppedUnknown.Load(),
	}
	for id, p := range t.peers {
		s.Peers[id] = PeerStats{URL: p.url, Sent: p.sent.Load(), Failures: p.failures.Load(),
			Dropped: p.dropped.Load(), Reachable: p.reachable.Load()}
	}
	return s
}

// Close stops every sender and waits for them. Requests being served
// are the http.Server's to drain. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.handler = nil
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

// ServeHTTP serves peers' requests.
func (t *Transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != pathMessages && r.URL.Path != pathSnapshot) {
		http.NotFound(w, r)
		return
	}
	from, err := t.authenticate(r)
	if err != nil {
		t.refused.Add(1)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	t.mu.RLock()
	h := t.handler
	t.mu.RUnlock()
	if h == nil {
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == pathSnapshot {
		t.serveSnapshot(w, r, h, from)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(t.opts.RequestTimeout))
	body := http.MaxBytesReader(w, r.Body, t.opts.MaxMessageBytes+int64(t.opts.BatchBytes))
	dec := NewDecoder(body, t.opts.MaxMessageBytes)
	var msgs []*pb.Message
	for {
		m, err := dec.Decode()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.malformed.Add(1)
			status := http.StatusBadRequest
			if errors.Is(err, ErrTooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, err.Error(), status)
			return
		}
		if err := t.check(m, from, false); err != nil {
			t.refused.Add(1)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		if err := h.Process(r.Context(), m); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		t.received.Add(1)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (t *Transport) serveSnapshot(w http.ResponseWriter, r *http.Request, h Handler, from uint64) {
	dec := NewDecoder(r.Body, t.opts.MaxMessageBytes)
	m, err := dec.Decode()
	if err != nil {
		t.malformed.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := t.check(m, from, true); err != nil {
		t.refused.Add(1)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if err := h.ReceiveSnapshot(r.Context(), m, dec.Reader()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	t.received.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// authenticate returns the id of the member that sent r, or ErrRefused.
func (t *Transport) authenticate(r *http.Request) (uint64, error) {
	if t.opts.TLS == nil && !t.opts.InsecurePeers && !isLoopback(r.RemoteAddr) {
		return 0, fmt.Errorf("%w: cleartext peer %s is not on loopback", ErrRefused, r.RemoteAddr)
	}
	from, err1 := strconv.ParseUint(r.Header.Get(headerFrom), 10, 64)
	to, err2 := strconv.ParseUint(r.Header.Get(headerTo), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: missing or bad peer ids", ErrRefused)
	}
	if to != t.opts.ID {
		return 0, fmt.Errorf("%w: request for member %d, this is %d", ErrRefused, to, t.opts.ID)
	}
	t.mu.RLock()
	p := t.peers[from]
	t.mu.RUnlock()
	if p == nil {
		return 0, fmt.Errorf("%w: %d is not a member", ErrRefused, from)
	}
	if t.opts.TLS != nil {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return 0, fmt.Errorf("%w: no client certificate", ErrRefused)
		}
		if err := r.TLS.PeerCertificates[0].VerifyHostname(p.host); err != nil {
			return 0, fmt.Errorf("%w: certificate does not match member %d (%s)", ErrRefused, from, p.host)
		}
	}
	return from, nil
}

// check refuses a message that is not from the authenticated sender, not
// for this member, or of a type that never travels between members.
func (t *Transport) check(m *pb.Message, from uint64, snapshot bool) error {
	switch {
	case m.GetFrom() != from:
		return fmt.Errorf("%w: message from %d in a request from %d", ErrRefused, m.GetFrom(), from)
	case m.GetTo() != t.opts.ID:
		return fmt.Errorf("%w: message for %d", ErrRefused, m.GetTo())
	case raft.IsLocalMsg(m.GetType()):
		return fmt.Errorf("%w: local message type %v", ErrRefused, m.GetType())
	case snapshot != (m.GetType() == pb.MsgSnap):
		return fmt.Errorf("%w: message type %v on the wrong path", ErrRefused, m.GetType())
	case snapshot && m.GetSnapshot().GetMetadata().GetIndex() == 0:
		return fmt.Errorf("%w: empty snapshot", ErrRefused)
	}
	return nil
}

func isLoopback(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
