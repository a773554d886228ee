package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/cluster/raftlog"
	"amaters-server/cluster/transport"
	"amaters-server/lsm"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages to the other members. The node calls
// Send and SendSnapshot from its loop, so neither may block;
// [transport.Transport] is the real one, the tests have an in-memory
// one that injects faults. The node does not close it: its creator does,
// after the node.
type Transport interface {
	// Start delivers what peers send to h from now on.
	Start(h transport.Handler) error
	// Send queues messages for their peers.
	Send(msgs []*pb.Message)
	// SendSnapshot sends a MsgSnap with the state machine's data and
	// closes data; the outcome goes to the Handler's ReportSnapshot.
	SendSnapshot(m *pb.Message, data io.ReadCloser)
	// AddPeer makes id reachable at its peer URL, and accepted.
	AddPeer(id uint64, url string) error
	// RemovePeer forgets id and refuses it from now on.
	RemovePeer(id uint64)
}

// Options configure Open. Zero fields mean defaults, except the ones
// marked required.
type Options struct {
	// ID is this member's raft id (required, ≥ 1, never reused).
	ID uint64
	// StateMachine is what the cluster replicates (required).
	StateMachine StateMachine
	// Transport carries messages to peers (required).
	Transport Transport
	// InitialMembers maps id to peer URL. For a new cluster (Join false,
	// empty log) it is the initial configuration; this member must be in
	// it. When joining, it names the members to reach until the log says
	// who they are.
	InitialMembers map[uint64]string
	// Join starts an empty member of an existing cluster (initial_state
	// "existing"); it waits to be added and fed by the leader.
	Join bool
	// TickInterval is the raft heartbeat interval; 0 means 100 ms.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks; 0 means 10.
	ElectionTicks int
	// Ticks, when set, replaces the ticker: each value is one tick. For
	// tests that drive time.
	Ticks <-chan struct{}
	// SnapshotEntries is the number of applied entries between raft
	// snapshots (and log compactions); 0 means 10000.
	SnapshotEntries uint64
	// CatchUpEntries is the number of entries kept below a snapshot for
	// followers that lag a little; 0 means min(5000, SnapshotEntries).
	CatchUpEntries uint64
	// PromoteLag is how far (in entries) behind the commit index a
	// learner may be to be promoted to voter; 0 means 1000.
	PromoteLag uint64
	// RequestTimeout bounds Propose and ReadIndex whose context has no
	// deadline; 0 means 5 s.
	RequestTimeout time.Duration
	// MaxSizePerMsg bounds the entries in one append message; 0 means
	// 1 MiB.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the append messages in flight per follower;
	// 0 means 256.
	MaxInflightMsgs int
	// FS holds the raft log and received snapshots; nil means the
	// operating system's.
	FS lsm.FS
	// Logger receives raft's and the node's events; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TickInterval == 0 {
		o.TickInterval = 100 * time.Millisecond
	}
	if o.ElectionTicks == 0 {
		o.ElectionTicks = 10
	}
	if o.SnapshotEntries == 0 {
		o.SnapshotEntries = 10000
	}
	if o.CatchUpEntries == 0 {
		o.CatchUpEntries = min(5000, o.SnapshotEntries)
	}
	if o.PromoteLag == 0 {
		o.PromoteLag = 1000
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.MaxSizePerMsg == 0 {
		o.MaxSizePerMsg = 1 << 20
	}
	if o.MaxInflightMsgs == 0 {
		o.MaxInflightMsgs = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.ID == 0 {
		errs = append(errs, errors.New("ID must be ≥ 1"))
	}
	if o.StateMachine == nil {
		errs = append(errs, errors.New("StateMachine is required"))
	}
	if o.Transport == nil {
		errs = append(errs, errors.New("Transport is required"))
	}
	if o.ElectionTicks < 2 {
		errs = append(errs, fmt.Errorf("ElectionTicks %d must be ≥ 2", o.ElectionTicks))
	}
	return errors.Join(errs...)
}

// Stats are the node's counters, for metrics.
type Stats struct {
	ProposalsFailed    uint64 // proposals that ended in an error other than the state machine's
	SnapshotsTaken     uint64 // raft snapshots taken (log compactions)
	SnapshotsSent      uint64 // snapshots streamed to followers
	SnapshotsInstalled uint64 // snapshots received and installed
}

// Status is a point-in-time view of the node, for GET /v1/cluster.
type Status struct {
	ID      uint64
	Leader  uint64 // 0 when none is known
	Term    uint64
	Commit  uint64
	Applied uint64
	Role    Role
	Members []Member // sorted by id
	Removed bool     // this member was removed from the cluster
}

// Node is one member of a raft cluster: it persists the log, exchanges
// messages through the transport and applies committed entries to the
// state machine. It is safe for concurrent use. The zero value is not
// usable; call Open.
type Node struct {
	id     uint64
	opts   Options
	dir    string
	fs     lsm.FS
	log    *raftlog.Storage
	sm     StateMachine
	tr     Transport
	rn     raft.Node
	logger *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	reqID   atomic.Uint64
	applied atomic.Uint64
	waitIdx applyWait

	// Owned by the loop goroutine.
	confState    *pb.ConfState
	members      *memberTable
	snapIndex    uint64
	ticks        uint64
	promoteAfter map[uint64]uint64 // learner id → tick before which no new promotion is proposed
	raftState    raft.StateType
	// afterAdvance holds the answers to this member's membership
	// changes applied in the current Ready, given after Advance: raft
	// turns a conf change proposed while it still counts an earlier one
	// as unapplied (until Advance) into an empty entry, so a caller who
	// proposes the next change as soon as the last one returned would
	// otherwise wait in vain.
	afterAdvance []func()

	maxID atomic.Uint64 // the largest member id ever used, for AddMember

	mu       sync.Mutex // guards the fields below
	waiters  map[uint64]chan proposalResult
	status   Status
	fatal    error // sticky: the error that stopped the loop
	stopping bool

	reads readQueue

	proposalsFailed, snapshotsTaken, snapshotsSent, snapshotsInstalled atomic.Uint64
}

// Open opens (or creates) the member's raft log under dir/raft, brings
// the state machine up to the raft snapshot if a crash left it behind,
// and starts the node.
func Open(dir string, opts Options) (*Node, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("cluster options: %w", err)
	}
	n := &Node{
		id: opts.ID, opts: opts, dir: dir, sm: opts.StateMachine, tr: opts.Transport,
		logger:       opts.Logger.With("member", opts.ID),
		waiters:      map[uint64]chan proposalResult{},
		promoteAfter: map[uint64]uint64{},
	}
	n.fs = lsm.OSFS()
	if opts.FS != nil {
		n.fs = opts.FS
	}
	var seed [8]byte
	rand.Read(seed[:])
	// Request ids start at a random point each run, so an entry proposed
	// before a restart never wakes a waiter made after it.
	n.reqID.Store(binary.LittleEndian.Uint64(seed[:]) >> 1)
	if err := n.fs.MkdirAll(n.snapDir(), 0o750); err != nil {
		return nil, fmt.Errorf("snapshot dir: %w", err)
	}
	st, err := raftlog.Open(filepath.Join(dir, "raft"), raftlog.Options{FS: opts.FS, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	n.log = st
	if err := n.start(); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return n, nil
}

func (n *Node) start() error {
	snap, _ := n.log.Snapshot()
	hs, cs, _ := n.log.InitialState()
	last, _ := n.log.LastIndex()
	fresh := raft.IsEmptyHardState(hs) && last == 0 && raft.IsEmptySnap(snap)
	idx := snap.GetMetadata().GetIndex()
	if applied := n.sm.AppliedIndex(); applied < idx {
		// A crash between recording a received snapshot and restoring the
		// state machine from it: finish the restore.
		if err := n.restoreFromFile(idx); err != nil {
			return fmt.Errorf("finish snapshot install at %d (state machine at %d): %w", idx, applied, err)
		}
	}
	n.removeSnapFiles(idx)
	members, err := decodeMemberTable(snap.GetData())
	if err != nil {
		return err
	}
	n.members = members
	n.confState = cs
	n.snapIndex = idx
	n.applied.Store(idx)
	n.waitIdx.init(idx)

	cfg := &raft.Config{
		ID:                        n.id,
		ElectionTick:              n.opts.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   n.log,
		Applied:                   idx,
		MaxSizePerMsg:             n.opts.MaxSizePerMsg,
		MaxInflightMsgs:           n.opts.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{n.logger},
	}
	// Peers to reach before the log says who they are.
	for id, u := range n.opts.InitialMembers {
		if _, known := n.members.URLs[id]; !known && !n.members.isRemoved(id) && id != n.id {
			if err := n.tr.AddPeer(id, u); err != nil {
				return err
			}
		}
	}
	for id, u := range n.members.URLs {
		if err := n.tr.AddPeer(id, u); err != nil {
			return err
		}
	}
	for _, id := range n.members.Removed {
		n.tr.RemovePeer(id)
	}

	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.reads.init()
	switch {
	case fresh && !n.opts.Join:
		if _, ok := n.opts.InitialMembers[n.id]; !ok {
			n.cancel()
			return fmt.Errorf("member %d is not in InitialMembers", n.id)
		}
		var peers []raft.Peer
		for id, u := range n.opts.InitialMembers {
			peers = append(peers, raft.Peer{ID: id, Context: encodeEnvelope(0, 0, []byte(u))})
		}
		slices.SortFunc(peers, func(a, b raft.Peer) int { return int(a.ID) - int(b.ID) })
		n.rn = raft.StartNode(cfg, peers)
	default:
		n.rn = raft.RestartNode(cfg)
	}
	n.status = Status{ID: n.id, Applied: idx}
	n.noteMembers()
	if err := n.tr.Start(n); err != nil {
		n.rn.Stop()
		n.cancel()
		return err
	}
	n.wg.Go(n.run)
	n.wg.Go(n.readLoop)
	return nil
}

// Close stops the node and waits for its goroutines, then closes the
// raft log. It does not close the transport or the state machine. It
// returns the fatal error that stopped the node, if any; it is
// idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.stopping = true
		n.mu.Unlock()
		n.cancel()
		n.rn.Stop()
		n.wg.Wait()
		n.failWaiters(ErrStopped)
		n.reads.fail(ErrStopped)
		n.mu.Lock()
		fatal := n.fatal
		n.mu.Unlock()
		n.closeErr = errors.Join(fatal, n.log.Close())
	})
	return n.closeErr
}

