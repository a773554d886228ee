package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/replica"
	"amaters-server/cluster/transport"
	"amaters-server/lsm"
	"amaters-server/server/backup"
	"amaters-server/server/store"

	pb "go.etcd.io/raft/v3/raftpb"
)

// readKey reads c/k linearizably on r: its value and mod revision, ok
// false when absent.
func readKey(ctx context.Context, r *replica.Replica, c, k string) (v string, rev uint64, ok bool, err error) {
	err = r.Read(ctx, replica.Linearizable, func(st *store.Store) error {
		e, _, err := st.Get(c, []byte(k), time.Time{})
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, rev, ok = string(e.Value), e.ModRevision, true
		return nil
	})
	return v, rev, ok, err
}

// TestGuardedCounter: clients on every member increment one counter
// with read-then-guarded-write (If-Match), while the leader is killed
// and restarted; each increment also creates a key of its own in the
// same request, so an unknown outcome is resolved by reading that key.
// The counter ends exactly at the number of increments applied, which
// is the number acknowledged plus the unknown ones that turned out
// applied: no lost update, no double apply.
func TestGuardedCounter(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.leader()
	const clients, each = 3, 25
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var applied, acked atomic.Int64
	var progress atomic.Int64
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			home := uint64(cl%3 + 1)
			member := func(attempt int) *replica.Replica {
				for k := range uint64(3) {
					if r := c.get((home+k+uint64(attempt)-1)%3 + 1); r != nil {
						return r
					}
				}
				return nil
			}
			attempt := 0
			for done := 0; done < each && ctx.Err() == nil; attempt++ {
				r := member(attempt % 3)
				if r == nil {
					continue
				}
				v, rev, ok, err := readKey(ctx, r, "n", "counter")
				if err != nil {
					continue
				}
				n, g := 0, store.Guard{Kind: store.GuardAbsent}
				if ok {
					n, _ = strconv.Atoi(v)
					g = store.Guard{Kind: store.GuardRevision, Revision: rev}
				}
				token := fmt.Sprintf("c%d-a%d", cl, attempt)
				_, err = r.Write(ctx, store.Request{Ops: []store.Op{
					put("n", "counter", strconv.Itoa(n+1), g),
					put("inc", token, "", store.Guard{}),
				}})
				switch {
				case err == nil:
					done++
					acked.Add(1)
					applied.Add(1)
					progress.Add(1)
				case errors.Is(err, store.ErrPreconditionFailed):
				case errors.Is(err, cluster.ErrUnknownOutcome) || retryable(err):
					// Did it apply? Ask (linearizably) until some member answers.
					for ctx.Err() == nil {
						rr := member(attempt%3 + 1)
						if rr == nil {
							continue
						}
						_, _, ok, err := readKey(ctx, rr, "inc", token)
						if err == nil {
							if ok {
								done++
								applied.Add(1)
								progress.Add(1)
							}
							break
						}
					}
				default:
					t.Errorf("client %d: %v", cl, err)
					return
				}
			}
		})
	}
	// Fail the leader over twice while the clients run.
	for range 2 {
		at := progress.Load() + 10
		eventually(t, "progress", func() bool { return progress.Load() >= at || progress.Load() >= clients*each })
		lead := c.leader()
		c.kill(lead)
		c.leader() // the other two elect one
		c.start(lead, false)
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("clients did not finish")
	}
	state := c.converged()
	r := c.get(c.leader())
	v, _, _, err := readKey(ctx, r, "n", "counter")
	if err != nil {
		t.Fatal(err)
	}
	var incs int
	r.Read(ctx, replica.Linearizable, func(st *store.Store) error {
		items, _, _, _, err := st.Range("inc", nil, nil, 10000, 1<<30, time.Time{})
		incs = len(items)
		return err
	})
	if v != strconv.Itoa(int(applied.Load())) || incs != int(applied.Load()) {
		t.Fatalf("counter %s, %d increment keys; %d increments applied (%d acknowledged)\n%s", v, incs, applied.Load(), acked.Load(), state)
	}
	if applied.Load() != clients*each {
		t.Fatalf("%d increments applied, want %d", applied.Load(), clients*each)
	}
}

