// Package crashfs is an in-memory lsm.FS for tests that can simulate a
// power cut: it remembers, for each file, how many bytes were synced and,
// for each directory, its entries at its last sync. [FS.Crash] returns
// the state a power cut would leave; [FS.Kill] the state a killed process
// leaves (the page cache survives). [FS.Stop] does either and stops the
// FS at that instant, as the crash stops the process using it: to
// restart a member from a crash, Stop its FS first and only then close
// the member, so that nothing it writes (and acknowledges) after the
// crash point is missing from the state it restarts from.
//
// lsm has the same test FS, but only for its own tests (export_test.go),
// so this module keeps its own.
//
// # Concurrency
//
// An FS and its files are safe for concurrent use.
package crashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"amaters-server/lsm"
)

// FS is the crash-simulating file system. The zero value is not usable;
// call New.
type FS struct {
	mu      sync.Mutex // guards dirs, stopped and every node's fields
	dirs    map[string]*dir
	stopped bool
}

type dir struct {
	live   map[string]*node // entries now
	synced map[string]*node // entries at the last directory sync
}

type node struct {
	data   []byte
	synced int // bytes made durable by Sync
	locked bool
}

var _ lsm.FS = (*FS)(nil)

// New returns an empty FS.
func New() *FS { return &FS{dirs: map[string]*dir{}} }

// Crash returns the state a power cut leaves now: each directory with its
// entries as of its last sync, each file cut to its synced length.
func (m *FS) Crash() *FS { return m.copy(true, false) }

// Kill returns the state a killed process leaves now: everything written,
// synced or not.
func (m *FS) Kill() *FS { return m.copy(false, false) }

// ErrStopped is the error of every change to an FS after Stop.
var ErrStopped = errors.New("crashfs: stopped by a simulated crash")

// Stop returns the state a power cut (powerCut) or a killed process
// leaves now, like Crash or Kill, and stops m in the same instant: from
// then on every change to m (write, sync, create, rename, remove, mkdir,
// truncate, lock) fails with ErrStopped; reads still work.
//
// A crash stops the process at once. Taking Crash or Kill of a member's
// FS while the member runs on does not: until it is closed it can write
// more entries, sync them and acknowledge them to its peers, and those
// entries are missing from the copy it restarts from, which is a lost
// acknowledged write that no real crash produces (the leader then sends
// the restarted member a commit index past its last entry, and raft
// panics). With Stop, whatever the member does after the crash point
// fails before it can be acknowledged.
func (m *FS) Stop(powerCut bool) *FS { return m.copy(powerCut, true) }

// stoppedErr: m.mu must be held.
func (m *FS) stoppedErr(op, name string) error {
	if m.stopped {
		return &fs.PathError{Op: op, Path: name, Err: ErrStopped}
	}
	return nil
}

func (m *FS) copy(crash, stop bool) *FS {
	m.mu.Lock()
	defer m.mu.Unlock()
	if stop {
		m.stopped = true
	}
	c := New()
	done := map[*node]*node{}
	cp := func(n *node) *node {
		if done[n] == nil {
			keep := len(n.data)
			if crash {
				keep = n.synced
			}
			done[n] = &node{data: append([]byte(nil), n.data[:keep]...), synced: min(n.synced, keep)}
		}
		return done[n]
	}
	for p, d := range m.dirs {
		nd := &dir{live: map[string]*node{}, synced: map[string]*node{}}
		src := d.live
		if crash {
			src = d.synced
		}
		for name, n := range src {
			nd.live[name] = cp(n)
		}
		for name, n := range d.synced {
			nd.synced[name] = cp(n)
		}
		c.dirs[p] = nd
	}
	return c
}

func split(name string) (string, string) {
	name = filepath.Clean(name)
	return filepath.Dir(name), filepath.Base(name)
}

func notExist(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

// Create creates or truncates a file.
func (m *FS) Create(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stoppedErr("create", name); err != nil {
		return nil, err
	}
	dn, base := split(name)
	d := m.dirs[dn]
	if d == nil {
		return nil, notExist("create", name)
	}
	n := &node{}
	d.live[base] = n
	return &file{fs: m, n: n, name: name, write: true}, nil
}

// Open opens a file or directory for reading.
func (m *FS) Open(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] != nil {
		return &file{fs: m, name: filepath.Clean(name), dir: true}, nil
	}
	dn, base := split(name)
	d := m.dirs[dn]
	if d == nil || d.live[base] == nil {
		return nil, notExist("open", name)
	}
	return &file{fs: m, n: d.live[base], name: name}, nil
}

