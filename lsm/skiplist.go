package lsm

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
)

// skiplist is an arena-backed skiplist of internal keys with one writer
// and any number of concurrent readers.
//
// Entries never move and are never removed. Keys and values live in one
// byte arena; nodes live in a uint32 arena and link to each other by
// index, so a full memtable is three allocations however many entries it
// holds, and the garbage collector scans no pointers in it.
//
// Node layout in the node arena, in uint32 words:
//
//	keyOff | keyLen | valLen | height | next[0] ... next[height-1]
//
// The key (an internal key, trailer included) is at data[keyOff:] and the
// value follows it. Index 0 is the head node; a next of 0 means nil.
//
// Concurrency: the single writer (the commit leader, see wal.go) fills in
// a node completely, then publishes it with atomic stores of its
// predecessors' next words, bottom level first. A reader that loads a
// next word atomically therefore sees a complete node. Readers filter
// entries by sequence number, so they never see a write before it is
// published by DB.visibleSeq.
type skiplist struct {
	data   []byte
	dlen   int // bytes of data used; written only by the writer
	nodes  []uint32
	nlen   int          // words of nodes used; written only by the writer
	height atomic.Int32 // current height of the list
	rnd    uint64       // xorshift state for node heights (writer only)
	count  atomic.Int64 // entries
	used   atomic.Int64 // dlen + 4*nlen, for readers of the size
}

const (
	maxHeight    = 12
	nodeKeyOff   = 0
	nodeKeyLen   = 1
	nodeValLen   = 2
	nodeHeight   = 3
	nodeNext     = 4
	maxNodeBytes = 4 * (nodeNext + maxHeight)
)

func newSkiplist(dataBytes, nodeBytes int) *skiplist {
	s := &skiplist{
		data:  make([]byte, dataBytes),
		nodes: make([]uint32, nodeBytes/4+nodeNext+maxHeight),
		rnd:   0x2545f4914f6cdd1d,
	}
	s.nodes[nodeHeight] = maxHeight
	s.nlen = nodeNext + maxHeight
	s.height.Store(1)
	return s
}

// fits reports whether n entries with dataBytes of keys and values in
// total can be added.
func (s *skiplist) fits(dataBytes, n int) bool {
	return s.dlen+dataBytes <= len(s.data) && s.nlen+n*(nodeNext+maxHeight) <= len(s.nodes)
}

func (s *skiplist) randomHeight() int {
	h := 1
	for h < maxHeight {
		s.rnd ^= s.rnd << 13
		s.rnd ^= s.rnd >> 7
		s.rnd ^= s.rnd << 17
		if s.rnd&3 != 0 {
			break
		}
		h++
	}
	return h
}

func (s *skiplist) next(n uint32, level int) uint32 {
	return atomic.LoadUint32(&s.nodes[int(n)+nodeNext+level])
}

func (s *skiplist) key(n uint32) []byte {
	off := s.nodes[int(n)+nodeKeyOff]
	l := s.nodes[int(n)+nodeKeyLen]
	return s.data[off : off+l : off+l]
}

func (s *skiplist) value(n uint32) []byte {
	off := s.nodes[int(n)+nodeKeyOff] + s.nodes[int(n)+nodeKeyLen]
	l := s.nodes[int(n)+nodeValLen]
	return s.data[off : off+l : off+l]
}

// less reports whether node n's key sorts before the search key given as
// user key and trailer.
func (s *skiplist) less(n uint32, ukey []byte, trailer uint64) bool {
	k := s.key(n)
	if c := bytes.Compare(k[:len(k)-trailerLen], ukey); c != 0 {
		return c < 0
	}
	return binary.LittleEndian.Uint64(k[len(k)-trailerLen:]) > trailer
}

// seekGE returns the first node >= (ukey, trailer), or 0. If prev is not
// nil it receives the predecessor at every level.
func (s *skiplist) seekGE(ukey []byte, trailer uint64, prev *[maxHeight]uint32) uint32 {
	x := uint32(0)
	for level := int(s.height.Load()) - 1; level >= 0; level-- {
		for {
			nx := s.next(x, level)
			if nx == 0 || !s.less(nx, ukey, trailer) {
				break
			}
			x = nx
		}
		if prev != nil {
			prev[level] = x
		}
	}
	return s.next(x, 0)
}

// add inserts an entry. The caller must have checked fits, and must be the
// only writer.
func (s *skiplist) add(ukey []byte, trailer uint64, value []byte) {
	var prev [maxHeight]uint32
	s.seekGE(ukey, trailer, &prev)
	h := s.randomHeight()
	if cur := int(s.height.Load()); h > cur {
		for l := cur; l < h; l++ {
			prev[l] = 0
		}
		s.height.Store(int32(h))
	}
	koff := s.dlen
	n := copy(s.data[koff:], ukey)
	binary.LittleEndian.PutUint64(s.data[koff+n:], trailer)
	n += trailerLen
	copy(s.data[koff+n:], value)
	s.dlen += n + len(value)

	x := uint32(s.nlen)
	s.nlen += nodeNext + h
	nd := s.nodes[x : int(x)+nodeNext+h]
	nd[nodeKeyOff] = uint32(koff)
	nd[nodeKeyLen] = uint32(n)
	nd[nodeValLen] = uint32(len(value))
	nd[nodeHeight] = uint32(h)
	for l := range h {
		nd[nodeNext+l] = s.next(prev[l], l)
	}
	for l := range h {
		atomic.StoreUint32(&s.nodes[int(prev[l])+nodeNext+l], x)
	}
	s.count.Add(1)
	s.used.Store(int64(s.dlen + 4*s.nlen))
}

// skiplistIter walks a skiplist in order. It is not safe for concurrent
// use, but many may walk one list while it grows.
type skiplistIter struct {
	s *skiplist
	n uint32
}

func (it *skiplistIter) First() bool {
	it.n = it.s.next(0, 0)
	return it.n != 0
}

func (it *skiplistIter) SeekGE(ikey []byte) bool {
	it.n = it.s.seekGE(userKey(ikey), trailerOf(ikey), nil)
	return it.n != 0
}

func (it *skiplistIter) Next() bool {
	if it.n == 0 {
		return false
	}
	it.n = it.s.next(it.n, 0)
	return it.n != 0
}

func (it *skiplistIter) Key() []byte   { return it.s.key(it.n) }
func (it *skiplistIter) Value() []byte { return it.s.value(it.n) }
func (it *skiplistIter) Err() error    { return nil }
func (it *skiplistIter) Close() error  { return nil }
