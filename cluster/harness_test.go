package cluster_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/internal/crashfs"
	"amaters-server/cluster/transport"
	"amaters-server/lsm"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ---- a KV state machine on lsm, honoring the idempotency contract ----

// kvSM keeps "k/<key>" → value and "applied" → index in one lsm.DB that
// runs without fsync, as the real store may: the raft log is the
// durable copy.
type kvSM struct {
	mu      sync.RWMutex // guards db against Restore while Get reads
	db      *lsm.DB
	applied atomic.Uint64
}

type kvCmd struct {
	Op  string `json:"op"` // put, cas
	Key string `json:"k"`
	Val string `json:"v"`
	Old string `json:"old,omitempty"` // cas: expected value ("" = absent)
}

type kvResult struct {
	OK  bool
	Old string
}

var keyApplied = []byte("applied")

func openKV(fs lsm.FS, dir string) (*kvSM, error) {
	db, err := lsm.Open(dir, lsm.Options{FS: fs, Sync: lsm.SyncNone, MemtableSize: 64 << 10})
	if err != nil {
		return nil, err
	}
	s := &kvSM{db: db}
	if b, err := db.Get(keyApplied); err == nil {
		s.applied.Store(binary.BigEndian.Uint64(b))
	} else if !errors.Is(err, lsm.ErrNotFound) {
		return nil, err
	}
	return s, nil
}

func (s *kvSM) Close() error { return s.db.Close() }

func (s *kvSM) AppliedIndex() uint64 { return s.applied.Load() }

func (s *kvSM) get(key string) string {
	v, _ := s.read(key)
	return v
}

