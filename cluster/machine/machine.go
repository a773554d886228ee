package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/backup"
	"amaters-server/server/store"
)

// Options configure a Machine. The zero value consists of defaults.
type Options struct {
	// Store configures the store; its ExpireInterval is forced negative
	// (the leader proposes expiries through raft) and its Now is unused
	// by the apply.
	Store store.Options
	// MemtableSize and BlockCacheSize tune the lsm.DB; 0 means lsm's
	// defaults.
	MemtableSize   int64
	BlockCacheSize int64
	// ServerVersion is written in snapshot archives' FORMAT.
	ServerVersion string
	// Now stamps snapshot archives; nil means time.Now.
	Now func() time.Time
	// OnRestore, when set, is called after Restore replaced the state,
	// from the apply goroutine, with the store's new revision. Watchers
	// must resume from the history (events between the old and the new
	// state were not seen by OnCommit).
	OnRestore func(revision uint64)
	// Logger receives the lsm's and the store's background events; nil
	// discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ServerVersion == "" {
		o.ServerVersion = "unknown"
	}
	o.Store.ExpireInterval = -1
	if o.Store.Logger == nil {
		o.Store.Logger = o.Logger
	}
	return o
}

// errRestoring ends snapshot streams cut short by Restore or Close.
var errRestoring = errors.New("machine: state replaced or closed while a snapshot was streaming")

// Machine is server/store as a cluster.StateMachine. Open it with
// [Open]; the zero value is not usable. Safe for concurrent use (see the
// package doc).
type Machine struct {
	dir  string
	opts Options

	// mu guards db, st and closed: Restore and Close hold it for writing
	// while they swap or release them; everything else reads under it.
	mu     sync.RWMutex
	db     *lsm.DB
	st     *store.Store
	closed bool

	// streamMu guards streams: the pipes of snapshot streams in flight,
	// which Restore and Close cut before they release the DB.
	streamMu sync.Mutex
	streams  map[*io.PipeWriter]struct{}
	streamWG sync.WaitGroup
}

// Open opens (or creates) the state machine in dir, finishing or undoing
// a Restore that a crash interrupted.
func Open(dir string, opts Options) (*Machine, error) {
	opts = opts.withDefaults()
	m := &Machine{dir: dir, opts: opts, streams: map[*io.PipeWriter]struct{}{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A single-node server's folder keeps the write-ahead log of db/ in
	// wal/ (storage.wal_dir's default); opening db/ without it would
	// serve the database without its newest writes.
	if _, err := os.Stat(filepath.Join(dir, "wal")); err == nil {
		return nil, fmt.Errorf("machine: %s holds a single-node server's write-ahead log, which the cluster edition does not read; "+
			"take a backup of that server and restore it into a new folder instead", filepath.Join(dir, "wal"))
	}
	if err := m.recover(); err != nil {
		return nil, fmt.Errorf("machine: recover interrupted restore in %s: %w", dir, err)
	}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Machine) dbDir() string  { return filepath.Join(m.dir, "db") }
func (m *Machine) oldDir() string { return filepath.Join(m.dir, "db.old") }
func (m *Machine) stageDir() string {
	return filepath.Join(m.dir, "restore")
}
func (m *Machine) archivePath() string { return filepath.Join(m.dir, "restore.tar") }

// recover puts the folder back in order after a crash inside Restore.
func (m *Machine) recover() error {
	_, errDB := os.Stat(m.dbDir())
	_, errOld := os.Stat(m.oldDir())
	switch {
	case errors.Is(errDB, fs.ErrNotExist) && errOld == nil:
		// Between the renames: the old state is whole, the new one is
		// still in the staging folder; go back to the old one.
		if err := os.Rename(m.oldDir(), m.dbDir()); err != nil {
			return err
		}
		if err := syncDir(m.dir); err != nil {
			return err
		}
	case errOld == nil:
		if err := os.RemoveAll(m.oldDir()); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(m.stageDir()); err != nil {
		return err
	}
	if err := os.Remove(m.archivePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// open opens the DB and the store; m.mu must be held for writing (or m
// not yet shared).
func (m *Machine) open() error {
	db, err := lsm.Open(m.dbDir(), lsm.Options{Sync: lsm.SyncNone, MemtableSize: m.opts.MemtableSize,
		BlockCacheSize: m.opts.BlockCacheSize, Logger: m.opts.Logger})
	if err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	st, err := store.Open(db, m.opts.Store)
	if err != nil {
		return errors.Join(fmt.Errorf("machine: %w", err), db.Close())
	}
	m.db, m.st = db, st
	return nil
}

// release closes the store and the DB; m.mu must be held for writing.
func (m *Machine) release() error {
	m.cutStreams()
	err := m.st.Close()
	return errors.Join(err, m.db.Close())
}

// Close cuts snapshot streams in flight, then closes the store and the
// DB (which flushes the memtable). It is idempotent.
func (m *Machine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.release()
}

// View calls fn with the store, held so that Restore does not replace it
// during the call. fn must not keep the store, and must not write to it
// (every write goes through raft). It returns store.ErrClosed after
// Close.
func (m *Machine) View(fn func(*store.Store) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return store.ErrClosed
	}
	return fn(m.st)
}

// Apply applies the committed entry at index (cluster.StateMachine). Its
// result is the []store.Result of the entry's requests (one for an entry
// without a command); the error is a storage failure.
func (m *Machine) Apply(index uint64, data []byte) (any, error) {
	var reqs []store.Request
	var badErr error
	if data != nil {
		var err error
		if reqs, err = Decode(data); err != nil {
			reqs, badErr = nil, fmt.Errorf("entry %d: %w", index, err)
		}
	}
	if len(reqs) == 0 {
		reqs = []store.Request{{}}
	}
	reqs[0].AppliedIndex = index
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, store.ErrClosed
	}
	res, err := m.st.Apply(reqs)
	if err != nil {
		return nil, err
	}
	if badErr != nil {
		return []store.Result{{Revision: res[0].Revision, Err: badErr}}, nil
	}
	if len(res) > 0 && errors.Is(res[0].Err, store.ErrAlreadyApplied) {
		// The node never applies an index twice; a store ahead of the
		// node means the two disagree about what was applied.
		return nil, fmt.Errorf("machine: entry %d: %w (store at %d)", index, res[0].Err, m.st.AppliedIndex())
	}
	return res, nil
}

// AppliedIndex returns the raft index of the last applied entry.
func (m *Machine) AppliedIndex() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0
	}
	return m.st.AppliedIndex()
}

// Sync makes every applied entry durable: the memtable goes to a table
// recorded in the manifest.
func (m *Machine) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return store.ErrClosed
	}
	return m.db.Flush()
}

