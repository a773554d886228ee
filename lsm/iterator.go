package lsm

import (
	"bytes"
	"errors"
	"sort"
)

// internalIterator walks internal keys in order. Key and Value stay valid
// until the next positioning call.
type internalIterator interface {
	First() bool
	SeekGE(ikey []byte) bool
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close() error
}

// levelIter concatenates the files of one level >= 1, whose key ranges are
// disjoint and sorted, opening one table at a time.
type levelIter struct {
	tc    *tableCache
	files []*fileMeta
	i     int
	cur   *tableIter
	err   error
}

func (l *levelIter) open(i int) bool {
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
	l.i = i
	if i >= len(l.files) {
		return false
	}
	t, err := l.tc.newIter(l.files[i].num)
	if err != nil {
		l.err = err
		return false
	}
	l.cur = t
	return true
}

func (l *levelIter) First() bool {
	if !l.open(0) {
		return false
	}
	if l.cur.First() {
		return true
	}
	return l.advance()
}

func (l *levelIter) SeekGE(ikey []byte) bool {
	ukey := userKey(ikey)
	i := sort.Search(len(l.files), func(i int) bool {
		return bytes.Compare(l.files[i].largestUser(), ukey) >= 0
	})
	if !l.open(i) {
		return false
	}
	if l.cur.SeekGE(ikey) {
		return true
	}
	return l.advance()
}

func (l *levelIter) Next() bool {
	if l.cur == nil {
		return false
	}
	if l.cur.Next() {
		return true
	}
	return l.advance()
}

// advance moves to the first entry of the next file with one.
func (l *levelIter) advance() bool {
	for l.cur != nil {
		if err := l.cur.Err(); err != nil {
			l.err = err
			l.cur.Close()
			l.cur = nil
			return false
		}
		if !l.open(l.i + 1) {
			return false
		}
		if l.cur.First() {
			return true
		}
	}
	return false
}

func (l *levelIter) Key() []byte   { return l.cur.Key() }
func (l *levelIter) Value() []byte { return l.cur.Value() }
func (l *levelIter) Err() error {
	if l.err != nil {
		return l.err
	}
	if l.cur != nil {
		return l.cur.Err()
	}
	return nil
}
func (l *levelIter) Close() error {
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
	return nil
}

// mergingIter merges children into one ordered stream with a binary
// min-heap. For equal internal keys (impossible between distinct sources,
// since sequence numbers are unique) the order is arbitrary.
//
// Each heap entry caches its child's current key, so that the compares
// that keep the heap ordered, two per step, touch no interface. A child's
// key stays valid until that child moves, and only the top child moves
// between heap repairs.
type mergingIter struct {
	children []internalIterator
	heap     []mergeItem // valid children, heap-ordered
	err      error
}

type mergeItem struct {
	it  internalIterator
	key []byte
}

func newMergingIter(children []internalIterator) *mergingIter {
	return &mergingIter{children: children, heap: make([]mergeItem, 0, len(children))}
}

