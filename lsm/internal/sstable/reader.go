package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"amaters-server/lsm/internal/snappy"
)

// BlockCache caches verified block contents by table ID and offset. The
// DB's cache is built on package lru; it must be safe for concurrent use.
// Cached slices are shared and must not be modified.
type BlockCache interface {
	Get(id, offset uint64) ([]byte, bool)
	Add(id, offset uint64, block []byte)
}

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Compare must be the order the table was written with.
	Compare func(a, b []byte) int
	// FilterKey must be the function the table was written with.
	FilterKey func(key []byte) []byte
	// Cache, when set, holds data blocks across reads, and the index and
	// filter blocks too: the Reader does not keep them, so the memory
	// they take is the cache's, bounded by its size (an evicted index or
	// filter is read again when next needed). Without a cache the Reader
	// keeps them for its lifetime.
	Cache BlockCache
	// CacheID names this table in Cache (the file number).
	CacheID uint64
}

// Reader reads a table. It is safe for concurrent use; iterators are not.
// It reads through the io.ReaderAt given to NewReader, which the caller
// keeps open for the Reader's lifetime and closes afterwards.
type Reader struct {
	r      io.ReaderAt
	size   int64
	opts   ReaderOptions
	index  []byte // contents of the index block, kept without a cache
	filter []byte // contents of the filter block, kept without a cache
	props  Properties

	indexH, filterH handle
	hasFilter       bool
}

