package transport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"amaters-server/cluster/transport"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recorder is a Handler that keeps what it receives.
type recorder struct {
	mu          sync.Mutex
	msgs        []*pb.Message
	snaps       [][]byte
	unreachable map[uint64]int
	snapReports []bool
	got         chan struct{}
}

func newRecorder() *recorder {
	return &recorder{unreachable: map[uint64]int{}, got: make(chan struct{}, 1<<16)}
}

func (r *recorder) Process(_ context.Context, m *pb.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recorder) ReceiveSnapshot(_ context.Context, m *pb.Message, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.snaps = append(r.snaps, b)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.unreachable[id]++
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) ReportSnapshot(_ uint64, failed bool) {
	r.mu.Lock()
	r.snapReports = append(r.snapReports, failed)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitFor waits for cond, woken by every handler call, up to 10 s.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-r.got:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// eventually polls cond every millisecond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// member is a transport serving on a loopback listener.
type member struct {
	t   *transport.Transport
	rec *recorder
	url string
}

func startMember(t *testing.T, id uint64, tlsConf *tls.Config) *member {
	t.Helper()
	tr, err := transport.New(transport.Options{ID: id, TLS: tlsConf, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	if err := tr.Start(rec); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := tr.NewServer()
	scheme := "http"
	go func() {
		if tlsConf != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	if tlsConf != nil {
		scheme = "https"
	}
	t.Cleanup(func() {
		srv.Close()
		tr.Close()
	})
	return &member{t: tr, rec: rec, url: scheme + "://" + ln.Addr().String()}
}

func msg(typ pb.MessageType, from, to, index uint64) *pb.Message {
	return &pb.Message{Type: typ.Enum(), From: new(from), To: new(to), Index: new(index), Term: new(uint64(1))}
}

func TestDeliveryInOrder(t *testing.T) {
	a, b := startMember(t, 1, nil), startMember(t, 2, nil)
	if err := a.t.AddPeer(2, b.url); err != nil {
		t.Fatal(err)
	}
	if err := b.t.AddPeer(1, a.url); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range uint64(n) {
		a.t.Send([]*pb.Message{msg(pb.MsgApp, 1, 2, i)})
	}
	b.rec.waitFor(t, "2000 messages", func() bool { return b.rec.count() == n })
	for i, m := range b.rec.msgs {
		if m.GetIndex() != uint64(i) {
			t.Fatalf("message %d has index %d: out of order", i, m.GetIndex())
		}
	}
	eventually(t, "the sender's count", func() bool { return a.t.Stats().Peers[2].Sent == n })
	if s := a.t.Stats().Peers[2]; s.Failures != 0 || !s.Reachable {
		t.Fatalf("sender stats %+v", s)
	}
	// A snapshot with its data stream.
	snap := msg(pb.MsgSnap, 1, 2, 0)
	snap.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(77)), Term: new(uint64(3))}}
	data := bytes.Repeat([]byte("state"), 100_000)
	a.t.SendSnapshot(snap, io.NopCloser(bytes.NewReader(data)))
	b.rec.waitFor(t, "the snapshot", func() bool { b.rec.mu.Lock(); defer b.rec.mu.Unlock(); return len(b.rec.snaps) == 1 })
	a.rec.waitFor(t, "the snapshot report", func() bool { a.rec.mu.Lock(); defer a.rec.mu.Unlock(); return len(a.rec.snapReports) == 1 })
	if !bytes.Equal(b.rec.snaps[0], data) || a.rec.snapReports[0] {
		t.Fatalf("snapshot data of %d bytes (want %d), failed=%v", len(b.rec.snaps[0]), len(data), a.rec.snapReports[0])
	}
}

// TestUnreachable checks that a dead peer never blocks Send: failures and
// drops are counted and raft is told.
func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	tr, err := transport.New(transport.Options{ID: 1, QueueLen: 8, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rec := newRecorder()
	tr.Start(rec)
	if err := tr.AddPeer(2, dead); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := range uint64(1000) {
			tr.Send([]*pb.Message{msg(pb.MsgApp, 1, 2, i), msg(pb.MsgApp, 1, 3, i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on an unreachable peer")
	}
	rec.waitFor(t, "a failure", func() bool { return tr.Stats().Peers[2].Failures > 0 })
	s := tr.Stats()
	if p := s.Peers[2]; p.Dropped == 0 || p.Reachable {
		t.Fatalf("peer stats %+v: want drops and unreachable", p)
	}
	if s.DroppedUnknown != 1000 {
		t.Fatalf("dropped for unknown peer 3: %d, want 1000", s.DroppedUnknown)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.unreachable[2] == 0 {
		t.Fatal("raft was not told that peer 2 is unreachable")
	}
}

func h2cClient() *http.Client {
	rt := &http.Transport{Protocols: new(http.Protocols)}
	rt.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}
}

func frames(t *testing.T, ms ...*pb.Message) []byte {
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = transport.AppendFrame(b, m); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestHostilePeer sends what a non-member or a broken member might: every
// request is refused and counted, nothing reaches raft, nothing panics.
func TestHostilePeer(t *testing.T) {
	b := startMember(t, 2, nil)
	if err := b.t.AddPeer(1, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	huge := binary.AppendUvarint(nil, 1<<40)
	snap := msg(pb.MsgSnap, 1, 2, 0)
	cases := []struct {
		name     string
		path     string
		from, to string
		body     []byte
		status   int
		refused  bool
	}{
		{"not a member", "/raft/v1/messages", "9", "2", frames(t, msg(pb.MsgApp, 9, 2, 1)), 403, true},
		{"no ids", "/raft/v1/messages", "", "", frames(t, msg(pb.MsgApp, 1, 2, 1)), 403, true},
		{"for another member", "/raft/v1/messages", "1", "3", frames(t, msg(pb.MsgApp, 1, 3, 1)), 403, true},
		{"message from someone else", "/raft/v1/messages", "1", "2", frames(t, msg(pb.MsgApp, 1, 2, 1), msg(pb.MsgVote, 9, 2, 1)), 403, true},
		{"message for someone else", "/raft/v1/messages", "1", "2", frames(t, msg(pb.MsgApp, 1, 3, 1)), 403, true},
		{"local message type", "/raft/v1/messages", "1", "2", frames(t, msg(pb.MsgHup, 1, 2, 1)), 403, true},
		{"snapshot on the message path", "/raft/v1/messages", "1", "2", frames(t, snap), 403, true},
		{"empty snapshot", "/raft/v1/snapshot", "1", "2", frames(t, snap), 403, true},
		{"garbage", "/raft/v1/messages", "1", "2", []byte{5, 0xff, 0xff, 0xff, 0xff, 0xff}, 400, false},
		{"truncated frame", "/raft/v1/messages", "1", "2", frames(t, msg(pb.MsgApp, 1, 2, 1))[:5], 400, false},
		{"oversize frame", "/raft/v1/messages", "1", "2", huge, 413, false},
		{"bad varint", "/raft/v1/messages", "1", "2", bytes.Repeat([]byte{0x80}, 11), 400, false},
	}
	c := h2cClient()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := b.t.Stats()
			req, _ := http.NewRequest(http.MethodPost, b.url+tc.path, bytes.NewReader(tc.body))
			req.Header.Set("Amaters-Peer-From", tc.from)
			req.Header.Set("Amaters-Peer-To", tc.to)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			after := b.t.Stats()
			if tc.refused && after.Refused != before.Refused+1 {
				t.Fatalf("refused %d -> %d, want +1", before.Refused, after.Refused)
			}
			if !tc.refused && after.Malformed != before.Malformed+1 {
				t.Fatalf("malformed %d -> %d, want +1", before.Malformed, after.Malformed)
			}
			if n := b.rec.count(); n != 0 {
				t.Fatalf("%d messages reached raft", n)
			}
		})
	}
	// A removed member is refused for good.
	b.t.RemovePeer(1)
	if err := b.t.AddPeer(1, "http://127.0.0.1:1"); err == nil {
		t.Fatal("a removed id was added again")
	}
	req, _ := http.NewRequest(http.MethodPost, b.url+"/raft/v1/messages", bytes.NewReader(frames(t, msg(pb.MsgApp, 1, 2, 1))))
	req.Header.Set("Amaters-Peer-From", "1")
	req.Header.Set("Amaters-Peer-To", "2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || b.rec.count() != 0 {
		t.Fatalf("removed member: status %d, %d messages stepped", resp.StatusCode, b.rec.count())
	}
}

// pki is a test CA issuing member certificates.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	start time.Time
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test peer CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, key: key, pool: pool}
}

func (p *pki) member(t *testing.T, serial int64, ips []net.IP, dns []string) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "member " + strconv.FormatInt(serial, 10)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: ips, DNSNames: dns,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, RootCAs: p.pool}
}

