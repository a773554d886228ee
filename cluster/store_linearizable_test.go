package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/internal/crashfs"
	"amaters-server/cluster/machine"
	"amaters-server/server/store"

	"github.com/anishathalye/porcupine"
)

// The real state machine (server/store through package machine) on the
// crash file system, under the same nemesis as TestLinearizable: the
// store runs without fsync, so every power cut takes back applied
// entries, which the node replays from its raft log; snapshots are
// backup archives installed through machine.Restore.

type storeMember struct {
	id    uint64
	fs    *crashfs.FS
	m     *machine.Machine
	node  *cluster.Node
	ep    *endpoint
	ticks chan struct{}
}

type storeCluster struct {
	t       *testing.T
	nw      *network
	seed    uint64
	mu      sync.Mutex // guards members
	members map[uint64]*storeMember
	urls    map[uint64]string
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newStoreCluster(t *testing.T, seed uint64) *storeCluster {
	c := &storeCluster{t: t, nw: newNetwork(seed), seed: seed, members: map[uint64]*storeMember{},
		urls: map[uint64]string{1: "mem://1", 2: "mem://2", 3: "mem://3"}, stop: make(chan struct{})}
	for id := uint64(1); id <= 3; id++ {
		c.start(id, crashfs.New())
	}
	c.wg.Go(func() {
		tk := time.NewTicker(tickEvery)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tk.C:
			}
			c.mu.Lock()
			for _, m := range c.members {
				select {
				case m.ticks <- struct{}{}:
				default:
				}
			}
			c.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		close(c.stop)
		c.wg.Wait()
		for _, m := range c.running() {
			c.kill(m.id, false)
		}
		c.nw.close()
	})
	return c
}

func (c *storeCluster) start(id uint64, fs *crashfs.FS) {
	c.t.Helper()
	m, err := machine.Open("/sm", machine.Options{FS: fs, MemtableSize: 64 << 10})
	if err != nil {
		c.t.Fatalf("seed %d: open state machine %d: %v", c.seed, id, err)
	}
	ep := &endpoint{nw: c.nw, id: id}
	ticks := make(chan struct{}, 1)
	n, err := cluster.Open("/data", cluster.Options{ID: id, StateMachine: m, Transport: ep, FS: fs,
		InitialMembers: maps.Clone(c.urls), Ticks: ticks, TickInterval: tickEvery, ElectionTicks: electionTicks,
		SnapshotEntries: 20, CatchUpEntries: 5, RequestTimeout: time.Second})
	if err != nil {
		c.t.Fatalf("seed %d: open member %d: %v", c.seed, id, err)
	}
	c.mu.Lock()
	c.members[id] = &storeMember{id: id, fs: fs, m: m, node: n, ep: ep, ticks: ticks}
	c.mu.Unlock()
}

func (c *storeCluster) kill(id uint64, powerCut bool) *crashfs.FS {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m == nil {
		return nil
	}
	// The crash point: off the network and the disk stopped (see
	// testCluster.kill).
	m.ep.detach()
	after := m.fs.Stop(powerCut)
	m.node.Close()
	m.m.Close()
	return after
}

func (c *storeCluster) running() []*storeMember {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ms []*storeMember
	for _, m := range c.members {
		ms = append(ms, m)
	}
	return ms
}

func (c *storeCluster) leader() *storeMember {
	for _, m := range c.running() {
		if m.node.Status().Role == cluster.RoleLeader {
			return m
		}
	}
	return nil
}

func (c *storeCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	tk := time.NewTicker(tickEvery)
	defer tk.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			c.t.Fatalf("seed %d: timed out waiting for %s", c.seed, what)
		}
	}
}

func storeDump(m *machine.Machine) string {
	var s string
	m.View(func(st *store.Store) error {
		items, _, _, rev, err := st.Range("c", nil, nil, 10000, 1<<30, time.Time{})
		s = fmt.Sprint(rev, err)
		for _, it := range items {
			s += fmt.Sprintf(" %s=%s@%d", it.Key, it.Value, it.ModRevision)
		}
		return nil
	})
	return s
}

type guardInput struct {
	Op  string // put, create (If-None-Match: *), delete (If-Match: *), get
	Key string
	Val string
}

type guardOutput struct {
	Val     string // get
	OK      bool   // create, delete: the guard held
	Unknown bool
}

// guardModel is a register per key; "" is absent. A guarded write whose
// outcome is unknown, if it happened, did what its guard allowed.
var guardModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(guardInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(guardInput), output.(guardOutput)
		switch in.Op {
		case "put":
			return true, in.Val
		case "get":
			return out.Val == st, st
		case "create":
			holds := st == ""
			if out.Unknown || out.OK {
				if holds {
					return out.Unknown || out.OK, in.Val
				}
				return out.Unknown, st
			}
			return !holds, st
		default: // delete
			holds := st != ""
			if out.Unknown || out.OK {
				if holds {
					return true, ""
				}
				return out.Unknown, st
			}
			return !holds, st
		}
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%+v -> %+v", input, output)
	},
}