// TestNoAcknowledgedWriteLost is model-based: writers put unique keys
// through every member while a seeded schedule kills and restarts
// leaders and followers and isolates the leader. Every acknowledged
// write is on every member at the end, nothing unknown to the model
// appears, and every member holds the same data at the same revision.
func TestNoAcknowledgedWriteLost(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.leader()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	type outcome int
	const (
		ackd outcome = iota + 1
		maybe
	)
	var mu sync.Mutex // guards model
	model := map[string]outcome{}
	stop := make(chan struct{})
	var acks atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := c.get(uint64(w+i)%3 + 1)
				if r == nil {
					continue
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				_, err := r.Write(ctx, store.Request{Ops: []store.Op{put("data", k, k, store.Guard{})}})
				mu.Lock()
				switch {
				case err == nil:
					model[k] = ackd
					acks.Add(1)
				case errors.Is(err, cluster.ErrProposalDropped):
					// certainly not applied
				default:
					model[k] = maybe
				}
				mu.Unlock()
			}
		})
	}
	rng := rand.New(rand.NewPCG(42, 7))
	for cycle := range 6 {
		at := acks.Load() + 20
		eventually(t, "writes acknowledged", func() bool { return acks.Load() >= at })
		lead := c.leader()
		switch cycle % 3 {
		case 0: // kill the leader, restart it
			c.kill(lead)
			c.leader()
			c.start(lead, false)
		case 1: // kill a follower, restart it
			f := lead%3 + 1 + uint64(rng.IntN(2))
			f = (f-1)%3 + 1
			if f == lead {
				f = f%3 + 1
			}
			c.kill(f)
			at := acks.Load() + 20
			eventually(t, "writes without a follower", func() bool { return acks.Load() >= at })
			c.start(f, false)
		case 2: // isolate the leader: it must step down, the others go on
			c.isolate(lead, true)
			eventually(t, "the isolated leader steps down", func() bool {
				return c.get(lead).Node().Status().Leader != lead
			})
			at := acks.Load() + 20
			eventually(t, "writes in the majority", func() bool { return acks.Load() >= at })
			c.isolate(lead, false)
		}
	}
	close(stop)
	wg.Wait()
	c.leader()
	c.converged()
	for _, id := range c.ids() {
		r := c.get(id)
		got := map[string]bool{}
		r.Read(ctx, replica.Serializable, func(st *store.Store) error {
			items, _, _, _, err := st.Range("data", nil, nil, 100000, 1<<30, time.Time{})
			for _, it := range items {
				if string(it.Key) != string(it.Value) {
					t.Errorf("member %d: %s = %s", id, it.Key, it.Value)
				}
				got[string(it.Key)] = true
			}
			return err
		})
		mu.Lock()
		for k, o := range model {
			if o == ackd && !got[k] {
				t.Errorf("member %d lost acknowledged write %s", id, k)
			}
		}
		for k := range got {
			if model[k] == 0 {
				t.Errorf("member %d has %s, never written", id, k)
			}
		}
		mu.Unlock()
	}
	t.Logf("%d acknowledged writes", acks.Load())
}