// read returns the value of key, "" when absent, or the lsm's error.
func (s *kvSM) read(key string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, err := s.db.Get([]byte("k/" + key))
	if errors.Is(err, lsm.ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

func (s *kvSM) Apply(index uint64, data []byte) (any, error) {
	if index <= s.applied.Load() {
		return nil, nil // replay: applied before
	}
	var b lsm.Batch
	var res kvResult
	if data != nil {
		var c kvCmd
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("bad command at %d: %w", index, err)
		}
		cur := s.get(c.Key)
		res = kvResult{OK: true, Old: cur}
		if c.Op == "cas" && cur != c.Old {
			res.OK = false
		}
		if res.OK {
			b.Put([]byte("k/"+c.Key), []byte(c.Val))
		}
	}
	b.Put(keyApplied, binary.BigEndian.AppendUint64(nil, index))
	s.mu.Lock()
	err := s.db.Apply(&b)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.applied.Store(index)
	return res, nil
}

func (s *kvSM) Sync() error { return s.db.Flush() }

// Snapshot encodes the applied index, then (key, value) pairs with
// uvarint lengths.
func (s *kvSM) Snapshot() (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	buf := binary.BigEndian.AppendUint64(nil, s.applied.Load())
	it := s.db.NewIterator([]byte("k/"), []byte("k0"))
	for it.Next() {
		buf = binary.AppendUvarint(buf, uint64(len(it.Key())))
		buf = append(buf, it.Key()...)
		buf = binary.AppendUvarint(buf, uint64(len(it.Value())))
		buf = append(buf, it.Value()...)
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(buf)), nil
}

func (s *kvSM) Restore(index uint64, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(data) < 8 || binary.BigEndian.Uint64(data) != index {
		return fmt.Errorf("snapshot is not at index %d", index)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b lsm.Batch
	it := s.db.NewIterator([]byte("k/"), []byte("k0"))
	for it.Next() {
		b.Delete(bytes.Clone(it.Key()))
	}
	if err := it.Close(); err != nil {
		return err
	}
	rd := bytes.NewReader(data[8:])
	for rd.Len() > 0 {
		var kv [2][]byte
		for i := range kv {
			n, err := binary.ReadUvarint(rd)
			if err != nil || n > uint64(rd.Len()) {
				return fmt.Errorf("corrupt snapshot")
			}
			kv[i] = make([]byte, n)
			io.ReadFull(rd, kv[i])
		}
		b.Put(kv[0], kv[1])
	}
	b.Put(keyApplied, binary.BigEndian.AppendUint64(nil, index))
	if err := s.db.Apply(&b); err != nil {
		return err
	}
	s.applied.Store(index)
	return nil
}

// dump returns every key and value.
func (s *kvSM) dump() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := map[string]string{}
	it := s.db.NewIterator([]byte("k/"), []byte("k0"))
	for it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	it.Close()
	return m
}

// ---- an in-memory network that injects faults, seeded ----

type network struct {
	mu       sync.Mutex // guards every field below
	rng      *rand.Rand
	handlers map[uint64]transport.Handler
	peers    map[uint64]map[uint64]bool // receiver → senders it accepts
	cut      map[[2]uint64]bool         // directed link from → to that drops everything
	dropPct  int
	dupPct   int
	maxDelay time.Duration
	closed   bool
	onSend   func(from uint64, m *pb.Message) // sees every message sent, before faults

	wg                 sync.WaitGroup
	delivered, dropped atomic.Uint64
	refused            atomic.Uint64
}

func newNetwork(seed uint64) *network {
	return &network{
		rng:      rand.New(rand.NewPCG(seed, 0x9e3779b9)),
		handlers: map[uint64]transport.Handler{},
		peers:    map[uint64]map[uint64]bool{},
		cut:      map[[2]uint64]bool{},
	}
}

func (nw *network) setFaults(dropPct, dupPct int, maxDelay time.Duration) {
	nw.mu.Lock()
	nw.dropPct, nw.dupPct, nw.maxDelay = dropPct, dupPct, maxDelay
	nw.mu.Unlock()
}

// isolate cuts every link to and from id.
func (nw *network) isolate(id uint64, ids []uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, o := range ids {
		if o != id {
			nw.cut[[2]uint64{id, o}] = true
			nw.cut[[2]uint64{o, id}] = true
		}
	}
}

// cutOneWay drops everything from → to, not the reverse.
func (nw *network) cutOneWay(from, to uint64) {
	nw.mu.Lock()
	nw.cut[[2]uint64{from, to}] = true
	nw.mu.Unlock()
}

func (nw *network) heal() {
	nw.mu.Lock()
	clear(nw.cut)
	nw.mu.Unlock()
}

func (nw *network) close() {
	nw.mu.Lock()
	nw.closed = true
	nw.mu.Unlock()
	nw.wg.Wait()
}

func cloneMsg(m *pb.Message) *pb.Message {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	c := &pb.Message{}
	if err := proto.Unmarshal(b, c); err != nil {
		panic(err)
	}
	return c
}

// send delivers m after a random delay (so messages reorder), maybe
// twice, maybe never.
func (nw *network) send(from uint64, m *pb.Message) {
	nw.mu.Lock()
	if nw.onSend != nil {
		nw.onSend(from, m)
	}
	to := m.GetTo()
	if nw.closed || nw.cut[[2]uint64{from, to}] || nw.rng.IntN(100) < nw.dropPct {
		nw.mu.Unlock()
		nw.dropped.Add(1)
		return
	}
	copies := 1
	if nw.rng.IntN(100) < nw.dupPct {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if nw.maxDelay > 0 {
			delays[i] = time.Duration(nw.rng.Int64N(int64(nw.maxDelay)))
		}
	}
	nw.wg.Add(copies)
	nw.mu.Unlock()
	for _, d := range delays {
		c := cloneMsg(m)
		time.AfterFunc(d, func() {
			defer nw.wg.Done()
			nw.mu.Lock()
			h, ok := nw.handlers[to], nw.peers[to][from]
			cut := nw.cut[[2]uint64{from, to}]
			nw.mu.Unlock()
			if h == nil || cut {
				nw.dropped.Add(1)
				return
			}
			if !ok {
				nw.refused.Add(1) // the transport refuses non-members
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if h.Process(ctx, c) == nil {
				nw.delivered.Add(1)
			}
		})
	}
}

// endpoint is one member's cluster.Transport on the network.
type endpoint struct {
	nw   *network
	id   uint64
	gone atomic.Bool // detached: sends nothing more
}

func (e *endpoint) Start(h transport.Handler) error {
	e.nw.mu.Lock()
	e.nw.handlers[e.id] = h
	e.nw.mu.Unlock()
	return nil
}

// detach cuts the member off the network both ways, as a crash does: it
// receives nothing more, and from now on its sends are lost.
func (e *endpoint) detach() {
	e.gone.Store(true)
	e.nw.mu.Lock()
	delete(e.nw.handlers, e.id)
	e.nw.mu.Unlock()
}

func (e *endpoint) Send(msgs []*pb.Message) {
	if e.gone.Load() {
		return
	}
	for _, m := range msgs {
		e.nw.send(e.id, m)
	}
}

func (e *endpoint) SendSnapshot(m *pb.Message, data io.ReadCloser) {
	if e.gone.Load() {
		data.Close()
		return
	}
	b, err := io.ReadAll(data)
	data.Close()
	nw := e.nw
	nw.mu.Lock()
	from, to := e.id, m.GetTo()
	h, sender := nw.handlers[to], nw.handlers[from]
	blocked := nw.closed || nw.cut[[2]uint64{from, to}] || !nw.peers[to][from]
	if !nw.closed {
		nw.wg.Add(1)
	}
	nw.mu.Unlock()
	if nw.closed {
		return
	}
	c := cloneMsg(m)
	go func() {
		defer nw.wg.Done()
		failed := err != nil || h == nil || blocked
		if !failed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			failed = h.ReceiveSnapshot(ctx, c, bytes.NewReader(b)) != nil
			cancel()
		}
		if sender != nil {
			sender.ReportSnapshot(to, failed)
		}
	}()
}

func (e *endpoint) AddPeer(id uint64, _ string) error {
	e.nw.mu.Lock()
	defer e.nw.mu.Unlock()
	if e.nw.peers[e.id] == nil {
		e.nw.peers[e.id] = map[uint64]bool{}
	}
	e.nw.peers[e.id][id] = true
	return nil
}

func (e *endpoint) RemovePeer(id uint64) {
	e.nw.mu.Lock()
	defer e.nw.mu.Unlock()
	delete(e.nw.peers[e.id], id)
}

// ---- a cluster of members on the network, with a tick driver ----

const (
	tickEvery     = 5 * time.Millisecond
	electionTicks = 10
)

type member struct {
	id    uint64
	fs    *crashfs.FS
	sm    *kvSM
	node  *cluster.Node
	ep    *endpoint
	ticks chan struct{}
}

type testCluster struct {
	t       *testing.T
	nw      *network
	seed    uint64
	mu      sync.Mutex // guards members and urls
	members map[uint64]*member
	urls    map[uint64]string
	opts    cluster.Options // template: snapshot sizes

	stop chan struct{}
	wg   sync.WaitGroup
}

func newCluster(t *testing.T, size int, seed uint64, tmpl cluster.Options) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nw: newNetwork(seed), seed: seed, members: map[uint64]*member{}, urls: map[uint64]string{},
		opts: tmpl, stop: make(chan struct{})}
	for id := uint64(1); id <= uint64(size); id++ {
		c.urls[id] = fmt.Sprintf("mem://%d", id)
	}
	for id := uint64(1); id <= uint64(size); id++ {
		c.start(id, crashfs.New(), false)
	}
	c.wg.Go(c.tickLoop)
	t.Cleanup(c.shutdown)
	return c
}