// TestStoreLinearizable: concurrent clients put, create-if-absent,
// delete-if-present and read linearizably a few keys through every
// member of a cluster of the real state machine, while the nemesis drops,
// duplicates and delays messages, partitions, and cuts power; Porcupine
// checks the history, and the members converge to the same data at the
// same revision.
func TestStoreLinearizable(t *testing.T) {
	const seed = 21
	c := newStoreCluster(t, seed)
	c.waitFor("a leader", func() bool { return c.leader() != nil })
	c.nw.setFaults(3, 3, 4*time.Millisecond)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		counts  = map[string]int{}
	)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	const clients = 6
	for cl := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			for i := 0; ctx.Err() == nil; i++ {
				ms := c.running()
				m := ms[rng.IntN(len(ms))]
				in := guardInput{Key: fmt.Sprint("k", rng.IntN(3)), Val: fmt.Sprintf("%d-%d", cl, i)}
				octx, ocancel := context.WithTimeout(context.Background(), time.Second)
				call := now()
				var out guardOutput
				var err error
				if r := rng.IntN(10); r < 4 {
					in.Op = "get"
					if _, err = m.node.ReadIndex(octx); err == nil {
						err = m.m.View(func(st *store.Store) error {
							e, _, err := st.Get("c", []byte(in.Key), time.Time{})
							if errors.Is(err, store.ErrNotFound) {
								return nil
							}
							out.Val = string(e.Value)
							return err
						})
					}
				} else {
					op := store.Op{Kind: store.OpPut, Collection: "c", Key: []byte(in.Key), Value: []byte(in.Val)}
					switch {
					case r < 6:
						in.Op = "put"
					case r < 8:
						in.Op, op.Guard = "create", store.Guard{Kind: store.GuardAbsent}
					default:
						in.Op, op.Kind, op.Value, op.Guard = "delete", store.OpDelete, nil, store.Guard{Kind: store.GuardExists}
						in.Val = ""
					}
					var res any
					res, err = m.node.Propose(octx, machine.Encode(nil, []store.Request{{Now: time.Now(), Ops: []store.Op{op}}}))
					switch {
					case err == nil:
						rerr := res.([]store.Result)[0].Err
						out.OK = rerr == nil
						if rerr != nil && !errors.Is(rerr, store.ErrPreconditionFailed) {
							t.Errorf("apply: %v", rerr)
						}
					case errors.Is(err, cluster.ErrProposalDropped):
					default:
						out.Unknown, err = true, nil
					}
				}
				ocancel()
				mu.Lock()
				outcome := describe(err)
				if out.Unknown {
					outcome = "unknown"
				}
				counts[in.Op+" "+outcome]++
				if err == nil {
					ret := now()
					if out.Unknown {
						ret = math.MaxInt64
					}
					history = append(history, porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
				}
				mu.Unlock()
			}
		})
	}
	rng := rand.New(rand.NewPCG(seed, 0xbeef))
	faults := map[string]int{}
	ids := []uint64{1, 2, 3}
	for ctx.Err() == nil {
		switch rng.IntN(5) {
		case 0:
			if l := c.leader(); l != nil {
				c.nw.isolate(l.id, ids)
				faults["isolate leader"]++
			}
		case 1:
			if from, to := ids[rng.IntN(3)], ids[rng.IntN(3)]; from != to {
				c.nw.cutOneWay(from, to)
				faults["one-way cut"]++
			}
		case 2, 3:
			if len(c.running()) == 3 {
				id := ids[rng.IntN(3)]
				if l := c.leader(); l != nil && rng.IntN(2) == 0 {
					id = l.id
				}
				fs := c.kill(id, true)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(50+rng.IntN(150)) * time.Millisecond):
				}
				c.start(id, fs)
				faults["power cut + restart"]++
			}
		default:
			c.nw.heal()
			faults["heal"]++
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+rng.IntN(200)) * time.Millisecond):
		}
	}
	wg.Wait()
	c.nw.heal()
	c.nw.setFaults(0, 0, 0)
	var want string
	c.waitFor("convergence", func() bool {
		ms := c.running()
		want = storeDump(ms[0].m)
		for _, m := range ms[1:] {
			if m.node.AppliedIndex() != ms[0].node.AppliedIndex() || storeDump(m.m) != want {
				return false
			}
		}
		return true
	})
	for _, m := range c.running() {
		if err := m.node.Err(); err != nil {
			t.Fatalf("member %d stopped: %v", m.id, err)
		}
	}
	res, _ := porcupine.CheckOperationsVerbose(guardModel, history, 30*time.Second)
	var installed uint64
	for _, m := range c.running() {
		installed += m.node.Stats().SnapshotsInstalled
	}
	t.Logf("seed %d: %d operations, outcomes %v, faults %v, snapshots installed %d, state %s",
		seed, len(history), counts, faults, installed, want)
	switch res {
	case porcupine.Illegal:
		t.Fatalf("seed %d: history is not linearizable", seed)
	case porcupine.Unknown:
		t.Logf("seed %d: the checker timed out", seed)
	}
}
