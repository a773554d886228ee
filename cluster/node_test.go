package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/internal/crashfs"
	"amaters-server/cluster/raftlog"

	pb "go.etcd.io/raft/v3/raftpb"
)

func TestBasicReplication(t *testing.T) {
	c := newCluster(t, 3, 1, cluster.Options{})
	l := c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range 100 {
		// Writes through every member: followers forward to the leader.
		m := c.member(uint64(i%3 + 1))
		if err := put(ctx, m, fmt.Sprintf("k%d", i%10), fmt.Sprint(i)); err != nil {
			t.Fatalf("put %d via %d: %v", i, m.id, err)
		}
	}
	data := c.converge()
	if len(data) != 10 || data["k/k9"] != "99" {
		t.Fatalf("data %v", data)
	}
	// A linearizable read on a follower sees the last write.
	f := c.member(l.id%3 + 1)
	if _, err := f.node.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if v := f.sm.get("k9"); v != "99" {
		t.Fatalf("follower read %q after ReadIndex", v)
	}
	st := l.node.Status()
	if st.Leader != l.id || len(st.Members) != 3 || st.Role != cluster.RoleLeader {
		t.Fatalf("status %+v", st)
	}
}

// TestManyReadsShareRounds checks ReadIndex batching: many concurrent
// reads complete, with far fewer rounds than reads being an internal
// matter; here we check they all succeed and see a preceding write.
func TestManyConcurrentReads(t *testing.T) {
	c := newCluster(t, 3, 2, cluster.Options{})
	c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	m := c.member(2)
	if err := put(ctx, m, "x", "1"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 500)
	for range 500 {
		go func() {
			_, err := c.member(3).node.ReadIndex(ctx)
			if err == nil && c.member(3).sm.get("x") != "1" {
				err = errors.New("stale read")
			}
			errs <- err
		}()
	}
	for range 500 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMinorityLeaderStepsDown isolates the leader: CheckQuorum makes it
// step down, its pending proposals fail with ErrUnknownOutcome, reads on
// it fail (no stale read), and the majority elects a new leader and goes
// on.
func TestMinorityLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3, 3, cluster.Options{RequestTimeout: 10 * time.Second})
	old := c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := put(ctx, old, "k", "before"); err != nil {
		t.Fatal(err)
	}
	c.nw.isolate(old.id, []uint64{1, 2, 3})
	const pending = 20
	results := make(chan error, pending)
	for i := range pending {
		go func() { results <- put(ctx, old, "k", fmt.Sprint("lost", i)) }()
	}
	for range pending {
		err := <-results
		if !isUnknown(err) && !errors.Is(err, cluster.ErrProposalDropped) {
			t.Fatalf("pending proposal on the isolated leader: %v, want ErrUnknownOutcome", err)
		}
	}
	if st := old.node.Status(); st.Role == cluster.RoleLeader {
		t.Fatalf("isolated leader still leads: %+v", st)
	}
	rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := old.node.ReadIndex(rctx); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("read on the isolated member: %v, want ErrTimeout", err)
	}
	rcancel()
	var nl *member
	c.waitFor("a new leader in the majority", func() bool {
		nl = c.leader()
		return nl != nil && nl.id != old.id
	})
	if err := put(ctx, nl, "k", "after"); err != nil {
		t.Fatal(err)
	}
	c.nw.heal()
	if data := c.converge(); data["k/k"] != "after" {
		t.Fatalf("after heal k = %q", data["k/k"])
	}
}

// TestKillRestart kills members (leader first, then any), with power
// cuts, while writes go on; every acknowledged write survives and the
// members converge. The state machine runs without fsync, so restarts
// replay the raft log into it.
func TestKillRestart(t *testing.T) {
	const seed = 4
	c := newCluster(t, 3, seed, cluster.Options{SnapshotEntries: 200, CatchUpEntries: 50})
	c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	acked := map[string]string{}
	cycles := 8
	if testing.Short() {
		cycles = 3
	}
	w := 0
	write := func(n int) {
		for range n {
			key, val := fmt.Sprintf("k%d", w%37), fmt.Sprint(w)
			w++
			for _, m := range c.running() {
				wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
				err := put(wctx, m, key, val)
				wcancel()
				if err == nil {
					acked[key] = val
					break
				}
			}
		}
	}
	for cycle := range cycles {
		write(60)
		victim := c.waitLeader().id
		if cycle%2 == 1 {
			victim = victim%3 + 1
		}
		fs := c.kill(victim, true)
		write(60)
		c.start(victim, fs, false)
	}
	write(20)
	data := c.converge()
	for k, v := range acked {
		// Values increase per key: a later write whose outcome was
		// unknown may have replaced the acknowledged one, never an older.
		want, _ := strconv.Atoi(v)
		if got, err := strconv.Atoi(data["k/"+k]); err != nil || got < want {
			t.Fatalf("seed %d: acknowledged %s=%s, found %q", seed, k, v, data["k/"+k])
		}
	}
	t.Logf("%d kill/restart cycles, %d writes attempted, %d keys", cycles, w, len(acked))
}