// TestJoinBySnapshot: a member added after the log was compacted
// catches up by installing a snapshot (a backup archive of the state
// machine), then follows the log; all members converge.
func TestJoinBySnapshot(t *testing.T) {
	c := newCluster(t, 3, func(id uint64, o *replica.Options) { o.SnapshotEntries, o.CatchUpEntries = 50, 10 })
	lead := c.leader()
	ctx := t.Context()
	for i := range 200 {
		c.mustWrite(lead, store.Request{Ops: []store.Op{put("data", fmt.Sprint("k", i), strings.Repeat("x", i), store.Guard{})}})
	}
	c.reserve(4)
	id, err := c.get(lead).Node().AddMember(ctx, c.urls[4])
	if err != nil {
		t.Fatal(err)
	}
	if id != 4 {
		t.Fatalf("new member id %d, want 4", id)
	}
	c.start(4, true)
	for i := range 20 {
		c.mustWrite(c.leader(), store.Request{Ops: []store.Op{put("data", fmt.Sprint("after", i), "y", store.Guard{})}})
	}
	state := c.converged()
	if !strings.Contains(state, "data/after19=y") {
		t.Fatalf("state lacks the last write: %s", state)
	}
	// (The counter is raised just after the state is installed.)
	eventually(t, "the new member's snapshot install counted", func() bool { return c.get(4).Node().Stats().SnapshotsInstalled > 0 })
	eventually(t, "promotion of the learner", func() bool {
		for _, m := range c.get(c.leader()).Node().Status().Members {
			if m.ID == 4 {
				return m.Role != cluster.RoleLearner
			}
		}
		return false
	})
}

// TestReads: a write acknowledged on one member is seen at once by a
// linearizable read on another; many concurrent reads all succeed; an
// isolated member still answers serializable reads but refuses
// linearizable ones after the timeout.
func TestReads(t *testing.T) {
	c := newCluster(t, 3, func(id uint64, o *replica.Options) { o.RequestTimeout = time.Second })
	c.leader()
	ctx := t.Context()
	for i := range 30 {
		rd := c.get(uint64((i+1)%3 + 1))
		v := strconv.Itoa(i)
		c.mustWrite(uint64(i%3+1), store.Request{Ops: []store.Op{put("r", "k", v, store.Guard{})}})
		got, _, _, err := readKey(ctx, rd, "r", "k")
		if err != nil || got != v {
			t.Fatalf("read after write %d: %q, %v", i, got, err)
		}
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			if got, _, _, err := readKey(ctx, c.get(uint64(i%3+1)), "r", "k"); err != nil || got != "29" {
				t.Errorf("concurrent read: %q, %v", got, err)
			}
		})
	}
	wg.Wait()

	lead := c.leader()
	iso := lead%3 + 1
	c.isolate(iso, true)
	// The others go on without it.
	c.mustWrite(lead, store.Request{Ops: []store.Op{put("r", "k", "new", store.Guard{})}})
	var stale string
	if err := c.get(iso).Read(ctx, replica.Serializable, func(st *store.Store) error {
		e, _, err := st.Get("r", []byte("k"), time.Time{})
		stale = string(e.Value)
		return err
	}); err != nil || stale != "29" {
		t.Fatalf("serializable read on the isolated member: %q, %v", stale, err)
	}
	if _, _, _, err := readKey(ctx, c.get(iso), "r", "k"); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("linearizable read without quorum: %v, want ErrTimeout", err)
	}
	c.isolate(iso, false)
	eventually(t, "the healed member reads the new value", func() bool {
		got, _, _, err := readKey(ctx, c.get(iso), "r", "k")
		return err == nil && got == "new"
	})
}

// TestExpiry: the leader proposes due expiries; every member deletes the
// key at the same revision, judged by the proposer's clock.
func TestExpiry(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()).UTC() }
	c := newCluster(t, 3, func(id uint64, o *replica.Options) { o.Now = now })
	lead := c.leader()
	ctx := t.Context()
	op := put("e", "k", "v", store.Guard{})
	op.ExpiresAt = now().Add(time.Second)
	res := c.mustWrite(lead, store.Request{Ops: []store.Op{op}})
	clock.Add(2000)
	if err := c.get(lead).ExpireOnce(ctx); err != nil {
		t.Fatal(err)
	}
	state := c.converged()
	if strings.Contains(state, "e/k") || !strings.HasPrefix(state, fmt.Sprintf("rev %d;", res.Revision+1)) {
		t.Fatalf("after expiry: %s (write at revision %d)", state, res.Revision)
	}
}