// Snapshot returns the state at AppliedIndex as a server/backup archive,
// streamed by a goroutine from an lsm checkpoint while Apply goes on.
// Closing the stream early stops the goroutine and releases the
// checkpoint.
func (m *Machine) Snapshot() (io.ReadCloser, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, store.ErrClosed
	}
	ck, err := m.db.Checkpoint()
	if err != nil {
		return nil, fmt.Errorf("machine: snapshot: %w", err)
	}
	files := ck.Files()
	info := backup.Info{ServerVersion: m.opts.ServerVersion, Created: m.opts.Now().UTC().Truncate(time.Second),
		Engine: "lsm", LastSequence: ck.Seq(), Files: len(files)}
	for _, f := range files {
		info.Bytes += f.Size
	}
	pr, pw := io.Pipe()
	m.streamMu.Lock()
	m.streams[pw] = struct{}{}
	m.streamMu.Unlock()
	m.streamWG.Go(func() {
		err := backup.Write(pw, info, ck)
		err = errors.Join(err, ck.Close())
		pw.CloseWithError(err) // nil: the reader sees EOF
		m.streamMu.Lock()
		delete(m.streams, pw)
		m.streamMu.Unlock()
	})
	return pr, nil
}

// cutStreams ends the snapshot streams in flight and waits for their
// goroutines, which close their checkpoints.
func (m *Machine) cutStreams() {
	m.streamMu.Lock()
	for pw := range m.streams {
		pw.CloseWithError(errRestoring)
	}
	m.streamMu.Unlock()
	m.streamWG.Wait()
}

// Restore replaces the whole state by a snapshot archive taken at index
// (cluster.StateMachine). It verifies every byte of the archive before
// the current state is touched; on an error before the swap the current
// state is kept.
func (m *Machine) Restore(index uint64, r io.Reader) error {
	if err := m.recover(); err != nil {
		return err
	}
	if err := saveFile(m.archivePath(), r); err != nil {
		return fmt.Errorf("machine: save snapshot %d: %w", index, err)
	}
	if _, err := backup.Restore(context.Background(), m.archivePath(), m.stageDir(), nil); err != nil {
		return fmt.Errorf("machine: snapshot %d: %w", index, errors.Join(err, m.recover()))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	if err := m.release(); err != nil {
		return fmt.Errorf("machine: close for restore: %w", err)
	}
	if err := os.Rename(m.dbDir(), m.oldDir()); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(m.stageDir(), "db"), m.dbDir()); err != nil {
		return err
	}
	if err := syncDir(m.dir); err != nil {
		return err
	}
	if err := m.recover(); err != nil {
		return err
	}
	if err := m.open(); err != nil {
		m.closed = true
		return err
	}
	if got := m.st.AppliedIndex(); got != index {
		return fmt.Errorf("machine: snapshot for index %d holds applied index %d", index, got)
	}
	if m.opts.OnRestore != nil {
		m.opts.OnRestore(m.st.Revision())
	}
	return nil
}

func saveFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