// NewReader opens the table of the given size in r. It reads and checks
// the footer, index, filter and properties; data blocks are checked as
// they are read.
func NewReader(r io.ReaderAt, size int64, opts ReaderOptions) (*Reader, error) {
	if opts.FilterKey == nil {
		opts.FilterKey = func(k []byte) []byte { return k }
	}
	if size < FooterSize {
		return nil, &CorruptError{0, fmt.Sprintf("file of %d bytes is too short for a table", size)}
	}
	fb := make([]byte, FooterSize)
	if _, err := r.ReadAt(fb, size-FooterSize); err != nil {
		return nil, fmt.Errorf("read footer: %w", err)
	}
	f, err := decodeFooter(fb, size-FooterSize)
	if err != nil {
		return nil, err
	}
	t := &Reader{r: r, size: size, opts: opts, indexH: f.index}
	index, err := t.readBlock(f.index)
	if err != nil {
		return nil, err
	}
	var it blockIter
	if err := it.init(opts.Compare, index, int64(f.index.offset)); err != nil {
		return nil, err
	}
	t.keep(f.index, index, &t.index)
	meta, err := t.readBlock(f.metaindex)
	if err != nil {
		return nil, err
	}
	if v, ok, err := findString(meta, metaFilter, int64(f.metaindex.offset)); err != nil {
		return nil, err
	} else if ok {
		h, ok := decodeHandle(v)
		if !ok {
			return nil, &CorruptError{int64(f.metaindex.offset), "bad filter handle"}
		}
		filter, err := t.readBlock(h)
		if err != nil {
			return nil, err
		}
		t.filterH, t.hasFilter = h, true
		t.keep(h, filter, &t.filter)
	}
	if v, ok, err := findString(meta, metaProperties, int64(f.metaindex.offset)); err != nil {
		return nil, err
	} else if ok {
		h, ok := decodeHandle(v)
		if !ok {
			return nil, &CorruptError{int64(f.metaindex.offset), "bad properties handle"}
		}
		pb, err := t.readBlock(h)
		if err != nil {
			return nil, err
		}
		if err := t.decodeProps(pb, int64(h.offset)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// keep puts block b, read from h, in the cache, or without one in *field.
func (t *Reader) keep(h handle, b []byte, field *[]byte) {
	if c := t.opts.Cache; c != nil {
		c.Add(t.opts.CacheID, h.offset, b)
		return
	}
	*field = b
}

// indexBlock returns the contents of the index block.
func (t *Reader) indexBlock() ([]byte, error) {
	if t.index != nil {
		return t.index, nil
	}
	return t.dataBlock(t.indexH)
}

func (t *Reader) decodeProps(b []byte, off int64) error {
	for name, dst := range map[string]*uint64{
		"num.data.blocks": &t.props.NumDataBlocks,
		"num.entries":     &t.props.NumEntries,
		"raw.key.size":    &t.props.RawKeySize,
		"raw.value.size":  &t.props.RawValueSize,
	} {
		v, ok, err := findString(b, name, off)
		if err != nil {
			return err
		}
		if ok {
			n, m := binary.Uvarint(v)
			if m <= 0 {
				return &CorruptError{off, "bad property " + name}
			}
			*dst = n
		}
	}
	return nil
}

// Bounds returns the table's first and last keys, both nil for a table
// with no entries. The last key is the index block's last (each index key
// is the last key of its data block); the first is read from the first
// data block, which is read and verified for it.
func (t *Reader) Bounds() (first, last []byte, err error) {
	index, err := t.indexBlock()
	if err != nil {
		return nil, nil, err
	}
	var idx blockIter
	if err := idx.init(t.opts.Compare, index, 0); err != nil {
		return nil, nil, err
	}
	for ok := idx.first(); ok; ok = idx.next() {
		last = append(last[:0], idx.key...)
	}
	if idx.err != nil {
		return nil, nil, idx.err
	}
	if last == nil {
		return nil, nil, nil
	}
	it := t.NewIter()
	if !it.First() {
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, &CorruptError{0, "index names data blocks that hold no entries"}
	}
	return append([]byte(nil), it.Key()...), last, nil
}

// Properties returns the table's properties.
func (t *Reader) Properties() Properties { return t.props }

// checkHandle reports whether the block at h, trailer included, lies in
// the file.
func (t *Reader) checkHandle(h handle) error {
	if h.length > uint64(t.size) || h.offset > uint64(t.size)-h.length ||
		h.offset+h.length+blockTrailerSize > uint64(t.size) {
		return &CorruptError{int64(min(h.offset, uint64(t.size))), "block handle out of range"}
	}
	return nil
}

// readBlock reads and verifies the block at h into a new slice.
func (t *Reader) readBlock(h handle) ([]byte, error) {
	if err := t.checkHandle(h); err != nil {
		return nil, err
	}
	b := make([]byte, h.length+blockTrailerSize)
	if _, err := t.r.ReadAt(b, int64(h.offset)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &CorruptError{int64(h.offset), "block beyond end of file"}
		}
		return nil, fmt.Errorf("read block at %d: %w", h.offset, err)
	}
	return verifyBlock(b, h, nil)
}

// verifyBlock checks the trailer of b, the stored block at h, and
// returns its contents: b's own bytes, or for a compressed block its
// decoded contents, in dst when it is large enough or else in a new
// slice.
func verifyBlock(b []byte, h handle, dst []byte) ([]byte, error) {
	n := h.length
	if binary.LittleEndian.Uint32(b[n+1:]) != maskedCRC(b[:n+1]) {
		return nil, &CorruptError{int64(h.offset), "block checksum mismatch"}
	}
	switch Compression(b[n]) {
	case NoCompression:
		return b[:n:n], nil
	case SnappyCompression:
		// The header bounds the decoded size to about 21 times n.
		out, err := snappy.Decode(dst, b[:n])
		if err != nil {
			return nil, &CorruptError{int64(h.offset), fmt.Sprintf("compressed block: %v", err)}
		}
		return out[:len(out):len(out)], nil
	}
	return nil, &CorruptError{int64(h.offset + n), fmt.Sprintf("unknown compression %d", b[n])}
}

// dataBlock returns the verified data block at h, from the cache if
// possible.
func (t *Reader) dataBlock(h handle) ([]byte, error) {
	if c := t.opts.Cache; c != nil {
		if b, ok := c.Get(t.opts.CacheID, h.offset); ok {
			return b, nil
		}
	}
	b, err := t.readBlock(h)
	if err != nil {
		return nil, err
	}
	if c := t.opts.Cache; c != nil {
		c.Add(t.opts.CacheID, h.offset, b)
	}
	return b, nil
}

// MayContain reports whether the table may hold a key whose FilterKey is
// filterKey. False is certain; true may be a false positive.
func (t *Reader) MayContain(filterKey []byte) bool {
	if !t.hasFilter {
		return true
	}
	filter := t.filter
	if filter == nil {
		var err error
		if filter, err = t.dataBlock(t.filterH); err != nil {
			// The read that follows finds the key or not, and meets
			// any damage itself.
			return true
		}
	}
	return bloomMayContain(filter, filterKey)
}

// Read-ahead for sequential scans. When an iterator steps from one data
// block to the next it reads ahead: one ReadAt of several blocks into a
// buffer the iterator owns, from which the following blocks are sliced
// and checked. The window starts at readaheadMin and doubles up to
// readaheadMax, so that a short range scan reads little beyond what it
// needs while a long one makes one system call per 64 blocks or so.
// Blocks read ahead bypass the block cache in both directions: a scan
// neither evicts the blocks that point lookups keep hot nor pays for
// cache insertions it will not reuse. Their CRCs are checked on every
// use, exactly like blocks read one at a time.
const (
	readaheadMin = 32 << 10
	readaheadMax = 256 << 10
)

// Iter iterates over a table in key order. It is not safe for concurrent
// use. The slices returned by Key and Value stay valid until the next
// positioning call.
type Iter struct {
	t     *Reader
	index blockIter
	data  blockIter
	valid bool
	err   error

	// The read-ahead window: ra[:raLen] holds the file's bytes from
	// raOff. raSize is the size of the next read, 0 before the first.
	ra     []byte
	raOff  uint64
	raLen  int
	raSize int
	// dec holds the decoded contents of a compressed block read ahead.
	dec []byte
}

// NewIter returns an unpositioned iterator.
func (t *Reader) NewIter() *Iter {
	it := &Iter{t: t}
	it.reset()
	return it
}

func (it *Iter) reset() {
	it.valid = false
	it.raLen, it.raSize = 0, 0
	index, err := it.t.indexBlock()
	if err != nil {
		it.err = err
		return
	}
	it.err = it.index.init(it.t.opts.Compare, index, 0)
}

// loadBlock opens the data block the index iterator points at. A
// sequential load (the block after the current one) goes through the
// read-ahead window, any other through the block cache.
func (it *Iter) loadBlock(sequential bool) bool {
	h, ok := decodeHandle(it.index.val)
	if !ok {
		it.err = &CorruptError{int64(it.index.off), "bad block handle in index"}
		return false
	}
	var b []byte
	var err error
	if sequential {
		b, err = it.readAhead(h)
	} else {
		b, err = it.t.dataBlock(h)
	}
	if err != nil {
		it.err = err
		return false
	}
	if err := it.data.init(it.t.opts.Compare, b, int64(h.offset)); err != nil {
		it.err = err
		return false
	}
	return true
}

// readAhead returns the verified block at h from the read-ahead window,
// refilling the window from h.offset when it does not hold the block.
// The block stays valid until the next refill.
func (it *Iter) readAhead(h handle) ([]byte, error) {
	t := it.t
	if err := t.checkHandle(h); err != nil {
		return nil, err
	}
	need := h.length + blockTrailerSize
	if h.offset < it.raOff || h.offset+need > it.raOff+uint64(it.raLen) {
		it.raSize = min(max(2*it.raSize, readaheadMin), readaheadMax)
		size := min(max(uint64(it.raSize), need), uint64(t.size)-h.offset)
		if uint64(cap(it.ra)) < size {
			it.ra = make([]byte, size)
		}
		it.raLen = 0
		n, err := t.r.ReadAt(it.ra[:size], int64(h.offset))
		if uint64(n) < need {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, &CorruptError{int64(h.offset), "block beyond end of file"}
			}
			return nil, fmt.Errorf("read block at %d: %w", h.offset, err)
		}
		it.raOff, it.raLen = h.offset, n
	}
	start := h.offset - it.raOff
	b := it.ra[start : start+need : start+need]
	if Compression(b[h.length]) != NoCompression {
		// Decoded into the iterator's own buffer, which the block
		// before this one no longer needs.
		out, err := verifyBlock(b, h, it.dec[:cap(it.dec)])
		if err == nil && cap(out) > cap(it.dec) {
			it.dec = out
		}
		return out, err
	}
	return verifyBlock(b, h, nil)
}

// SeekGE moves to the first key >= target and reports whether there is one.
func (it *Iter) SeekGE(target []byte) bool {
	it.valid = false
	if it.err != nil {
		return false
	}
	if !it.index.seekGE(target) {
		it.err = it.index.err
		return false
	}
	if !it.loadBlock(false) {
		return false
	}
	if it.data.seekGE(target) {
		it.valid = true
		return true
	}
	if it.data.err != nil {
		it.err = it.data.err
		return false
	}
	// The index key is the block's last key, so target <= it implies a
	// match in this block; reaching here means the block disagrees with
	// the index.
	return it.skipForward()
}

// First moves to the first key.
func (it *Iter) First() bool {
	it.valid = false
	if it.err != nil {
		return false
	}
	if !it.index.first() {
		it.err = it.index.err
		return false
	}
	if !it.loadBlock(false) {
		return false
	}
	if it.data.first() {
		it.valid = true
		return true
	}
	return it.skipForward()
}

// Next moves to the following key.
func (it *Iter) Next() bool {
	if !it.valid {
		return false
	}
	if it.data.next() {
		return true
	}
	return it.skipForward()
}

// skipForward moves to the first entry of the next non-empty block.
func (it *Iter) skipForward() bool {
	it.valid = false
	for {
		if it.data.err != nil {
			it.err = it.data.err
			return false
		}
		if !it.index.next() {
			it.err = it.index.err
			return false
		}
		if !it.loadBlock(true) {
			return false
		}
		if it.data.first() {
			it.valid = true
			return true
		}
	}
}

// Valid reports whether the iterator is at a key.
func (it *Iter) Valid() bool { return it.valid }

// Key returns the current key.
func (it *Iter) Key() []byte { return it.data.key }

// Value returns the current value.
func (it *Iter) Value() []byte { return it.data.val }

// Err returns the first error met, such as a *CorruptError.
func (it *Iter) Err() error { return it.err }

// Reset makes it an unpositioned iterator over t, keeping its buffers, so
// that iterators can be reused from a pool.
func (it *Iter) Reset(t *Reader) {
	it.t = t
	it.reset()
}

// Release drops the iterator's references to its table and blocks but
// keeps its buffers, before it goes into a pool; Reset makes it usable
// again.
func (it *Iter) Release() {
	it.t = nil
	it.valid = false
	it.raLen, it.raSize = 0, 0
	it.index = blockIter{key: it.index.key[:0]}
	it.data = blockIter{key: it.data.key[:0]}
}