// TestSeedFromBackup: a backup (here, the state machine's snapshot
// archive, which is a backup archive) of a member of one cluster is
// restored into a new folder. Started as a joining member, or as one of
// a new cluster of three, it is refused with an error naming it and left
// alone; started alone, it seeds a new cluster that serves the data at
// its revision, and a member added later receives it by snapshot.
func TestSeedFromBackup(t *testing.T) {
	src := newCluster(t, 3, nil)
	lead := src.leader()
	for i := range 50 {
		src.mustWrite(lead, store.Request{Ops: []store.Op{put("data", fmt.Sprint("k", i), fmt.Sprint("v", i), store.Guard{})}})
	}
	want := src.converged()
	rc, err := src.get(lead).Machine().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	rc.Close()
	if err != nil || f.Close() != nil {
		t.Fatal(err)
	}
	restored := func() string {
		dir := filepath.Join(t.TempDir(), "member")
		if _, err := backup.Restore(t.Context(), archive, dir, nil); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	bad := restored()
	for _, tc := range []struct {
		join    bool
		members map[uint64]string
	}{
		{true, map[uint64]string{1: "http://127.0.0.1:1", 2: "http://127.0.0.1:2"}},
		{false, map[uint64]string{1: "http://127.0.0.1:1", 2: "http://127.0.0.1:2", 3: "http://127.0.0.1:3"}},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, err = replica.Open(bad, replica.Options{ID: 1, PeerListener: ln, Join: tc.join, InitialMembers: tc.members})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "db")) {
			t.Fatalf("join %v: opened over data without a raft log: %v", tc.join, err)
		}
		if _, err := os.Stat(filepath.Join(bad, "raft")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a raft log was created: %v", err)
		}
	}

	c := emptyCluster(t, nil)
	c.reserve(1)
	c.dirs[1] = restored()
	c.start(1, false)
	if got := c.converged(); got != want {
		t.Fatalf("seeded cluster serves\n%s\nwant\n%s", got, want)
	}
	c.mustWrite(1, store.Request{Ops: []store.Op{put("data", "after", "seed", store.Guard{})}})
	c.reserve(2)
	if _, err := c.get(1).Node().AddMember(t.Context(), c.urls[2]); err != nil {
		t.Fatal(err)
	}
	c.start(2, true)
	got := c.converged()
	if !strings.Contains(got, "data/k49=v49") || !strings.Contains(got, "data/after=seed") {
		t.Fatalf("after the join: %s", got)
	}
	eventually(t, "the new member's snapshot install counted", func() bool { return c.get(2).Node().Stats().SnapshotsInstalled > 0 })
}

