package store_test

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

	"amaters-server/lsm"
)

// crashFS is an in-memory lsm.FS that remembers what a crash keeps: the
// synced length of each file and each directory's entries at its last
// sync. lsm's own crash-cloning FS is internal to its tests, so the store
// has this small one: kill returns what a killed process leaves (every
// write), powerCut what a power cut leaves (synced bytes and entries, and
// a random part of the rest).
type crashFS struct {
	mu   sync.Mutex // guards dirs and every node
	dirs map[string]*crashDir
}

type crashDir struct {
	entries, synced map[string]*crashNode
}

type crashNode struct {
	data   []byte
	synced int
	locked bool
}

// crashPage is the granule in which a power cut keeps unsynced bytes.
const crashPage = 4096

func newCrashFS() *crashFS { return &crashFS{dirs: map[string]*crashDir{}} }

func pathErr(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *crashFS) dir(name string) (*crashDir, string) {
	name = filepath.Clean(name)
	return m.dirs[filepath.Dir(name)], filepath.Base(name)
}

func (m *crashFS) Create(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base := m.dir(name)
	if d == nil {
		return nil, pathErr("create", name)
	}
	n := &crashNode{}
	d.entries[base] = n
	return &crashFile{fs: m, n: n}, nil
}

func (m *crashFS) Open(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.dirs[filepath.Clean(name)]; d != nil {
		return &crashFile{fs: m, d: d}, nil
	}
	d, base := m.dir(name)
	if d == nil || d.entries[base] == nil {
		return nil, pathErr("open", name)
	}
	return &crashFile{fs: m, n: d.entries[base]}, nil
}

func (m *crashFS) OpenDir(name string) (lsm.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[filepath.Clean(name)]
	if d == nil {
		return nil, pathErr("open", name)
	}
	return &crashFile{fs: m, d: d}, nil
}

func (m *crashFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d1, b1 := m.dir(oldname)
	d2, b2 := m.dir(newname)
	if d1 == nil || d2 == nil || d1.entries[b1] == nil {
		return pathErr("rename", oldname)
	}
	d2.entries[b2] = d1.entries[b1]
	delete(d1.entries, b1)
	return nil
}

func (m *crashFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base := m.dir(name)
	if d == nil || d.entries[base] == nil {
		return pathErr("remove", name)
	}
	delete(d.entries, base)
	return nil
}

func (m *crashFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if m.dirs[p] == nil {
			m.dirs[p] = &crashDir{entries: map[string]*crashNode{}, synced: map[string]*crashNode{}}
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

func (m *crashFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[filepath.Clean(name)] != nil {
		return crashInfo{name: filepath.Base(name), dir: true}, nil
	}
	d, base := m.dir(name)
	if d == nil || d.entries[base] == nil {
		return nil, pathErr("stat", name)
	}
	return crashInfo{name: base, size: int64(len(d.entries[base].data))}, nil
}

func (m *crashFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[filepath.Clean(dir)]
	if d == nil {
		return nil, pathErr("readdir", dir)
	}
	var names []string
	for n := range d.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (m *crashFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base := m.dir(name)
	if d == nil {
		return nil, pathErr("lock", name)
	}
	n := d.entries[base]
	if n == nil {
		n = &crashNode{}
		d.entries[base], d.synced[base] = n, n
	}
	if n.locked {
		return nil, errors.New("crashfs: locked")
	}
	n.locked = true
	return closerFunc(func() error {
		m.mu.Lock()
		n.locked = false
		m.mu.Unlock()
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// kill returns what a killed process leaves: every write.
func (m *crashFS) kill() *crashFS {
	return m.clone(func(d *crashDir) map[string]*crashNode { return d.entries }, nil)
}

// powerCut returns what a power cut leaves: directories as of their last
// sync, files cut to their synced length plus, with rng, a random part of
// their unsynced bytes up to a page boundary.
func (m *crashFS) powerCut(rng *rand.Rand) *crashFS {
	return m.clone(func(d *crashDir) map[string]*crashNode { return d.synced }, rng)
}

func (m *crashFS) clone(which func(*crashDir) map[string]*crashNode, rng *rand.Rand) *crashFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newCrashFS()
	copies := map[*crashNode]*crashNode{}
	paths := make([]string, 0, len(m.dirs))
	for p := range m.dirs {
		paths = append(paths, p)
	}
	slices.Sort(paths) // a deterministic use of rng
	for _, p := range paths {
		d := m.dirs[p]
		nd := &crashDir{entries: map[string]*crashNode{}, synced: map[string]*crashNode{}}
		src := which(d)
		names := make([]string, 0, len(src))
		for name := range src {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			n := src[name]
			cp, ok := copies[n]
			if !ok {
				keep := len(n.data)
				if rng != nil {
					// The synced bytes and then all of the rest, or a
					// prefix of it that ends at a page boundary: file
					// systems write a file's data and size back page by
					// page, and lsm refuses a log torn anywhere else.
					keep = n.synced
					if len(n.data) > keep {
						first := (keep/crashPage + 1) * crashPage
						pages := 0 // the boundaries in [first, len(n.data))
						if len(n.data) > first {
							pages = (len(n.data)-1-first)/crashPage + 1
						}
						if i := rng.IntN(pages + 1); i < pages {
							keep = first + i*crashPage
						} else {
							keep = len(n.data)
						}
					}
				}
				cp = &crashNode{data: slices.Clone(n.data[:keep]), synced: keep}
				copies[n] = cp
			}
			nd.entries[name], nd.synced[name] = cp, cp
		}
		c.dirs[p] = nd
	}
	return c
}

type crashFile struct {
	fs *crashFS
	n  *crashNode // nil for a directory
	d  *crashDir
}

func (f *crashFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n == nil {
		return 0, errors.New("crashfs: read of a directory")
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

func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n != nil {
		f.n.synced = len(f.n.data)
		return nil
	}
	clear(f.d.synced)
	for name, n := range f.d.entries {
		f.d.synced[name] = n
	}
	return nil
}

func (f *crashFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.n.data = f.n.data[:size]
	f.n.synced = min(f.n.synced, int(size))
	return nil
}

func (f *crashFile) Close() error { return nil }

func (f *crashFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n == nil {
		return crashInfo{dir: true}, nil
	}
	return crashInfo{size: int64(len(f.n.data))}, nil
}

type crashInfo struct {
	name string
	size int64
	dir  bool
}

func (i crashInfo) Name() string { return i.name }
func (i crashInfo) Size() int64  { return i.size }
func (i crashInfo) Mode() os.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i crashInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (i crashInfo) IsDir() bool        { return i.dir }
func (i crashInfo) Sys() any           { return nil }