// OpenDir opens a directory, to Sync it.
func (m *FS) OpenDir(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] == nil {
		return nil, notExist("open", name)
	}
	return &file{fs: m, name: filepath.Clean(name), dir: true}, nil
}

// Rename moves a file.
func (m *FS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stoppedErr("rename", oldname); err != nil {
		return err
	}
	od, ob := split(oldname)
	nd, nb := split(newname)
	d1, d2 := m.dirs[od], m.dirs[nd]
	if d1 == nil || d2 == nil || d1.live[ob] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	d2.live[nb] = d1.live[ob]
	delete(d1.live, ob)
	return nil
}

// Remove removes a file.
func (m *FS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stoppedErr("remove", name); err != nil {
		return err
	}
	dn, base := split(name)
	d := m.dirs[dn]
	if d == nil || d.live[base] == nil {
		return notExist("remove", name)
	}
	delete(d.live, base)
	return nil
}

// MkdirAll creates directories; they are durable at once.
func (m *FS) MkdirAll(name string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stoppedErr("mkdir", name); err != nil {
		return err
	}
	for p := filepath.Clean(name); ; p = filepath.Dir(p) {
		if m.dirs[p] == nil {
			m.dirs[p] = &dir{live: map[string]*node{}, synced: map[string]*node{}}
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// Stat describes a file or directory.
func (m *FS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] != nil {
		return info{name: filepath.Base(name), dir: true}, nil
	}
	dn, base := split(name)
	d := m.dirs[dn]
	if d == nil || d.live[base] == nil {
		return nil, notExist("stat", name)
	}
	return info{name: base, size: int64(len(d.live[base].data))}, nil
}

// List names a directory's entries.
func (m *FS) List(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[filepath.Clean(name)]
	if d == nil {
		return nil, notExist("readdir", name)
	}
	var names []string
	for n := range d.live {
		names = append(names, n)
	}
	return names, nil
}

var errLocked = errors.New("crashfs: locked")

// Lock takes an exclusive lock on a file, creating it.
func (m *FS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stoppedErr("lock", name); err != nil {
		return nil, err
	}
	dn, base := split(name)
	d := m.dirs[dn]
	if d == nil {
		return nil, notExist("lock", name)
	}
	n := d.live[base]
	if n == nil {
		n = &node{}
		d.live[base], d.synced[base] = n, n
	}
	if n.locked {
		return nil, fmt.Errorf("lock %s: %w", name, errLocked)
	}
	n.locked = true
	return &lock{fs: m, n: n}, nil
}

type lock struct {
	fs   *FS
	n    *node
	once sync.Once
}

func (l *lock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		l.n.locked = false
		l.fs.mu.Unlock()
	})
	return nil
}

type file struct {
	fs     *FS
	n      *node
	name   string
	dir    bool
	write  bool
	closed bool
}

var errClosed = errors.New("crashfs: file closed")

func (f *file) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.stoppedErr("write", f.name); err != nil {
		return 0, err
	}
	if f.closed || f.dir || !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: errClosed}
	}
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.dir || off < 0 {
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

func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.stoppedErr("sync", f.name); err != nil {
		return err
	}
	if f.closed {
		return &fs.PathError{Op: "sync", Path: f.name, Err: errClosed}
	}
	if f.dir {
		d := f.fs.dirs[f.name]
		if d == nil {
			return notExist("sync", f.name)
		}
		d.synced = make(map[string]*node, len(d.live))
		for k, v := range d.live {
			d.synced[k] = v
		}
		return nil
	}
	f.n.synced = len(f.n.data)
	return nil
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.stoppedErr("truncate", f.name); err != nil {
		return err
	}
	if f.closed || f.dir || !f.write || size < 0 || size > int64(len(f.n.data)) {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	f.n.data = f.n.data[:size]
	f.n.synced = min(f.n.synced, int(size))
	return nil
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: errClosed}
	}
	f.closed = true
	return nil
}

func (f *file) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.dir {
		return info{name: filepath.Base(f.name), dir: true}, nil
	}
	return info{name: filepath.Base(f.name), size: int64(len(f.n.data))}, nil
}

type info struct {
	name string
	size int64
	dir  bool
}

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return i.size }
func (i info) Mode() os.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time { return time.Unix(0, 0) }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