// TestSnapshotCatchUp stops a member while the log is compacted past it:
// it comes back through a snapshot. Then a wiped member is replaced by a
// new one (a new id), which installs a snapshot, is promoted, and serves.
func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, 5, cluster.Options{SnapshotEntries: 50, CatchUpEntries: 10})
	l := c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	lagger := l.id%3 + 1
	fs := c.kill(lagger, false)
	for i := range 300 {
		c.putRetry(nil, fmt.Sprintf("k%d", i%50), fmt.Sprint(i))
	}
	m := c.start(lagger, fs, false)
	c.converge()
	if m.node.Stats().SnapshotsInstalled == 0 {
		t.Fatal("the lagging member caught up without a snapshot")
	}
	// Replace a wiped member: remove it, add a new one.
	wiped := lagger
	c.kill(wiped, false)
	if err := c.waitLeader().node.RemoveMember(ctx, wiped); err != nil {
		t.Fatal(err)
	}
	l = c.waitLeader()
	id, err := l.node.AddMember(ctx, "mem://new")
	if err != nil {
		t.Fatal(err)
	}
	if id != 4 {
		t.Fatalf("new member id %d, want 4 (ids are never reused)", id)
	}
	c.mu.Lock()
	c.urls[id] = "mem://new"
	c.mu.Unlock()
	nm := c.start(id, crashfs.New(), true)
	c.waitFor("the new member's promotion", func() bool {
		for _, mb := range c.waitLeader().node.Status().Members {
			if mb.ID == id {
				return mb.Role != cluster.RoleLearner
			}
		}
		return false
	})
	c.putRetry(nm, "via-new", "yes")
	data := c.converge()
	if data["k/via-new"] != "yes" || nm.node.Stats().SnapshotsInstalled == 0 {
		t.Fatalf("new member: data %d keys, snapshots installed %d", len(data), nm.node.Stats().SnapshotsInstalled)
	}
	// The removed id cannot come back.
	if _, err := l.node.AddMember(ctx, "mem://1x"); err != nil {
		t.Fatal(err)
	}
	for _, mb := range c.waitLeader().node.Status().Members {
		if mb.ID == wiped {
			t.Fatalf("removed member %d is listed again", wiped)
		}
	}
}

// TestMembershipUnderLoad adds a member (learner, then promoted) and
// removes the leader while clients write; no acknowledged write is lost
// and the new configuration serves.
func TestMembershipUnderLoad(t *testing.T) {
	const seed = 6
	c := newCluster(t, 3, seed, cluster.Options{SnapshotEntries: 100, CatchUpEntries: 20, PromoteLag: 20})
	c.waitLeader()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	type ack struct{ key, val string }
	acks := make(chan ack, 1<<16)
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; loadCtx.Err() == nil; i++ {
			ms := c.running()
			m := ms[i%len(ms)]
			key, val := fmt.Sprintf("k%d", i%20), fmt.Sprint(i)
			wctx, wcancel := context.WithTimeout(loadCtx, time.Second)
			if put(wctx, m, key, val) == nil {
				acks <- ack{key, val}
				acked.Add(1)
			}
			wcancel()
		}
	}()
	l := c.waitLeader()
	id, err := l.node.AddMember(ctx, "mem://4")
	for errors.Is(err, cluster.ErrUnknownOutcome) || errors.Is(err, cluster.ErrProposalDropped) {
		id, err = c.waitLeader().node.AddMember(ctx, "mem://4")
	}
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.urls[id] = "mem://4"
	c.mu.Unlock()
	c.start(id, crashfs.New(), true)
	c.waitFor("promotion of the new member", func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		for _, mb := range l.node.Status().Members {
			if mb.ID == id {
				return mb.Role != cluster.RoleLearner
			}
		}
		return false
	})
	old := c.waitLeader()
	err = old.node.RemoveMember(ctx, old.id)
	if err != nil && !isUnknown(err) {
		t.Fatal(err)
	}
	c.waitFor("the removal", func() bool {
		l := c.leader()
		if l == nil || l.id == old.id {
			return false
		}
		for _, mb := range l.node.Status().Members {
			if mb.ID == old.id {
				return false
			}
		}
		return true
	})
	c.kill(old.id, false)
	c.waitFor("writes in the new configuration", func() bool { return acked.Load() >= 60 })
	stopLoad()
	<-done
	close(acks)
	last := map[string]string{}
	n := 0
	for a := range acks {
		last[a.key] = a.val
		n++
	}
	data := c.converge()
	for k, v := range last {
		// One writer, increasing values: the final value is the last
		// acknowledged one or a later write whose outcome was unknown.
		want, _ := strconv.Atoi(v)
		got, err := strconv.Atoi(data["k/"+k])
		if err != nil || got < want {
			t.Fatalf("seed %d: acknowledged %s=%s, found %q", seed, k, v, data["k/"+k])
		}
	}
	if len(c.waitLeader().node.Status().Members) != 3 {
		t.Fatalf("members %+v", c.waitLeader().node.Status().Members)
	}
	t.Logf("%d writes acknowledged during add+promote+remove-leader", n)
}

