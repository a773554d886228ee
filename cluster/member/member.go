package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/replica"
	"amaters-server/server"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// Member is the API side of one member: it opens the replica when the
// server asks for its engine, and serves the cluster's routes, header,
// metrics and health check from it. Create it with [New].
type Member struct {
	opts replica.Options
	r    atomic.Pointer[replica.Replica]
	log  atomic.Pointer[slog.Logger] // the replica's, set by OpenEngine
	// feed receives the store's committed changes for the watches
	// (SetFeed; nil: none).
	feed atomic.Pointer[Feed]
}

// New returns a Member that will open a replica with opts (whose
// PeerListener is required) when the server calls OpenEngine. A nil
// opts.Logger becomes the server's logger.
func New(opts replica.Options) *Member { return &Member{opts: opts} }

// Replica returns the replica, nil before OpenEngine opened it.
func (m *Member) Replica() *replica.Replica { return m.r.Load() }

// Feed is where a member's committed changes go for the watches (API.md
// §8): a *server.Server.
type Feed interface {
	PublishCommitted([]store.Event)
	PublishGap()
}

// SetFeed sends the changes this member's store commits to f, once the
// engine is open; call it before the server's Run. Every member applies
// the same entries, so every member's watches see the same changes at the
// same revisions. A snapshot installed on this member changes its state
// without commits: f's PublishGap ends its watches, which resume from the
// history the snapshot carries.
func (m *Member) SetFeed(f Feed) { m.feed.Store(&f) }

func (m *Member) publish(evs []store.Event) {
	if f := m.feed.Load(); f != nil {
		(*f).PublishCommitted(evs)
	}
}

func (m *Member) gap(uint64) {
	if f := m.feed.Load(); f != nil {
		(*f).PublishGap()
	}
}

// OpenEngine is server.Options.OpenEngine: it opens the replica in
// cfg.Server.DataDir and returns it as the server's engine.
func (m *Member) OpenEngine(_ context.Context, cfg config.Config, log *slog.Logger) (server.Engine, error) {
	if m.r.Load() != nil {
		return nil, errors.New("member: the engine is open already")
	}
	o := m.opts
	if o.Logger == nil {
		o.Logger = log
	}
	// The watches: the store keeps watch.history_revisions of history
	// and hands each committed group to the feed.
	o.Machine.Store.HistoryRevisions = uint64(cfg.Watch.HistoryRevisions)
	o.Machine.Store.OnCommit = m.publish
	if prev := o.Machine.OnRestore; prev != nil {
		o.Machine.OnRestore = func(rev uint64) { prev(rev); m.gap(rev) }
	} else {
		o.Machine.OnRestore = m.gap
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		o.PeerListener.Close()
		return nil, err
	}
	r, err := replica.Open(cfg.Server.DataDir, o)
	if err != nil {
		return nil, err
	}
	m.log.Store(o.Logger)
	m.r.Store(r)
	return &engine{r: r}, nil
}

// Watch logs each change of leader this member sees, and returns the
// raft node's fatal error when it stops on one (the binary then shuts
// the server down), or nil when ctx ends. It polls every interval.
func (m *Member) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lead uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r := m.r.Load()
		if r == nil {
			continue
		}
		if err := r.Node().Err(); err != nil {
			return fmt.Errorf("the raft node stopped: %w", err)
		}
		if st := r.Node().Status(); st.Leader != lead {
			lead = st.Leader
			m.log.Load().Info("cluster leader", "leader", st.Leader, "term", st.Term, "applied", st.Applied)
		}
	}
}

// engine is the replica as a server.Engine and server.ReadBarrier.
type engine struct {
	r *replica.Replica
}

var (
	_ server.Engine      = (*engine)(nil)
	_ server.ReadBarrier = (*engine)(nil)
)

