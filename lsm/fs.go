package lsm

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FS is the file system the DB stores its files in. Every file the DB
// writes is created new, written sequentially, synced and closed; it is
// never modified afterwards, only renamed or removed.
//
// Implementations must be safe for concurrent use. The default is the
// operating system's file system; [NewMemFS] returns an in-memory one.
type FS interface {
	// Create creates or truncates the named file for writing.
	Create(name string) (File, error)
	// Open opens the named file for reading.
	Open(name string) (File, error)
	// OpenDir opens a directory so that Sync can make its entries
	// (created, renamed and removed files) durable.
	OpenDir(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove removes a file.
	Remove(name string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// Stat describes the named file.
	Stat(name string) (os.FileInfo, error)
	// List returns the names of the entries of a directory.
	List(dir string) ([]string, error)
	// Lock takes an exclusive lock on the named file, creating it, so
	// that two processes never open one database. Close releases it.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer
	// Sync makes everything written so far durable.
	Sync() error
	// Stat describes the file.
	Stat() (os.FileInfo, error)
	// Truncate cuts a file open for writing to size bytes; later writes
	// continue at size. The DB uses it only to take back a write that
	// failed part-way because the disk was full.
	Truncate(size int64) error
}

// osFS is the operating system's file system.
type osFS struct{}

// OSFS returns the operating system's file system, the one Open uses when
// Options.FS is nil (files created 0600), for callers that keep their
// own files beside a database through the same interface.
func OSFS() FS { return osFS{} }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}
func (osFS) Open(name string) (File, error)              { return os.Open(name) }
func (osFS) OpenDir(name string) (File, error)           { return os.Open(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }
func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}
func (osFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

func (osFS) lockHolder(name string) (bool, int, error) { return lockHolder(name) }

// LockHolder reports whether another process holds the lock file name (a
// lock of the operating system's file system, as Lock takes), and the
// process ID it records, without creating, writing or keeping the lock.
// Without unix locks it reports no holder.
func LockHolder(name string) (held bool, pid int, err error) { return lockHolder(name) }

// lockProber is implemented by this package's file systems: Check asks
// whether a lock is held without taking it or creating the lock file. A
// file system without it (a test wrapper) reports no holder.
type lockProber interface {
	lockHolder(name string) (held bool, pid int, err error)
}

// probeLock reports who holds the lock on name, as a *LockedError, or nil.
func probeLock(fs FS, name string) error {
	p, ok := fs.(lockProber)
	if !ok {
		return nil
	}
	held, pid, err := p.lockHolder(name)
	if err != nil {
		return err
	}
	if held {
		return &LockedError{Dir: filepath.Dir(name), Lock: name, PID: pid}
	}
	return nil
}

// osFile is a file created for writing: its Truncate also moves the
// write offset, as File.Truncate promises.
type osFile struct{ *os.File }

func (f osFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	_, err := f.File.Seek(size, io.SeekStart)
	return err
}

// NewMemFS returns an empty in-memory file system, the one
// storage.engine = "memory" runs the same engine on. Its files live as
// long as the returned FS; Sync costs nothing.
func NewMemFS() FS { return newMemFS() }

// memFS is an in-memory FS that also remembers what a power cut would
// keep: for each file the length synced so far, and for each directory
// its entries as of its last Sync. crashClone builds that state.
type memFS struct {
	mu    sync.Mutex // guards dirs and every memNode's fields
	dirs  map[string]*memDir
	ops   []fsOp // trace, when tracing is on
	trace bool
}

type memDir struct {
	entries map[string]*memNode // current entries
	synced  map[string]*memNode // entries at the last directory sync
}

type memNode struct {
	data      []byte
	syncedLen int
	locked    bool
	modTime   time.Time
}

// fsOp is one entry of the memFS trace, used by the tests' rule checker
// (oprules_test.go).
type fsOp struct {
	kind string // create, write, sync, dirsync, rename, remove, truncate, mark
	path string
	to   string   // rename target
	size int      // file size after a write, sync or truncate
	node *memNode // the file (not for dirsync and mark)
}

func newMemFS() *memFS {
	return &memFS{dirs: map[string]*memDir{}}
}

func (m *memFS) record(op fsOp) {
	if m.trace {
		m.ops = append(m.ops, op)
	}
}

func splitPath(name string) (dir, base string) {
	name = filepath.Clean(name)
	return filepath.Dir(name), filepath.Base(name)
}

// dirLocked returns the directory, or nil. m.mu must be held.
func (m *memFS) dirLocked(dir string) *memDir {
	return m.dirs[filepath.Clean(dir)]
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *memFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := splitPath(name)
	d := m.dirLocked(dir)
	if d == nil {
		return nil, notExist("create", name)
	}
	n := &memNode{modTime: time.Unix(0, 0)}
	d.entries[base] = n
	m.record(fsOp{kind: "create", path: filepath.Clean(name), node: n})
	return &memFile{fs: m, n: n, name: filepath.Clean(name), write: true}, nil
}

func (m *memFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := splitPath(name)
	d := m.dirLocked(dir)
	if d == nil || d.entries[base] == nil {
		if m.dirs[filepath.Clean(name)] != nil {
			return &memFile{fs: m, name: filepath.Clean(name), dir: true}, nil
		}
		return nil, notExist("open", name)
	}
	return &memFile{fs: m, n: d.entries[base], name: filepath.Clean(name)}, nil
}

func (m *memFS) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] == nil {
		return nil, notExist("open", name)
	}
	return &memFile{fs: m, name: filepath.Clean(name), dir: true}, nil
}

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob := splitPath(oldname)
	nd, nb := splitPath(newname)
	d1, d2 := m.dirLocked(od), m.dirLocked(nd)
	if d1 == nil || d2 == nil || d1.entries[ob] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	n := d1.entries[ob]
	delete(d1.entries, ob)
	d2.entries[nb] = n
	m.record(fsOp{kind: "rename", path: filepath.Clean(oldname), to: filepath.Clean(newname), node: n})
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := splitPath(name)
	d := m.dirLocked(dir)
	if d == nil || d.entries[base] == nil {
		return notExist("remove", name)
	}
	n := d.entries[base]
	delete(d.entries, base)
	m.record(fsOp{kind: "remove", path: filepath.Clean(name), node: n})
	return nil
}

