package machine

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
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
	// FS holds the folder; nil means the operating system's. (Tests use
	// a crash-simulating one.)
	FS lsm.FS
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
	fs   lsm.FS

	// mu guards db, st and closed: Restore and Close hold it for writing
	// while they swap or release them; everything else reads under it.
	mu     sync.RWMutex
	db     *lsm.DB
	st     *store.Store
	cur    string // the current database folder's name
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
	m := &Machine{dir: dir, opts: opts, fs: lsm.OSFS(), streams: map[*io.PipeWriter]struct{}{}}
	if opts.FS != nil {
		m.fs = opts.FS
	}
	if err := m.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A single-node server's folder keeps the write-ahead log of db/ in
	// wal/ (storage.wal_dir's default); opening db/ without it would
	// serve the database without its newest writes.
	if _, err := m.fs.Stat(filepath.Join(dir, "wal")); err == nil {
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

const (
	stateFile   = "STATE"
	initialDB   = "db"
	archiveFile = "restore.tar"
)

// current names the folder of the current database: STATE's content, or
// "db" when there is no STATE.
func (m *Machine) current() (string, error) {
	f, err := m.fs.Open(filepath.Join(m.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return initialDB, nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64))
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(string(b), "\n")
	if !isDBName(name) {
		return "", fmt.Errorf("%s names %q, not a database folder", filepath.Join(m.dir, stateFile), name)
	}
	return name, nil
}

func isDBName(name string) bool {
	if name == initialDB {
		return true
	}
	hex, ok := strings.CutPrefix(name, "db-")
	if !ok || len(hex) != 16 {
		return false
	}
	_, err := strconv.ParseUint(hex, 16, 64)
	return err == nil
}

// recover removes what a Restore left behind: every database folder but
// the current one, the STATE being written, the saved archive.
func (m *Machine) recover() error {
	cur, err := m.current()
	if err != nil {
		return err
	}
	names, err := m.fs.List(m.dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(m.dir, name)
		switch {
		case name == cur:
		case isDBName(name):
			if err := removeAll(m.fs, p); err != nil {
				return err
			}
		case name == stateFile+".tmp" || name == archiveFile:
			if err := m.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// removeAll removes a folder and everything in it.
func removeAll(fsys lsm.FS, path string) error {
	names, err := fsys.List(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(path, name)
		if fi, err := fsys.Stat(p); err == nil && fi.IsDir() {
			if err := removeAll(fsys, p); err != nil {
				return err
			}
			continue
		}
		if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// (A file system whose folders are not entries, like the tests'
	// crash FS, keeps the empty folder: harmless.)
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if fi, serr := fsys.Stat(path); serr == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	return nil
}

// open opens the current DB and the store; m.mu must be held for
// writing (or m not yet shared).
func (m *Machine) open() error {
	cur, err := m.current()
	if err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	db, err := lsm.Open(filepath.Join(m.dir, cur), lsm.Options{Sync: lsm.SyncNone, MemtableSize: m.opts.MemtableSize,
		BlockCacheSize: m.opts.BlockCacheSize, Logger: m.opts.Logger, FS: m.opts.FS})
	if err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	st, err := store.Open(db, m.opts.Store)
	if err != nil {
		return errors.Join(fmt.Errorf("machine: %w", err), db.Close())
	}
	m.db, m.st, m.cur = db, st, cur
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

// Dir returns the folder the machine was opened on.
func (m *Machine) Dir() string { return m.dir }

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
// (cluster.StateMachine). It verifies every byte of the archive (BLAKE3)
// and extracts it into a new folder before the current state is
// touched; on an error before the switch the current state is kept.
// The switch is the atomic replacement of STATE.
func (m *Machine) Restore(index uint64, r io.Reader) error {
	if err := m.recover(); err != nil {
		return err
	}
	src, ok := r.(io.ReadSeeker)
	if !ok {
		// Read twice: once to verify, once to extract.
		p := filepath.Join(m.dir, archiveFile)
		if err := saveFile(m.fs, p, r); err != nil {
			return fmt.Errorf("machine: save snapshot %d: %w", index, err)
		}
		f, err := m.fs.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		src = io.NewSectionReader(f, 0, fi.Size())
	}
	if _, err := backup.Verify(src); err != nil {
		return fmt.Errorf("machine: snapshot %d: %w", index, err)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	name := fmt.Sprintf("db-%016x", index)
	dbDir := filepath.Join(m.dir, name)

	// m.cur changes only in Restore, on the caller's goroutine.
	if name == m.cur {
		return fmt.Errorf("machine: snapshot %d would replace the current database folder %s", index, name)
	}
	if err := extract(m.fs, src, dbDir); err != nil {
		return fmt.Errorf("machine: extract snapshot %d: %w", index, errors.Join(err, removeAll(m.fs, dbDir)))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	if err := m.release(); err != nil {
		m.closed = true
		return fmt.Errorf("machine: close for restore: %w", err)
	}
	tmp := filepath.Join(m.dir, stateFile+".tmp")
	err := saveFile(m.fs, tmp, strings.NewReader(name+"\n"))
	if err == nil {
		err = m.fs.Rename(tmp, filepath.Join(m.dir, stateFile))
	}
	if err == nil {
		err = syncDir(m.fs, m.dir)
	}
	if err == nil {
		err = m.open()
	}
	if err != nil {
		m.closed = true
		return fmt.Errorf("machine: switch to snapshot %d: %w", index, err)
	}
	if err := m.recover(); err != nil {
		m.opts.Logger.Warn("remove the replaced state", "err", err)
	}
	if got := m.st.AppliedIndex(); got != index {
		return fmt.Errorf("machine: snapshot for index %d holds applied index %d", index, got)
	}
	if m.opts.OnRestore != nil {
		m.opts.OnRestore(m.st.Revision())
	}
	return nil
}

// extract writes the db/ files of a verified archive into dir, each
// synced, then the folder.
func extract(fsys lsm.FS, r io.Reader, dir string) error {
	if err := removeAll(fsys, dir); err != nil {
		return err
	}
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, ok := strings.CutPrefix(hdr.Name, "amaters-backup/db/")
		if !ok {
			continue // FORMAT, BLAKE3SUMS
		}
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
			return fmt.Errorf("archive entry %q", hdr.Name)
		}
		if err := saveFile(fsys, filepath.Join(dir, name), tr); err != nil {
			return err
		}
	}
	return syncDir(fsys, dir)
}

func saveFile(fsys lsm.FS, path string, r io.Reader) error {
	f, err := fsys.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(fsys lsm.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// Checkpoint returns an lsm checkpoint of the state, for the server's
// online backup (server.Engine.Checkpoint): every entry applied before
// the call and maybe some applied during it, always whole entries (each
// is one lsm batch), so the archive holds one revision. Close it when
// done. A Restore (a snapshot installed) while it is open makes the
// reads of its files that have not started fail: the backup fails with
// an error rather than mixing two states.
func (m *Machine) Checkpoint() (*lsm.Checkpoint, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, store.ErrClosed
	}
	return m.db.Checkpoint()
}

// Stats returns the lsm's and the store's counters, for /metrics and
// /health.
func (m *Machine) Stats() (lsm.Metrics, store.Metrics, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return lsm.Metrics{}, store.Metrics{}, store.ErrClosed
	}
	return m.db.Metrics(), m.st.Metrics(), nil
}
