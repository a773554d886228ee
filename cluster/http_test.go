package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/transport"

	pb "go.etcd.io/raft/v3/raftpb"
)

// httpMember is a member on the real HTTP/2 transport, on loopback, with
// its files in a temporary directory.
type httpMember struct {
	id   uint64
	dir  string
	addr string
	sm   *kvSM
	tr   *transport.Transport
	srv  *http.Server
	node *cluster.Node
}

func startHTTPMember(t *testing.T, id uint64, dir, addr string, urls map[uint64]string) *httpMember {
	t.Helper()
	sm, err := openKV(nil, filepath.Join(dir, "sm"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Options{ID: id, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the port of a member just stopped may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := tr.NewServer()
	go srv.Serve(ln)
	n, err := cluster.Open(dir, cluster.Options{ID: id, StateMachine: sm, Transport: tr, InitialMembers: urls,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, SnapshotEntries: 100, CatchUpEntries: 20,
		RequestTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &httpMember{id: id, dir: dir, addr: addr, sm: sm, tr: tr, srv: srv, node: n}
}

func (m *httpMember) stop() {
	m.srv.Close()
	m.node.Close()
	m.tr.Close()
	m.sm.Close()
}

// TestHTTPCluster runs 3 members over HTTP/2 (h2c) on loopback: a few
// hundred writes, one member killed, more writes, the member restarted
// from its files; all converge. Then a process that is not a member
// sends well-formed raft messages to the peer port: refused, counted,
// nothing applied.
func TestHTTPCluster(t *testing.T) {
	urls := map[uint64]string{}
	addrs := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = ln.Addr().String()
		urls[id] = "http://" + addrs[id]
		ln.Close()
	}
	ms := map[uint64]*httpMember{}
	for id := uint64(1); id <= 3; id++ {
		ms[id] = startHTTPMember(t, id, t.TempDir(), addrs[id], urls)
	}
	defer func() {
		for _, m := range ms {
			m.stop()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	write := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			// Any member (followers forward); a put is idempotent, so an
			// unknown outcome (a leader change) is retried until ctx ends.
			var err error
		retry:
			for ctx.Err() == nil {
				for _, m := range ms {
					if err = put(ctx, &member{node: m.node}, fmt.Sprint("k", i%50), strconv.Itoa(i)); err == nil {
						break retry
					}
				}
			}
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	}
	write(0, 300)
	victim := ms[2]
	victim.stop()
	delete(ms, 2)
	write(300, 200)
	ms[2] = startHTTPMember(t, 2, victim.dir, victim.addr, urls)
	write(500, 50)
	var want map[string]string
	eventuallyT(t, "convergence over HTTP", func() bool {
		want = ms[1].sm.dump()
		return ms[2].node.AppliedIndex() == ms[1].node.AppliedIndex() && ms[3].node.AppliedIndex() == ms[1].node.AppliedIndex() &&
			fmt.Sprint(ms[2].sm.dump()) == fmt.Sprint(want) && fmt.Sprint(ms[3].sm.dump()) == fmt.Sprint(want)
	})
	if want["k/k49"] != "549" {
		t.Fatalf("k49 = %q", want["k/k49"])
	}

	// A hostile process: not a member, well-formed messages.
	applied := ms[1].node.AppliedIndex()
	before := ms[1].tr.Stats().Refused
	bad := &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(9)), To: new(uint64(1)), Term: new(uint64(99)),
		Index: new(applied), LogTerm: new(uint64(99)), Commit: new(applied + 1),
		Entries: []*pb.Entry{{Index: new(applied + 1), Term: new(uint64(99)), Data: []byte("evil")}}}
	body, _ := transport.AppendFrame(nil, bad)
	rt := &http.Transport{Protocols: new(http.Protocols)}
	rt.Protocols.SetUnencryptedHTTP2(true)
	for _, from := range []string{"9", "2"} { // a foreign id, and a member's id with a foreign message
		req, _ := http.NewRequest(http.MethodPost, urls[1]+"/raft/v1/messages", bytes.NewReader(body))
		req.Header.Set("Amaters-Peer-From", from)
		req.Header.Set("Amaters-Peer-To", "1")
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("hostile request as %s: %s", from, resp.Status)
		}
	}
	if got := ms[1].tr.Stats().Refused - before; got != 2 {
		t.Fatalf("refused %d hostile requests, want 2", got)
	}
	if st := ms[1].node.Status(); st.Term >= 99 || ms[1].sm.get("evil") != "" {
		t.Fatalf("hostile message had an effect: %+v", st)
	}
	write(550, 10) // the cluster still works
}

func eventuallyT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