// TestMutualTLS checks that with peer TLS a member's certificate must come
// from the CA and match the member's URL host.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	a := startMember(t, 1, p.member(t, 2, loop, nil))
	b := startMember(t, 2, p.member(t, 3, loop, nil))
	a.t.AddPeer(2, b.url)
	b.t.AddPeer(1, a.url)
	a.t.Send([]*pb.Message{msg(pb.MsgHeartbeat, 1, 2, 0)})
	b.rec.waitFor(t, "a message over mTLS", func() bool { return b.rec.count() == 1 })

	// Same CA, but the certificate names another host: refused.
	evil := p.member(t, 4, nil, []string{"evil.example"})
	rt := &http.Transport{TLSClientConfig: evil, Protocols: new(http.Protocols)}
	rt.Protocols.SetHTTP2(true)
	c := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	post := func(c *http.Client) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, b.url+"/raft/v1/messages", bytes.NewReader(frames(t, msg(pb.MsgApp, 1, 2, 1))))
		req.Header.Set("Amaters-Peer-From", "1")
		req.Header.Set("Amaters-Peer-To", "2")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := post(c); err != nil || st != 403 {
		t.Fatalf("certificate for another host: %d, %v; want 403", st, err)
	}
	// Another CA: the handshake fails.
	other := newPKI(t).member(t, 5, loop, nil)
	other.RootCAs = p.pool
	rt2 := &http.Transport{TLSClientConfig: other, Protocols: new(http.Protocols)}
	rt2.Protocols.SetHTTP2(true)
	if _, err := post(&http.Client{Transport: rt2, Timeout: 10 * time.Second}); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	if n := b.rec.count(); n != 1 {
		t.Fatalf("%d messages stepped, want 1", n)
	}
	if b.t.Stats().Refused != 1 {
		t.Fatalf("refused %d, want 1", b.t.Stats().Refused)
	}
}

func FuzzDecode(f *testing.F) {
	ok, _ := transport.AppendFrame(nil, &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Entries: []*pb.Entry{{Index: new(uint64(3)), Term: new(uint64(1)), Data: []byte("x")}}})
	f.Add(ok)
	f.Add(append(ok, ok...))
	f.Add(ok[:len(ok)-1])
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Add([]byte{0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 12
		dec := transport.NewDecoder(bytes.NewReader(b), limit)
		for {
			m, err := dec.Decode()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, transport.ErrMalformed) && !errors.Is(err, transport.ErrTooLarge) {
					t.Fatalf("error neither malformed nor too large: %v", err)
				}
				return
			}
			// Property: what decodes re-encodes to a frame that decodes
			// to an equal message.
			again, err := transport.AppendFrame(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := transport.NewDecoder(bytes.NewReader(again), 1<<20).Decode()
			if err != nil || !proto.Equal(m, m2) {
				t.Fatalf("round trip: %v, %v != %v", err, m2, m)
			}
		}
	})
}