// serverErr maps the replica's errors to the server's (see the package
// doc). Other errors pass unchanged.
func serverErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrUnknownOutcome):
		return &mapped{server.ErrUnknownOutcome, err}
	case errors.Is(err, cluster.ErrTimeout), errors.Is(err, cluster.ErrProposalDropped),
		errors.Is(err, cluster.ErrStopped), errors.Is(err, cluster.ErrRemoved):
		return &mapped{server.ErrUnavailable, err}
	}
	return err
}

// mapped is a cluster error that also matches the server's error kind;
// its text is the cluster's (the server writes its own explanation
// first).
type mapped struct{ kind, err error }

func (m *mapped) Error() string   { return m.err.Error() }
func (m *mapped) Unwrap() []error { return []error{m.kind, m.err} }

func (e *engine) Write(ctx context.Context, req store.Request) (store.Result, error) {
	res, err := e.r.Write(ctx, req)
	switch {
	case err == nil:
		return res, nil
	case res.Err != nil:
		// The apply's verdict (a failed guard, an invalid request).
		return res, nil
	case errors.Is(err, store.ErrInvalid):
		// Refused before proposing (too large for one raft entry).
		return store.Result{Err: err}, nil
	}
	return store.Result{}, serverErr(err)
}

func (e *engine) ReadBarrier(ctx context.Context) error {
	return serverErr(e.r.Read(ctx, replica.Linearizable, func(*store.Store) error { return nil }))
}

func (e *engine) Get(c string, key []byte, now time.Time) (ent store.Entry, rev uint64, err error) {
	err = e.r.Machine().View(func(st *store.Store) error {
		ent, rev, err = st.Get(c, key, now)
		return err
	})
	return ent, rev, err
}

func (e *engine) Range(c string, start, end []byte, limit, maxBytes int, now time.Time) (items []store.Item, more bool, next []byte, rev uint64, err error) {
	err = e.r.Machine().View(func(st *store.Store) error {
		items, more, next, rev, err = st.Range(c, start, end, limit, maxBytes, now)
		return err
	})
	return items, more, next, rev, err
}

func (e *engine) Collections(after string, limit int, now time.Time, allow func(string) bool) (names []string, more bool, err error) {
	err = e.r.Machine().View(func(st *store.Store) error {
		names, more, err = st.Collections(after, limit, now, allow)
		return err
	})
	return names, more, err
}

// History and Revision make the member's engine a watch.Source: a watch
// reads this member's store's history.
func (e *engine) History(from uint64, fn func(store.Event) bool) (oldest uint64, err error) {
	err = e.r.Machine().View(func(st *store.Store) error {
		oldest, err = st.History(from, fn)
		return err
	})
	return oldest, err
}

func (e *engine) Revision() uint64 {
	var rev uint64
	e.r.Machine().View(func(st *store.Store) error {
		rev = st.Revision()
		return nil
	})
	return rev
}

func (e *engine) Checkpoint() (server.Checkpoint, error) {
	cp, err := e.r.Machine().Checkpoint()
	if err != nil {
		return nil, err
	}
	return cp, nil
}

func (e *engine) Stats() server.EngineStats {
	lm, sm, err := e.r.Machine().Stats()
	if err != nil {
		return server.EngineStats{Err: err}
	}
	st := server.EngineStats{
		SizeBytes: lm.DiskBytes, Flushes: lm.Flushes, Compactions: lm.Compactions, WALSyncs: lm.WALSyncs,
		WriteStalls: lm.WriteStalls, StallSeconds: lm.WriteStallTime.Seconds(), Err: lm.Err,
		Levels: make([]server.LevelStats, len(lm.Levels)), Revision: sm.Revision, Expired: sm.Expired,
	}
	for i, l := range lm.Levels {
		st.Levels[i] = server.LevelStats{Files: int64(l.Files), Bytes: l.Bytes}
	}
	if st.Err == nil {
		if err := e.r.Node().Err(); err != nil {
			st.Err = fmt.Errorf("the raft node stopped: %w", err)
		}
	}
	return st
}

func (e *engine) Close() error { return e.r.Close() }