// tickLoop ticks every running member; a busy member misses ticks
// rather than blocking the others.
func (c *testCluster) tickLoop() {
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
}

func (c *testCluster) shutdown() {
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	ids := slices(c.members)
	c.mu.Unlock()
	for _, id := range ids {
		c.kill(id, false)
	}
	c.nw.close()
}

func slices[V any](m map[uint64]V) []uint64 {
	var ids []uint64
	for id := range m {
		ids = append(ids, id)
	}
	return ids
}

func (c *testCluster) start(id uint64, fs *crashfs.FS, join bool) *member {
	c.t.Helper()
	sm, err := openKV(fs, "/sm")
	if err != nil {
		c.t.Fatalf("seed %d: open state machine %d: %v", c.seed, id, err)
	}
	ep := &endpoint{nw: c.nw, id: id}
	ticks := make(chan struct{}, 1)
	o := c.opts
	o.ID, o.StateMachine, o.Transport, o.FS = id, sm, ep, fs
	c.mu.Lock()
	o.InitialMembers = maps.Clone(c.urls)
	c.mu.Unlock()
	o.Join, o.Ticks = join, ticks
	o.TickInterval, o.ElectionTicks = tickEvery, electionTicks
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 3 * time.Second
	}
	n, err := cluster.Open("/data", o)
	if err != nil {
		c.t.Fatalf("seed %d: open member %d: %v", c.seed, id, err)
	}
	m := &member{id: id, fs: fs, sm: sm, node: n, ep: ep, ticks: ticks}
	c.mu.Lock()
	c.members[id] = m
	c.mu.Unlock()
	return m
}

