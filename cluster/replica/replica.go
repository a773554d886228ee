package replica

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/machine"
	"amaters-server/cluster/transport"
	"amaters-server/server/store"
)

// Options configure Open. Zero fields mean defaults, except the ones
// marked required.
type Options struct {
	// ID is this member's raft id (required, ≥ 1, never reused).
	ID uint64
	// PeerListener is the listener for peer traffic (required); the
	// Replica serves it and closes it.
	PeerListener net.Listener
	// InitialMembers maps id to peer URL (see cluster.Options).
	InitialMembers map[uint64]string
	// Join starts an empty member of an existing cluster.
	Join bool
	// PeerTLS, when set, is the peer mTLS configuration
	// (transport.LoadTLS); InsecurePeers serves non-loopback peers
	// without it.
	PeerTLS       *tls.Config
	InsecurePeers bool
	// Raft timing and log compaction, as in cluster.Options.
	TickInterval    time.Duration
	ElectionTicks   int
	SnapshotEntries uint64
	CatchUpEntries  uint64
	RequestTimeout  time.Duration
	// Machine configures the state machine.
	Machine machine.Options
	// ExpireInterval is the period of the leader's expirer; 0 means one
	// second, negative runs none.
	ExpireInterval time.Duration
	// ExpireBatch is the most expiries one proposal carries; 0 means 1000.
	ExpireBatch int
	// Now is the clock of proposals (request times, expiry); nil means
	// time.Now.
	Now func() time.Time
	// WrapPeerHandler, when set, wraps the peer listener's handler: the
	// tests' fault injection (partitions) sits there.
	WrapPeerHandler func(http.Handler) http.Handler
	// Logger receives events; nil discards them.
	Logger *slog.Logger
}

// MaxCommandBytes bounds one write's encoded command. A raft entry
// travels whole in one peer message, which the transport bounds (64 MiB
// by default, transport.Options.MaxMessageBytes): an entry above that
// would be refused by every follower forever and stop replication. The
// API's own bounds (max_body_bytes, max_value_bytes) keep requests well
// below it.
const MaxCommandBytes = 32 << 20

// Consistency is the guarantee of a read.
type Consistency int

const (
	// Linearizable reads see every write acknowledged anywhere in the
	// cluster before the read began (ReadIndex). The zero value.
	Linearizable Consistency = iota
	// Serializable reads see this member's applied state, which may lag.
	Serializable
)