// Err returns the fatal error that stopped the node, or nil.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fatal
}

// stop records a fatal error and stops the loop. The caller is a goroutine
// of the node, so it must not wait for them.
func (n *Node) stop(err error) {
	n.mu.Lock()
	if n.fatal == nil && !n.stopping {
		n.fatal = err
		n.logger.Error("cluster member stopped", "err", err)
	}
	n.mu.Unlock()
	n.cancel()
	n.failWaiters(fmt.Errorf("%w: %w", ErrStopped, err))
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		ProposalsFailed:    n.proposalsFailed.Load(),
		SnapshotsTaken:     n.snapshotsTaken.Load(),
		SnapshotsSent:      n.snapshotsSent.Load(),
		SnapshotsInstalled: n.snapshotsInstalled.Load(),
	}
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.status
	s.Members = slices.Clone(s.Members)
	s.Applied = n.applied.Load()
	return s
}

// Leader returns the id of the leader this member knows, 0 for none: a
// cheap Status().Leader, for every answer's Amaters-Leader.
func (n *Node) Leader() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status.Leader
}

// AppliedIndex returns the index of the last entry applied locally.
func (n *Node) AppliedIndex() uint64 { return n.applied.Load() }

func (n *Node) run() {
	var tick <-chan struct{}
	if n.opts.Ticks != nil {
		tick = n.opts.Ticks
	} else {
		t := time.NewTicker(n.opts.TickInterval)
		defer t.Stop()
		c := make(chan struct{})
		tick = c
		n.wg.Go(func() {
			for {
				select {
				case <-n.ctx.Done():
					return
				case <-t.C:
					select {
					case c <- struct{}{}:
					case <-n.ctx.Done():
						return
					}
				}
			}
		})
	}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick:
			n.rn.Tick()
			n.ticks++
			n.maybePromote()
		case rd := <-n.rn.Ready():
			if err := n.handleReady(rd); err != nil {
				n.stop(err)
				return
			}
			n.rn.Advance()
			for _, f := range n.afterAdvance {
				f()
			}
			clear(n.afterAdvance)
			n.afterAdvance = n.afterAdvance[:0]
		}
	}
}