func (m *mergingIter) down(i int) {
	h := m.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		s := l
		if r := l + 1; r < n && compareInternal(h[r].key, h[l].key) < 0 {
			s = r
		}
		if compareInternal(h[s].key, h[i].key) >= 0 {
			return
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
}

func (m *mergingIter) init(pos func(internalIterator) bool) bool {
	m.heap = m.heap[:0]
	for _, c := range m.children {
		if pos(c) {
			m.heap = append(m.heap, mergeItem{it: c, key: c.Key()})
		} else if err := c.Err(); err != nil {
			m.err = err
			m.heap = m.heap[:0]
			return false
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return len(m.heap) > 0
}

func (m *mergingIter) First() bool {
	return m.init(func(c internalIterator) bool { return c.First() })
}

func (m *mergingIter) SeekGE(ikey []byte) bool {
	return m.init(func(c internalIterator) bool { return c.SeekGE(ikey) })
}

func (m *mergingIter) Next() bool {
	if len(m.heap) == 0 {
		return false
	}
	top := &m.heap[0]
	if top.it.Next() {
		top.key = top.it.Key()
		if len(m.heap) > 1 {
			m.down(0)
		}
		return true
	}
	if err := top.it.Err(); err != nil {
		m.err = err
		m.heap = m.heap[:0]
		return false
	}
	last := len(m.heap) - 1
	m.heap[0] = m.heap[last]
	m.heap[last] = mergeItem{}
	m.heap = m.heap[:last]
	if last > 0 {
		m.down(0)
	}
	return last > 0
}

func (m *mergingIter) Key() []byte   { return m.heap[0].key }
func (m *mergingIter) Value() []byte { return m.heap[0].it.Value() }
func (m *mergingIter) Err() error    { return m.err }
func (m *mergingIter) Close() error {
	var errs []error
	for _, c := range m.children {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Iterator walks the keys of a range [lo, hi) in order, as of one point
// in time: the moment it was created, or its Snapshot's. Writes,
// flushes and compactions that happen meanwhile do not affect it.
//
// An Iterator is not safe for concurrent use, but many may be open at
// once. The slices returned by Key and Value stay valid until the next
// call to Next or Close. Close releases the files the iterator pins; an
// iterator that is never closed keeps them on disk.
//
// Once a scan moves past the first block of a table, it reads the table
// ahead in chunks of up to 256 KiB, checking each block's CRC as it
// reaches it, and bypasses the block cache: a long scan makes a few large
// reads, and neither evicts the blocks that point reads keep hot nor
// fills the cache with blocks it will not read again.
type Iterator struct {
	d       *DB
	v       *version
	seq     uint64
	iter    internalIterator
	lo, hi  []byte
	key     []byte
	value   []byte
	started bool
	valid   bool
	done    bool
	err     error
	closed  bool
}

// Next moves to the next key and reports whether there is one. The first
// call moves to the first key of the range.
func (it *Iterator) Next() bool {
	if it.closed || it.done {
		return false
	}
	it.valid = false
	var ok bool
	if !it.started {
		it.started = true
		if it.lo != nil {
			ok = it.iter.SeekGE(appendInternalKey(nil, it.lo, maxSeq, kindMax))
		} else {
			ok = it.iter.First()
		}
	} else {
		// Skip the older versions of the current key.
		ok = it.iter.Next()
		for ok && bytes.Equal(userKey(it.iter.Key()), it.key) {
			ok = it.iter.Next()
		}
	}
	for ok {
		ik := it.iter.Key()
		uk := userKey(ik)
		t := trailerOf(ik)
		// The bound first: entries past it end the scan, however new.
		if it.hi != nil && bytes.Compare(uk, it.hi) >= 0 {
			break
		}
		if t>>8 > it.seq {
			ok = it.iter.Next()
			continue
		}
		it.key = append(it.key[:0], uk...)
		if kind(t&0xff) == kindSet {
			it.value = it.iter.Value()
			it.valid = true
			return true
		}
		// A tombstone: skip every older version of this key.
		ok = it.iter.Next()
		for ok && bytes.Equal(userKey(it.iter.Key()), it.key) {
			ok = it.iter.Next()
		}
	}
	it.done = true
	it.valid = false
	it.err = it.iter.Err()
	it.key, it.value = nil, nil
	return false
}

// Key returns the current key. The slice is valid until the next call to
// Next or Close, and must not be modified.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current value, never nil while positioned. The slice
// is valid until the next call to Next or Close and must not be modified:
// it may be the engine's own copy (a cached table block, the memtable), so
// writing into it would change what later reads return. Copy it to keep or
// change it.
func (it *Iterator) Value() []byte {
	if it.value == nil && it.valid {
		return []byte{}
	}
	return it.value
}

// Err returns the error that ended the iteration, if any.
func (it *Iterator) Err() error {
	if it.err != nil {
		return it.err
	}
	if it.closed {
		return ErrClosed
	}
	return nil
}

// Close releases the iterator and returns the error that ended the
// iteration, if any. A second Close returns ErrClosed.
func (it *Iterator) Close() error {
	if it.closed {
		return ErrClosed
	}
	it.closed = true
	err := it.iter.Close()
	it.v.unref()
	it.d.iterators.Add(-1)
	return errors.Join(it.err, err)
}