// Replica is one running member. Open it with [Open]; the zero value is
// not usable.
type Replica struct {
	opts Options
	m    *machine.Machine
	tr   *transport.Transport
	srv  *http.Server
	node *cluster.Node

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens the member's files under dir, starts serving peers on
// Options.PeerListener and starts the raft node.
func Open(dir string, opts Options) (_ *Replica, err error) {
	if opts.PeerListener == nil {
		return nil, errors.New("replica: PeerListener is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ExpireInterval == 0 {
		opts.ExpireInterval = time.Second
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.ExpireBatch == 0 {
		opts.ExpireBatch = 1000
	}
	if opts.Machine.Logger == nil {
		opts.Machine.Logger = opts.Logger
	}
	r := &Replica{opts: opts}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				err = errors.Join(err, closers[i]())
			}
		}
	}()
	closers = append(closers, opts.PeerListener.Close)
	if r.m, err = machine.Open(dir, opts.Machine); err != nil {
		return nil, err
	}
	closers = append(closers, r.m.Close)
	if err := checkSeed(dir, r.m, opts); err != nil {
		return nil, err
	}
	r.tr, err = transport.New(transport.Options{ID: opts.ID, TLS: opts.PeerTLS, InsecurePeers: opts.InsecurePeers,
		RequestTimeout: opts.RequestTimeout, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	closers = append(closers, r.tr.Close)
	r.srv = r.tr.NewServer()
	if opts.WrapPeerHandler != nil {
		r.srv.Handler = opts.WrapPeerHandler(r.srv.Handler)
	}
	ln := opts.PeerListener
	serve := func() { r.srv.Serve(ln) }
	if opts.PeerTLS != nil {
		serve = func() { r.srv.ServeTLS(ln, "", "") }
	}
	r.wg.Go(serve)
	closers[0] = func() error { return nil } // Serve closes the listener now
	closers = append(closers, func() error { err := r.srv.Close(); r.wg.Wait(); return err })
	r.node, err = cluster.Open(dir, cluster.Options{
		ID: opts.ID, StateMachine: r.m, Transport: r.tr, InitialMembers: opts.InitialMembers, Join: opts.Join,
		TickInterval: opts.TickInterval, ElectionTicks: opts.ElectionTicks, SnapshotEntries: opts.SnapshotEntries,
		CatchUpEntries: opts.CatchUpEntries, RequestTimeout: opts.RequestTimeout, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if opts.ExpireInterval > 0 {
		r.wg.Go(func() { r.expireLoop(ctx) })
	}
	return r, nil
}

// checkSeed looks at a state machine that has no raft log yet. Empty,
// it is a new member. Holding data (a single-node server's folder, a
// restored backup), it seeds a new one-member cluster (cluster.Seed),
// which the others then join; any other start over it is refused, since
// the node would apply the log over data that no entry carries (a
// joining member) or other members would never get that data (a new
// cluster of several).
func checkSeed(dir string, m *machine.Machine, opts Options) error {
	if _, err := os.Stat(filepath.Join(dir, "raft")); !errors.Is(err, fs.ErrNotExist) {
		return err // an existing log (nil), or a folder we cannot look at
	}
	var applied, rev uint64
	m.View(func(st *store.Store) error {
		applied, rev = st.AppliedIndex(), st.Revision()
		return nil
	})
	if applied == 0 && rev == 0 {
		return nil
	}
	db := filepath.Join(dir, "db")
	switch {
	case opts.Join:
		return fmt.Errorf("replica: %s holds data (revision %d) but %s has no raft log; "+
			"a member joining a cluster (initial_state = existing) starts from an empty folder", db, rev, dir)
	case len(opts.InitialMembers) != 1 || opts.InitialMembers[opts.ID] == "":
		return fmt.Errorf("replica: %s holds data (revision %d) but %s has no raft log; "+
			"to seed a new cluster from it, start it alone (initial_members naming only this member, initial_state = new), then add the others", db, rev, dir)
	}
	if applied == 0 {
		// The seed snapshot needs an index; record 1 in the state.
		if _, err := m.Apply(1, nil); err != nil {
			return err
		}
		applied = 1
	}
	opts.Logger.Info("seeding a new one-member cluster from existing data", "data", db, "revision", rev, "index", applied)
	return cluster.Seed(dir, opts.ID, opts.InitialMembers[opts.ID], applied, cluster.Options{Logger: opts.Logger})
}

// Close stops the expirer, the node, the peer server and the transport,
// then closes the state machine. It is idempotent and returns the first
// error (a fatal error of the node first).
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		err := r.srv.Close()
		r.wg.Wait()
		r.closeErr = errors.Join(r.node.Close(), err, r.tr.Close(), r.m.Close())
	})
	return r.closeErr
}

// Node returns the raft node: status, membership, counters.
func (r *Replica) Node() *cluster.Node { return r.node }

// Transport returns the peer transport, for its counters.
func (r *Replica) Transport() *transport.Transport { return r.tr }

// Machine returns the state machine.
func (r *Replica) Machine() *machine.Machine { return r.m }

// Write proposes req and returns its result once it is applied on this
// member. A zero req.Now is set from the clock here. A failed guard
// returns the Result and a *store.GuardError; see the package doc for
// the other errors. It waits at most Options.RequestTimeout (raft holds
// proposals while no leader is known); a write that times out after it
// was proposed fails with cluster.ErrUnknownOutcome.
func (r *Replica) Write(ctx context.Context, req store.Request) (store.Result, error) {
	if req.Now.IsZero() {
		req.Now = r.opts.Now()
	}
	req.AppliedIndex = 0
	ctx, cancel := r.bound(ctx)
	defer cancel()
	cmd := machine.Encode(nil, []store.Request{req})
	if len(cmd) > MaxCommandBytes {
		return store.Result{}, fmt.Errorf("%w: a write of %d bytes encoded, above the cluster's limit of %d per write", store.ErrInvalid, len(cmd), MaxCommandBytes)
	}
	out, err := r.node.Propose(ctx, cmd)
	if err != nil {
		return store.Result{}, err
	}
	res, ok := out.([]store.Result)
	if !ok || len(res) != 1 {
		return store.Result{}, fmt.Errorf("replica: unexpected apply result %T", out)
	}
	return res[0], res[0].Err
}

// Read calls fn with the store once the consistency c is ensured: for
// Linearizable, after a ReadIndex round shared with every read waiting
// for one, and this member's apply reaching its index. fn must not keep
// the store or write to it.
func (r *Replica) Read(ctx context.Context, c Consistency, fn func(*store.Store) error) error {
	if c == Linearizable {
		ctx, cancel := r.bound(ctx)
		defer cancel()
		if _, err := r.node.ReadIndex(ctx); err != nil {
			return err
		}
	}
	return r.m.View(fn)
}

// bound limits ctx to Options.RequestTimeout: raft holds a proposal
// while no leader is known, and API.md §9 answers 503 after
// request_timeout_ms without quorum, whatever the client's own deadline.
func (r *Replica) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.RequestTimeout)
}

// expireLoop proposes due expiries while this member leads.
func (r *Replica) expireLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := r.node.Status(); st.Leader != r.opts.ID {
			continue
		}
		if err := r.ExpireOnce(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("propose expiries", "err", err)
		}
	}
}

// ExpireOnce proposes the expiries due now (up to ExpireBatch) as one
// command and waits for it to apply. The leader's expirer calls it;
// tests may too.
func (r *Replica) ExpireOnce(ctx context.Context) error {
	now := r.opts.Now()
	var reqs []store.Request
	err := r.m.View(func(st *store.Store) error {
		var err error
		reqs, err = st.DueExpiries(now, r.opts.ExpireBatch)
		return err
	})
	if err != nil || len(reqs) == 0 {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	_, err = r.node.Propose(ctx, machine.Encode(nil, reqs))
	return err
}