// handleReady persists, sends and applies one Ready, in the order the
// package documentation gives.
func (n *Node) handleReady(rd raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot, rd.HardState, rd.Entries); err != nil {
			return err
		}
	} else if err := n.log.Save(nil, rd.HardState, rd.Entries); err != nil {
		return err
	}
	n.send(rd.Messages)
	for _, rs := range rd.ReadStates {
		n.reads.observe(rs)
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	if rd.HardState != nil || rd.SoftState != nil || len(rd.CommittedEntries) > 0 {
		n.updateStatus(rd.SoftState, rd.HardState)
	}
	return n.maybeSnapshot()
}

// send hands the messages to the transport; a MsgSnap goes with the
// state machine's data, as a snapshot at the current applied index.
func (n *Node) send(msgs []*pb.Message) {
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.GetType() == pb.MsgSnap {
			n.sendSnapshot(m)
			continue
		}
		out = append(out, m)
	}
	if len(out) > 0 {
		n.tr.Send(out)
	}
}

func (n *Node) updateStatus(ss *raft.SoftState, hs *pb.HardState) {
	n.mu.Lock()
	old := n.status
	if ss != nil {
		n.status.Leader = ss.Lead
		n.raftState = ss.RaftState
	}
	switch {
	case n.raftState == raft.StateLeader:
		n.status.Role = RoleLeader
	case slices.Contains(n.confState.GetLearners(), n.id):
		n.status.Role = RoleLearner
	default:
		n.status.Role = RoleFollower
	}
	if hs != nil {
		n.status.Term = hs.GetTerm()
		n.status.Commit = hs.GetCommit()
	}
	n.status.Members = n.memberList()
	n.mu.Unlock()
	// A proposal made while another leader was known may or may not
	// commit now: say so at once rather than at the timeout.
	if ss != nil && old.Leader != 0 && ss.Lead != old.Leader {
		n.failWaiters(ErrUnknownOutcome)
	}
}