// MkdirAll creates directories. Directories themselves are durable at once
// (the DB syncs the entries it creates inside them, not the directory's
// own entry in its parent).
func (m *memFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	for p := dir; ; p = filepath.Dir(p) {
		if m.dirs[p] == nil {
			m.dirs[p] = &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

func (m *memFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] != nil {
		return memInfo{name: filepath.Base(name), dir: true}, nil
	}
	dir, base := splitPath(name)
	d := m.dirLocked(dir)
	if d == nil || d.entries[base] == nil {
		return nil, notExist("stat", name)
	}
	return memInfo{name: base, size: int64(len(d.entries[base].data))}, nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirLocked(dir)
	if d == nil {
		return nil, notExist("readdir", dir)
	}
	names := make([]string, 0, len(d.entries))
	for n := range d.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (m *memFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := splitPath(name)
	d := m.dirLocked(dir)
	if d == nil {
		return nil, notExist("lock", name)
	}
	n := d.entries[base]
	if n == nil {
		n = &memNode{}
		d.entries[base] = n
		d.synced[base] = n
	}
	if n.locked {
		// Only this process uses a memFS.
		return nil, &LockedError{Dir: filepath.Clean(dir), Lock: filepath.Clean(name), PID: os.Getpid()}
	}
	n.locked = true
	return &memLock{fs: m, n: n}, nil
}

func (m *memFS) lockHolder(name string) (bool, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := splitPath(name)
	if d := m.dirLocked(dir); d != nil && d.entries[base] != nil && d.entries[base].locked {
		return true, os.Getpid(), nil
	}
	return false, 0, nil
}

type memLock struct {
	fs   *memFS
	n    *memNode
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		l.n.locked = false
		l.fs.mu.Unlock()
	})
	return nil
}

// crashClone returns the state a power cut would leave: every directory
// back to its entries at its last sync, every file cut to its synced
// length. With keepUnsyncedPct > 0, each file instead keeps a random
// prefix of its unsynced bytes with that probability, like a disk that
// wrote some of its cache before losing power: all of them, or a prefix
// that ends at a page boundary (crashGranule), because file systems write
// a file's data and size back page by page.
func (m *memFS) crashClone(keepUnsyncedPct int, rng *rand.Rand) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	clones := map[*memNode]*memNode{}
	for p, d := range m.dirs {
		nd := &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
		names := make([]string, 0, len(d.synced))
		for name := range d.synced {
			names = append(names, name)
		}
		slices.Sort(names) // deterministic use of rng
		for _, name := range names {
			n := d.synced[name]
			cn := clones[n]
			if cn == nil {
				keep := n.syncedLen
				if keepUnsyncedPct > 0 && len(n.data) > keep && rng.IntN(100) < keepUnsyncedPct {
					// One of the page boundaries after keep, or the end.
					first := (keep/crashGranule + 1) * crashGranule
					pages := 0 // the boundaries in [first, len(n.data))
					if len(n.data) > first {
						pages = (len(n.data)-1-first)/crashGranule + 1
					}
					if i := rng.IntN(pages + 1); i < pages {
						keep = first + i*crashGranule
					} else {
						keep = len(n.data)
					}
				}
				cn = &memNode{data: slices.Clone(n.data[:keep]), syncedLen: keep}
				clones[n] = cn
			}
			nd.entries[name] = cn
			nd.synced[name] = cn
		}
		c.dirs[p] = nd
	}
	return c
}

