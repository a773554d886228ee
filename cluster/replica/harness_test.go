package replica_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/replica"
	"amaters-server/server/store"
)

// faults is the tests' network: a directed link from → to is cut by
// refusing, at the receiver's peer listener, the requests the sender
// makes (the sender sees a failed request, as with a dropped link).
type faults struct {
	mu      sync.Mutex // guards blocked
	blocked map[[2]uint64]bool
}

func (f *faults) set(from, to uint64, cut bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked == nil {
		f.blocked = map[[2]uint64]bool{}
	}
	if cut {
		f.blocked[[2]uint64{from, to}] = true
	} else {
		delete(f.blocked, [2]uint64{from, to})
	}
}

func (f *faults) cut(from, to uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[[2]uint64{from, to}]
}

func (f *faults) wrap(to uint64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			from, _ := strconv.ParseUint(r.Header.Get("Amaters-Peer-From"), 10, 64)
			if f.cut(from, to) {
				http.Error(w, "partitioned by the test", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// testCluster runs members in this process on loopback HTTP/2, each
// with its own data folder, which survives a kill and a restart.
type testCluster struct {
	t    testing.TB
	net  faults
	opts func(id uint64, o *replica.Options) // tweaks, may be nil

	mu      sync.Mutex // guards the maps
	running map[uint64]*replica.Replica
	dirs    map[uint64]string
	addrs   map[uint64]string
	urls    map[uint64]string
	lns     map[uint64]net.Listener // reserved, not yet started
}

func newCluster(t testing.TB, n int, tweak func(id uint64, o *replica.Options)) *testCluster {
	t.Helper()
	c := emptyCluster(t, tweak)
	for id := uint64(1); id <= uint64(n); id++ {
		c.reserve(id)
	}
	for id := uint64(1); id <= uint64(n); id++ {
		c.start(id, false)
	}
	return c
}

// emptyCluster is a cluster with no member yet: reserve and start them.
func emptyCluster(t testing.TB, tweak func(id uint64, o *replica.Options)) *testCluster {
	c := &testCluster{t: t, opts: tweak, running: map[uint64]*replica.Replica{}, dirs: map[uint64]string{},
		addrs: map[uint64]string{}, urls: map[uint64]string{}, lns: map[uint64]net.Listener{}}
	t.Cleanup(func() {
		for _, id := range c.ids() {
			c.kill(id)
		}
	})
	return c
}

// reserve gives id a loopback address and a folder.
func (c *testCluster) reserve(id uint64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.addrs[id] = ln.Addr().String()
	c.urls[id] = "http://" + c.addrs[id]
	c.dirs[id] = c.t.TempDir()
	// Kept for the first start: closed and listened again, the port
	// could be taken in between (by an outgoing connection, say).
	c.lns[id] = ln
	c.mu.Unlock()
	// Closed here only if no member took it: a member's listener is its
	// own to close (closed under it, the member's Close may fail with
	// "use of closed network connection", as a stress run saw).
	c.t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lns[id] == ln {
			delete(c.lns, id)
			ln.Close()
		}
	})
}

func (c *testCluster) start(id uint64, join bool) {
	c.t.Helper()
	c.mu.Lock()
	addr, dir := c.addrs[id], c.dirs[id]
	urls := map[uint64]string{}
	for k, v := range c.urls {
		urls[k] = v
	}
	ln := c.lns[id]
	delete(c.lns, id)
	c.mu.Unlock()
	var err error
	for i := 0; ln == nil && i < 100; i++ { // the port of a member just stopped may take a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	o := replica.Options{ID: id, PeerListener: ln, InitialMembers: urls, Join: join,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, SnapshotEntries: 200, CatchUpEntries: 50,
		RequestTimeout: 2 * time.Second, ExpireInterval: -1, WrapPeerHandler: c.net.wrap(id)}
	o.Machine.Store.HistoryRevisions = 100000
	if c.opts != nil {
		c.opts(id, &o)
	}
	r, err := replica.Open(dir, o)
	if err != nil {
		c.t.Fatalf("start member %d: %v", id, err)
	}
	c.mu.Lock()
	c.running[id] = r
	c.mu.Unlock()
}

// kill stops a member; its folder stays for a restart.
func (c *testCluster) kill(id uint64) {
	c.mu.Lock()
	r := c.running[id]
	delete(c.running, id)
	c.mu.Unlock()
	if r != nil {
		if err := r.Close(); err != nil {
			c.t.Errorf("close member %d: %v", id, err)
		}
	}
}

func (c *testCluster) get(id uint64) *replica.Replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[id]
}