// memberList: n.mu must be held, on the loop goroutine.
func (n *Node) memberList() []Member {
	var ms []Member
	for id, u := range n.members.URLs {
		role := RoleFollower
		if slices.Contains(n.confState.GetLearners(), id) {
			role = RoleLearner
		} else if id == n.status.Leader {
			role = RoleLeader
		}
		ms = append(ms, Member{ID: id, PeerURL: u, Role: role})
	}
	slices.SortFunc(ms, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return ms
}

// apply applies one committed entry.
func (n *Node) apply(e *pb.Entry) error {
	idx := e.GetIndex()
	replay := idx <= n.sm.AppliedIndex()
	var (
		origin, req uint64
		res         any
		resErr      error
	)
	switch e.GetType() {
	case pb.EntryNormal:
		if replay {
			break
		}
		var cmd []byte
		if len(e.GetData()) > 0 {
			var err error
			origin, req, cmd, err = decodeEnvelope(e.GetData())
			if err != nil {
				n.logger.Error("skipping malformed entry", "index", idx, "err", err)
			}
		}
		r, err := n.sm.Apply(idx, cmd)
		if err != nil {
			return fmt.Errorf("apply entry %d: %w", idx, err)
		}
		res = r
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		var err error
		origin, req, resErr, err = n.applyConfChange(e)
		if err != nil {
			return err
		}
		if !replay {
			if _, err := n.sm.Apply(idx, nil); err != nil {
				return fmt.Errorf("apply entry %d: %w", idx, err)
			}
		}
	}
	n.applied.Store(idx)
	n.waitIdx.advance(idx)
	if origin == n.id && req != 0 {
		r := proposalResult{val: res, err: resErr}
		if e.GetType() == pb.EntryNormal {
			n.wake(req, r)
		} else {
			n.afterAdvance = append(n.afterAdvance, func() { n.wake(req, r) })
		}
	}
	return nil
}
