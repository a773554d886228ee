package lsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"amaters-server/lru"
	"amaters-server/lsm/internal/sstable"
)

// blockKey names a cached block: the table's file number (never reused)
// and the block's offset.
type blockKey struct{ file, offset uint64 }

// blockCache is the SSTable block cache, an lru.Sharded of verified block
// contents costed by their size. Blocks of deleted tables are not purged:
// file numbers are never reused, so they just age out.
type blockCache struct {
	c *lru.Sharded[blockKey, []byte]
}

func newBlockCache(size int64) *blockCache {
	if size <= 0 {
		return nil
	}
	return &blockCache{c: lru.NewSharded(lru.ShardedOptions[blockKey, []byte]{
		MaxCost: size,
		Shards:  32,
		Hash: func(k blockKey) uint64 {
			h := k.file*0x9e3779b97f4a7c15 ^ k.offset*0xc2b2ae3d27d4eb4f
			return h ^ h>>29
		},
	})}
}

func (b *blockCache) Get(file, offset uint64) ([]byte, bool) {
	return b.c.Get(blockKey{file, offset})
}

func (b *blockCache) Add(file, offset uint64, block []byte) {
	b.c.Add(blockKey{file, offset}, block, int64(len(block)))
}

// table is an open SSTable. The table cache holds one reference and each
// user one more; the file closes when the last goes.
type table struct {
	num  uint64
	f    File
	r    *sstable.Reader
	refs atomic.Int32
}

// tryRef takes a reference unless the table is already closed.
func (t *table) tryRef() bool {
	for {
		n := t.refs.Load()
		if n <= 0 {
			return false
		}
		if t.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (t *table) unref() {
	if t.refs.Add(-1) == 0 {
		t.f.Close()
	}
}

// tableCache keeps SSTables open so that reads do not reopen files, on an
// lru.Sharded of open tables.
type tableCache struct {
	fs  FS
	dir string
	bc  *blockCache
	// onCorruption, if set, is told of every corruption a read meets
	// (DB.noteCorruption). Set before use, never changed.
	onCorruption func(error)
	c            *lru.Sharded[uint64, *table]
	iterPool     sync.Pool // of *sstable.Iter, for point lookups
	scanPool     sync.Pool // of *sstable.Iter with read-ahead buffers, for scans
}

func newTableCache(fs FS, dir string, bc *blockCache, maxOpen int) *tableCache {
	return &tableCache{
		fs: fs, dir: dir, bc: bc,
		c: lru.NewSharded(lru.ShardedOptions[uint64, *table]{
			MaxEntries: maxOpen,
			Shards:     8,
			Hash:       func(n uint64) uint64 { return n * 0x9e3779b97f4a7c15 },
			OnEvict:    func(_ uint64, t *table, _ lru.EvictReason) { t.unref() },
		}),
	}
}

// corruptionFrom turns a format package's corruption report into a
// *CorruptionError naming the file.
func corruptionFrom(path string, err error) error {
	var se *sstable.CorruptError
	if errors.As(err, &se) {
		return &CorruptionError{File: path, Offset: se.Offset, Err: err}
	}
	return err
}

// corrupt is corruptionFrom, also reported to onCorruption.
func (tc *tableCache) corrupt(path string, err error) error {
	err = corruptionFrom(path, err)
	if tc.onCorruption != nil && errors.Is(err, ErrCorruption) {
		tc.onCorruption(err)
	}
	return err
}

// get returns the open table num with a reference the caller must drop.
func (tc *tableCache) get(num uint64) (*table, error) {
	if t, ok := tc.c.Get(num); ok && t.tryRef() {
		return t, nil
	}
	path := filepath.Join(tc.dir, tableName(num))
	f, err := tc.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open table: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open table: %w", err)
	}
	ro := sstable.ReaderOptions{Compare: compareInternal, FilterKey: filterKey, CacheID: num}
	if tc.bc != nil {
		ro.Cache = tc.bc
	}
	r, err := sstable.NewReader(f, st.Size(), ro)
	if err != nil {
		f.Close()
		return nil, tc.corrupt(path, err)
	}
	t := &table{num: num, f: f, r: r}
	t.refs.Store(2) // the cache's and the caller's
	tc.c.Add(num, t, 1)
	return t, nil
}

// evict drops a deleted table from the cache.
func (tc *tableCache) evict(num uint64) { tc.c.Remove(num) }

// close releases every cached table.
func (tc *tableCache) close() { tc.c.Purge() }

// find looks up the newest entry for ukey at or below seq in table f.
// The returned value points into a block and must be copied before the
// caller returns it to a user.
func (tc *tableCache) find(f *fileMeta, ukey []byte, seq uint64, scratch []byte) (value []byte, k kind, found bool, err error) {
	t, err := tc.get(f.num)
	if err != nil {
		return nil, 0, false, err
	}
	defer t.unref()
	if !t.r.MayContain(ukey) {
		return nil, 0, false, nil
	}
	it, _ := tc.iterPool.Get().(*sstable.Iter)
	if it == nil {
		it = t.r.NewIter()
	} else {
		it.Reset(t.r)
	}
	defer tc.iterPool.Put(it)
	ikey := appendInternalKey(scratch[:0], ukey, seq, kindMax)
	if !it.SeekGE(ikey) {
		if err := it.Err(); err != nil {
			return nil, 0, false, tc.corrupt(filepath.Join(tc.dir, tableName(f.num)), err)
		}
		return nil, 0, false, nil
	}
	key := it.Key()
	if len(key) < trailerLen || string(userKey(key)) != string(ukey) {
		return nil, 0, false, nil
	}
	return it.Value(), kind(trailerOf(key) & 0xff), true, nil
}

// tableIter adapts an sstable iterator to internalIterator and holds the
// table open until Close.
type tableIter struct {
	tc   *tableCache
	t    *table
	it   *sstable.Iter
	path string
	err  error // the iterator's error, once reported
}

func (tc *tableCache) newIter(num uint64) (*tableIter, error) {
	t, err := tc.get(num)
	if err != nil {
		return nil, err
	}
	it, _ := tc.scanPool.Get().(*sstable.Iter)
	if it == nil {
		it = t.r.NewIter()
	} else {
		it.Reset(t.r)
	}
	return &tableIter{tc: tc, t: t, it: it, path: filepath.Join(tc.dir, tableName(num))}, nil
}

func (ti *tableIter) First() bool             { return ti.it.First() }
func (ti *tableIter) SeekGE(ikey []byte) bool { return ti.it.SeekGE(ikey) }
func (ti *tableIter) Next() bool              { return ti.it.Next() }
func (ti *tableIter) Key() []byte             { return ti.it.Key() }
func (ti *tableIter) Value() []byte           { return ti.it.Value() }
func (ti *tableIter) Err() error {
	if ti.err != nil || ti.it == nil || ti.it.Err() == nil {
		return ti.err
	}
	ti.err = ti.tc.corrupt(ti.path, ti.it.Err()) // once, however often asked
	return ti.err
}
func (ti *tableIter) Close() error {
	if ti.t != nil {
		// The sstable iterator's blocks may be in its read-ahead buffer,
		// which the next user of the pool overwrites: slices from this
		// iterator are dead from here on, as Close's contract says.
		ti.it.Release()
		ti.tc.scanPool.Put(ti.it)
		ti.it = nil
		ti.t.unref()
		ti.t = nil
	}
	return nil
}