// clone returns a copy of the current state, synced or not, the way the
// page cache survives a SIGKILL.
func (m *memFS) clone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	clones := map[*memNode]*memNode{}
	cl := func(n *memNode) *memNode {
		if clones[n] == nil {
			clones[n] = &memNode{data: slices.Clone(n.data), syncedLen: n.syncedLen}
		}
		return clones[n]
	}
	for p, d := range m.dirs {
		nd := &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
		for name, n := range d.entries {
			nd.entries[name] = cl(n)
		}
		for name, n := range d.synced {
			nd.synced[name] = cl(n)
		}
		c.dirs[p] = nd
	}
	return c
}

type memFile struct {
	fs     *memFS
	n      *memNode
	name   string
	dir    bool
	write  bool
	closed bool
}

var errFileClosed = errors.New("file already closed")

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: errFileClosed}
	}
	if f.dir || !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	f.n.data = append(f.n.data, p...)
	f.fs.record(fsOp{kind: "write", path: f.name, size: len(f.n.data), node: f.n})
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errFileClosed}
	}
	if f.dir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "sync", Path: f.name, Err: errFileClosed}
	}
	if f.dir {
		d := f.fs.dirs[f.name]
		if d == nil {
			return notExist("sync", f.name)
		}
		d.synced = make(map[string]*memNode, len(d.entries))
		for k, v := range d.entries {
			d.synced[k] = v
		}
		f.fs.record(fsOp{kind: "dirsync", path: f.name})
		return nil
	}
	f.n.syncedLen = len(f.n.data)
	f.fs.record(fsOp{kind: "sync", path: f.name, size: len(f.n.data), node: f.n})
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch {
	case f.closed:
		return &fs.PathError{Op: "truncate", Path: f.name, Err: errFileClosed}
	case f.dir || !f.write:
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrPermission}
	case size < 0 || size > int64(len(f.n.data)):
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	f.n.data = f.n.data[:size]
	f.n.syncedLen = min(f.n.syncedLen, int(size))
	f.fs.record(fsOp{kind: "truncate", path: f.name, size: int(size), node: f.n})
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: errFileClosed}
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.dir {
		return memInfo{name: filepath.Base(f.name), dir: true}, nil
	}
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.n.data))}, nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return fs.ModeDir | 0o700
	}
	return 0o600
}
func (i memInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