// TestConfChangesBackToBack: a membership change proposed as soon as the
// previous one returned is not lost, through the leader or a follower.
// (Raft turns a conf change proposed while the leader still counts an
// earlier one as unapplied into an empty entry: the node answers the
// leader's own changes after Advance, and proposes again until applied.)
func TestConfChangesBackToBack(t *testing.T) {
	c := newCluster(t, 3, 7, cluster.Options{})
	for i := range 16 {
		m := c.waitLeader()
		if i%2 == 1 {
			m = c.member(m.id%3 + 1)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		id, err := m.node.AddMember(ctx, fmt.Sprintf("mem://extra-%d", i))
		if err == nil {
			err = m.node.RemoveMember(ctx, id)
		}
		cancel()
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
}

// TestCrashAcknowledgesNothingLost: a member restarted after a crash has
// every entry it ever acknowledged. Its disk stops at the crash point
// while it still runs and hears the leader (as a member does between
// the crash point and its Close): an entry it received now would be
// lost by the crash, so it must not acknowledge it; its raft log write
// fails and it stops instead. Then it restarts from the crash state and
// catches up. (The harness used to take the crash state while the member
// ran on; it acknowledged entries its restart lacked, and the leader's
// next heartbeat made raft panic: "tocommit(907) is out of range
// [lastIndex(906)]".)
func TestCrashAcknowledgesNothingLost(t *testing.T) {
	const seed = 7
	c := newCluster(t, 3, seed, cluster.Options{})
	l := c.waitLeader()
	for i := range 10 {
		c.putRetry(l, fmt.Sprint("k", i), "before")
	}
	victim := l.id%3 + 1
	var crashed atomic.Bool
	var acked atomic.Uint64 // the highest index victim acknowledged after its crash point
	c.nw.mu.Lock()
	c.nw.onSend = func(from uint64, m *pb.Message) {
		if from != victim || !crashed.Load() || m.GetType() != pb.MsgAppResp || m.GetReject() {
			return
		}
		for old := acked.Load(); m.GetIndex() > old && !acked.CompareAndSwap(old, m.GetIndex()); old = acked.Load() {
		}
	}
	c.nw.mu.Unlock()

	vm, fs := c.crash(victim, true)
	crashed.Store(true)
	last := crashLastIndex(t, fs)
	c.putRetry(nil, "after", "crash") // committed by the two others
	c.waitFor("the crashed member to stop or to acknowledge", func() bool {
		return vm.node.Err() != nil || acked.Load() > last
	})
	if a := acked.Load(); a > last {
		t.Fatalf("seed %d: member %d acknowledged index %d after its crash point; its crash state ends at %d", seed, victim, a, last)
	}
	if err := vm.node.Err(); !errors.Is(err, crashfs.ErrStopped) {
		t.Fatalf("seed %d: crashed member stopped with %v, want its disk's error", seed, err)
	}
	c.closeMember(vm)

	m := c.start(victim, fs, false)
	c.putRetry(m, "after-restart", "yes")
	data := c.converge()
	if data["k/after"] != "crash" || data["k/after-restart"] != "yes" || data["k/k9"] != "before" {
		t.Fatalf("seed %d: data after restart: %v", seed, data)
	}
}

// crashLastIndex returns the last index of the raft log in a crash state
// (opened on a copy, which opening may change).
func crashLastIndex(t *testing.T, fs *crashfs.FS) uint64 {
	t.Helper()
	st, err := raftlog.Open("/data/raft", raftlog.Options{FS: fs.Kill()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last, _ := st.LastIndex()
	return last
}