// kill stops member id as a crash would: with powerCut, what was not
// fsynced is lost; otherwise (a killed process) it survives. It returns
// the state to restart the member from (nil if it was not running).
func (c *testCluster) kill(id uint64, powerCut bool) *crashfs.FS {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m == nil {
		return nil
	}
	// The crash point: off the network (a message sent after it could
	// acknowledge an entry or a vote the restarted member no longer has)
	// and the disk stopped (the member runs on until closed: an entry or
	// vote it made durable after the crash point would be missing from
	// the state it restarts from, and a proposal it committed with it
	// would be answered to its client). See crash.
	m.ep.detach()
	after := m.fs.Stop(powerCut)
	c.closeMember(m)
	return after
}

// crash takes the crash point of member id's disk only: its file system
// stops (see crashfs.FS.Stop), and the state a crash leaves now is
// returned, to restart it from. The member is no longer running for the
// cluster (no ticks, not in running()) but stays on the network until
// the caller closes it with closeMember: what it then does must not
// depend on anything it wrote after the crash point. (The harness used
// to take the crash state with Crash or Kill while the member ran on:
// it acknowledged entries its restart lacked, and the leader then sent
// the restarted member a commit index past its last entry; raft
// panicked, "tocommit(907) is out of range [lastIndex(906)]".)
func (c *testCluster) crash(id uint64, powerCut bool) (*member, *crashfs.FS) {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m == nil {
		return nil, nil
	}
	return m, m.fs.Stop(powerCut)
}

// closeMember disconnects and closes a crashed member.
func (c *testCluster) closeMember(m *member) {
	m.ep.detach()
	m.node.Close() // its fatal error, if any, was checked by the test
	m.sm.Close()
}

func (c *testCluster) member(id uint64) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

func (c *testCluster) running() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ms []*member
	for _, m := range c.members {
		ms = append(ms, m)
	}
	return ms
}

// waitFor polls cond every tick until it holds, up to 20 s.
func (c *testCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	tk := time.NewTicker(tickEvery)
	defer tk.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			c.t.Fatalf("seed %d: timed out waiting for %s", c.seed, what)
		}
	}
}

// leader returns the member that all running members agree leads, or nil.
func (c *testCluster) leader() *member {
	for _, m := range c.running() {
		if m.node.Status().Role == cluster.RoleLeader {
			return m
		}
	}
	return nil
}

func (c *testCluster) waitLeader() *member {
	c.t.Helper()
	var l *member
	c.waitFor("a leader", func() bool { l = c.leader(); return l != nil })
	return l
}

// converge waits until every running member has applied the same index
// and holds the same data, and returns the data.
func (c *testCluster) converge() map[string]string {
	c.t.Helper()
	var data map[string]string
	c.waitFor("convergence", func() bool {
		ms := c.running()
		data = ms[0].sm.dump()
		for _, m := range ms[1:] {
			if m.node.AppliedIndex() != ms[0].node.AppliedIndex() || !maps.Equal(m.sm.dump(), data) {
				return false
			}
		}
		return true
	})
	for _, m := range c.running() {
		if err := m.node.Err(); err != nil {
			c.t.Fatalf("seed %d: member %d stopped: %v", c.seed, m.id, err)
		}
	}
	return data
}

// put proposes a put through member m with retries on dropped proposals.
func put(ctx context.Context, m *member, key, val string) error {
	b, _ := json.Marshal(kvCmd{Op: "put", Key: key, Val: val})
	_, err := m.node.Propose(ctx, b)
	return err
}

// putRetry writes key=val through m (or the leader when m is nil),
// retrying a dropped or unknown outcome (a put is idempotent) with 2 s
// per attempt, for up to 20 s.
func (c *testCluster) putRetry(m *member, key, val string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		target := m
		if target == nil {
			target = c.waitLeader()
		}
		ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
		err := put(ctx, target, key, val)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !(isUnknown(err) || errors.Is(err, cluster.ErrProposalDropped)) {
			c.t.Fatalf("seed %d: put %s=%s via %d: %v", c.seed, key, val, target.id, err)
		}
	}
}

func isUnknown(err error) bool { return errors.Is(err, cluster.ErrUnknownOutcome) }

func describe(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, cluster.ErrUnknownOutcome):
		return "unknown"
	case errors.Is(err, cluster.ErrProposalDropped):
		return "dropped"
	case errors.Is(err, cluster.ErrTimeout):
		return "timeout"
	case errors.Is(err, cluster.ErrStopped):
		return "stopped"
	}
	return err.Error()
}