func (c *testCluster) ids() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint64
	for id := range c.running {
		ids = append(ids, id)
	}
	return ids
}

// leader waits for a leader that every running member agrees on.
func (c *testCluster) leader() uint64 {
	c.t.Helper()
	var lead uint64
	eventually(c.t, "a leader", func() bool {
		lead = 0
		for _, id := range c.ids() {
			r := c.get(id)
			if r == nil {
				return false
			}
			l := r.Node().Status().Leader
			if l == 0 || (lead != 0 && l != lead) {
				return false
			}
			lead = l
		}
		return lead != 0 && c.get(lead) != nil
	})
	return lead
}

// isolate cuts (or heals) every link to and from id.
func (c *testCluster) isolate(id uint64, cut bool) {
	c.mu.Lock()
	var others []uint64
	for k := range c.addrs {
		if k != id {
			others = append(others, k)
		}
	}
	c.mu.Unlock()
	for _, o := range others {
		c.net.set(id, o, cut)
		c.net.set(o, id, cut)
	}
}

// dump is a member's whole state, read locally: its revision, then every
// key of every collection with its mod revision.
func dump(t testing.TB, r *replica.Replica) string {
	t.Helper()
	var s string
	err := r.Read(t.Context(), replica.Serializable, func(st *store.Store) error {
		s = fmt.Sprintf("rev %d;", st.Revision())
		names, _, err := st.Collections("", 1000, time.Time{}, func(string) bool { return true })
		if err != nil {
			return err
		}
		for _, c := range names {
			items, more, _, _, err := st.Range(c, nil, nil, 100000, 1<<30, time.Time{})
			if err != nil {
				return err
			}
			if more {
				return errors.New("dump: too many keys")
			}
			for _, it := range items {
				s += fmt.Sprintf(" %s/%s=%s@%d", c, it.Key, it.Value, it.ModRevision)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// converged waits until every running member has applied the same index
// and holds the same state, and returns that state.
func (c *testCluster) converged() string {
	c.t.Helper()
	var want string
	eventually(c.t, "convergence", func() bool {
		var idx uint64
		want = ""
		for i, id := range c.ids() {
			r := c.get(id)
			if r == nil {
				return false
			}
			a := r.Node().AppliedIndex()
			d := dump(c.t, r)
			if i == 0 {
				idx, want = a, d
			} else if a != idx || d != want {
				return false
			}
		}
		return true
	})
	return want
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// retryable reports whether a write or read failed for want of a
// leader, a quorum or a running member: worth trying again elsewhere.
func retryable(err error) bool {
	return errors.Is(err, cluster.ErrProposalDropped) || errors.Is(err, cluster.ErrTimeout) ||
		errors.Is(err, cluster.ErrStopped) || errors.Is(err, store.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

func put(c, k, v string, g store.Guard) store.Op {
	return store.Op{Kind: store.OpPut, Collection: c, Key: []byte(k), Value: []byte(v), Guard: g}
}

// mustWrite applies an idempotent request through member id, retrying
// while the cluster is busy electing (an unknown outcome included: the
// request must be one that may apply twice).
func (c *testCluster) mustWrite(id uint64, req store.Request) store.Result {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.get(id)
		if r == nil {
			c.t.Fatalf("member %d is not running", id)
		}
		res, err := r.Write(c.t.Context(), req)
		if err == nil {
			return res
		}
		if !(retryable(err) || errors.Is(err, cluster.ErrUnknownOutcome)) || time.Now().After(deadline) {
			c.t.Fatalf("write through member %d: %v", id, err)
		}
	}
}