// TestSeedFromSingleNode: data that no raft index was ever recorded
// with (what restoring a single-node server's backup gives) seeds a
// one-member cluster that serves it; a live single-node folder, with its
// write-ahead log in wal/, is refused.
func TestSeedFromSingleNode(t *testing.T) {
	dir := t.TempDir()
	db, err := lsm.Open(filepath.Join(dir, "db"), lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db, store.Options{ExpireInterval: -1, TrimInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Write(t.Context(), store.Request{Ops: []store.Op{put("c", "k", "single", store.Guard{})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(st.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}
	c := emptyCluster(t, nil)
	c.reserve(1)
	c.dirs[1] = dir
	c.start(1, false)
	if got, want := c.converged(), fmt.Sprintf("rev %d; c/k=single@%d", res.Revision, res.Revision); got != want {
		t.Fatalf("seeded from a single node: %q, want %q", got, want)
	}
	c.mustWrite(1, store.Request{Ops: []store.Op{put("c", "k2", "x", store.Guard{})}})

	live := t.TempDir()
	os.Mkdir(filepath.Join(live, "wal"), 0o700)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Open(live, replica.Options{ID: 1, PeerListener: ln,
		InitialMembers: map[uint64]string{1: "http://" + ln.Addr().String()}}); err == nil || !strings.Contains(err.Error(), filepath.Join(live, "wal")) {
		t.Fatalf("opened a folder with a single-node write-ahead log: %v", err)
	}
}

// TestStatusAndMetrics: GET /v1/cluster's view and the metrics agree
// with what the cluster did: one leader, every member listed, an
// isolated member unreachable from the leader.
func TestStatusAndMetrics(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	c.mustWrite(lead, store.Request{Ops: []store.Op{put("c", "k", "v", store.Guard{})}})
	c.converged()
	leaders := 0
	for _, id := range c.ids() {
		m := c.get(id).Metrics()
		if m.IsLeader {
			leaders++
		}
		if m.AppliedIndex == 0 || m.CommitIndex < m.AppliedIndex || m.Term == 0 {
			t.Fatalf("member %d metrics %+v", id, m)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d members say they lead", leaders)
	}
	other := lead%3 + 1
	c.isolate(other, true)
	eventually(t, "the isolated member unreachable", func() bool {
		st := c.get(lead).Status()
		for _, m := range st.Members {
			if m.ID == other {
				return !m.Reachable
			}
		}
		return false
	})
	st := c.get(lead).Status()
	if st.ID != lead || st.Leader != lead || len(st.Members) != 3 {
		t.Fatalf("status %+v", st)
	}
	for _, m := range st.Members {
		wantRole := "follower"
		if m.ID == lead {
			wantRole = "leader"
		}
		if m.Role != wantRole || m.Reachable == (m.ID == other) {
			t.Fatalf("member %+v", m)
		}
	}
	if c.get(lead).Metrics().PeerSendFailures[other] == 0 {
		t.Fatal("no send failure counted to the isolated member")
	}
	c.isolate(other, false)

	// A process that is not a member sends a well-formed vote request
	// for a huge term: refused, counted, no effect.
	before := c.get(lead).Metrics()
	msg := &pb.Message{Type: pb.MsgVote.Enum(), From: new(uint64(9)), To: new(lead), Term: new(uint64(1000)),
		Index: new(uint64(1 << 40)), LogTerm: new(uint64(1000))}
	body, err := transport.AppendFrame(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	rt := &http.Transport{Protocols: new(http.Protocols)}
	rt.Protocols.SetUnencryptedHTTP2(true)
	req, _ := http.NewRequest(http.MethodPost, c.urls[lead]+"/raft/v1/messages", bytes.NewReader(body))
	req.Header.Set("Amaters-Peer-From", "9")
	req.Header.Set("Amaters-Peer-To", fmt.Sprint(lead))
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rt.CloseIdleConnections()
	after := c.get(lead).Metrics()
	if resp.StatusCode != http.StatusForbidden || after.PeersRefused != before.PeersRefused+1 || after.Term != before.Term || !after.IsLeader {
		t.Fatalf("hostile vote: %s, metrics before %+v after %+v", resp.Status, before, after)
	}
}

// TestWriteTooLarge: a write above MaxCommandBytes is refused before it
// reaches raft, and the cluster goes on.
func TestWriteTooLarge(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	big := put("c", "k", strings.Repeat("x", replica.MaxCommandBytes), store.Guard{})
	if _, err := c.get(lead).Write(t.Context(), store.Request{Ops: []store.Op{big}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("oversized write: %v", err)
	}
	c.mustWrite(lead, store.Request{Ops: []store.Op{put("c", "k", "small", store.Guard{})}})
}

// TestEventsIdentical: every member's store emits the same change
// events at the same revisions (what watch serves, on any member), also
// across a member's restart, whose replay emits nothing twice.
func TestEventsIdentical(t *testing.T) {
	var mu sync.Mutex // guards events
	events := map[uint64][]string{}
	c := newCluster(t, 3, func(id uint64, o *replica.Options) {
		o.Machine.Store.OnCommit = func(evs []store.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				events[id] = append(events[id], fmt.Sprintf("%d %v %s/%s=%s", e.Revision, e.Kind, e.Collection, e.Key, e.Value))
			}
		}
	})
	lead := c.leader()
	// Each write is guarded on d/x's revision, so that a write retried
	// after an unknown outcome (the kill below, a timeout on a slow
	// machine) applies at most once: a retry whose first attempt did
	// apply fails its guard, finding our own value, and emits nothing.
	// (Retrying an unguarded put there applies it twice: two more
	// events, rightly, on every member.)
	var rev uint64
	for i := range 30 {
		id, v := uint64(i%3+1), fmt.Sprint(i)
		g := store.Guard{Kind: store.GuardAbsent}
		if rev > 0 {
			g = store.Guard{Kind: store.GuardRevision, Revision: rev}
		}
		req := store.Request{Ops: []store.Op{put("d", "x", v, g), put("c", fmt.Sprint("k", i%7), v, store.Guard{})}}
		for deadline, maybe := time.Now().Add(30*time.Second), false; ; {
			res, err := c.get(id).Write(t.Context(), req)
			var ge *store.GuardError
			if err == nil {
				rev = res.Revision
				break
			} else if maybe && errors.As(err, &ge) && ge.Current != nil && string(ge.Current.Value) == v {
				rev = ge.Current.ModRevision
				break
			} else if !(retryable(err) || errors.Is(err, cluster.ErrUnknownOutcome)) || time.Now().After(deadline) {
				t.Fatalf("write %d through member %d: %v", i, id, err)
			}
			maybe = maybe || errors.Is(err, cluster.ErrUnknownOutcome)
		}
		if i == 10 {
			c.kill(lead)
			c.leader()
			c.start(lead, false)
		}
	}
	c.converged()
	mu.Lock()
	defer mu.Unlock()
	for id := uint64(2); id <= 3; id++ {
		if fmt.Sprint(events[id]) != fmt.Sprint(events[1]) {
			t.Fatalf("member %d events differ:\n%v\nmember 1:\n%v", id, events[id], events[1])
		}
	}
	if len(events[1]) != 60 {
		t.Fatalf("%d events, want 60", len(events[1]))
	}
}

// TestRemoveUnderLoad: the leader is removed while writers run; the
// others go on, and its id is never given again.
func TestRemoveUnderLoad(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uint64(w+i)%3 + 1
				if r := c.get(id); r != nil && id != lead {
					if _, err := r.Write(t.Context(), store.Request{Ops: []store.Op{put("c", fmt.Sprint("w", w, "-", i), "v", store.Guard{})}}); err == nil {
						acked.Add(1)
					}
				}
			}
		})
	}
	eventually(t, "writes", func() bool { return acked.Load() > 20 })
	var err error
	for range 20 {
		if err = c.get(lead).Node().RemoveMember(t.Context(), lead); err == nil || !retryable(err) {
			break
		}
	}
	if err != nil && !errors.Is(err, cluster.ErrUnknownOutcome) {
		t.Fatalf("remove the leader: %v", err)
	}
	c.kill(lead)
	at := acked.Load() + 20
	eventually(t, "writes without the removed member", func() bool { return acked.Load() >= at })
	close(stop)
	wg.Wait()
	c.converged()
	st := c.get(c.leader()).Status()
	if len(st.Members) != 2 {
		t.Fatalf("members after the removal: %+v", st.Members)
	}
	c.reserve(9)
	id, err := c.get(st.Leader).Node().AddMember(t.Context(), c.urls[9])
	if err != nil {
		t.Fatal(err)
	}
	if id != 4 {
		t.Fatalf("new id %d, want 4 (ids are never reused)", id)
	}
}
