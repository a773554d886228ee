package lsm

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// skiplist is an arena-backed skiplist of internal keys with one writer
// and any number of concurrent readers.
//
// Entries never move and are never removed. Keys and values live in a
// byte arena; nodes live in a uint32 arena and link to each other by
// index, so the garbage collector scans no pointers in either. Both
// arenas grow in chunks as entries arrive (dataChunk bytes, 1<<nshift
// words), so a memtable takes memory for what it holds, not for the size
// it may reach: an empty memtable is a few small allocations, and a full
// one about its size. An entry or node never straddles two chunks: one
// that does not fit in the rest of a chunk starts the next one, and a
// key and value larger than a data chunk get a chunk of their own.
// dataCap and nodeCap are the sizes the memtable's room checks compare
// against (fits in memtable.go); the waste at chunk ends is not counted
// in dlen and nlen.
//
// The chunk tables (dchunks, nchunks) are allocated at full length up
// front; the writer fills in a slot before it publishes any node that
// refers to the chunk, so a reader that reached the node through an
// atomic load of a next word sees the slot filled.
//
// Node layout in the node arena, in uint32 words:
//
//	keyChunk | keyOff | keyLen | valLen | height | prefix[0..3] | class | next[0] ... next[height-1]
//
// The key (an internal key, trailer included) is at
// dchunks[keyChunk][keyOff:] and the value follows it. A node's index is
// its word in the arena: chunk index<<nshift + word in the chunk. Index 0
// is the head node; a next of 0 means nil.
// prefix and class are the key's abbreviation (see abbreviate), so that
// most comparisons during a search are decided in the node arena without
// touching the key bytes: a strictly smaller abbreviation means a strictly
// smaller user key, and only equal ones need the full comparison. The
// abbreviation skips the bytes every key of the previous memtable shared
// (the list's shared prefix), which for the server is mostly the
// collection's name: without that, 16 bytes of "\x05bench" + "key-0000"
// would decide little.
//
// The writer remembers where its last insert went (the splice): when the
// next key falls between the last key and its successor, as in
// sequential loads, the insert needs no search.
//
// Concurrency: the single writer (the applying commit group, see wal.go)
// fills in a node completely, then publishes it with atomic stores of its
// predecessors' next words, bottom level first. A reader that loads a
// next word atomically therefore sees a complete node. Readers filter
// entries by sequence number, so they never see a write before it is
// published by DB.visibleSeq.
type skiplist struct {
	dchunks   [][]byte // data chunks; slots filled by the writer in order
	dataChunk int      // size of a regular data chunk
	dataCap   int      // bytes of data the memtable may use
	dn        int      // writer only: data chunk slots filled
	dcur      int      // writer only: the regular chunk being filled (dchunks[dcur])
	doff      int      // writer only: bytes used in dchunks[dcur]
	dlen      int      // bytes of data used, without chunk-end waste; writer only
	nchunks   [][]uint32
	nshift    uint32 // a node chunk holds 1<<nshift words
	nmask     uint32
	nodeCap   int          // words of nodes the memtable may use
	ncur      uint32       // writer only: index of the next free node word
	nlen      int          // words of nodes used, without chunk-end waste; writer only
	alloc     atomic.Int64 // bytes of chunks allocated, for memory accounting
	height    atomic.Int32 // current height of the list
	rnd       uint64       // xorshift state for node heights (writer only)
	count     atomic.Int64 // entries
	used      atomic.Int64 // dlen + 4*nlen, for readers of the size

	// shared is the prefix that abbreviations skip; set before the list
	// is published to readers, then immutable (see setShared).
	shared []byte

	// The splice, writer only: last is the node added last (0 before the
	// first add) and lastPrev its predecessors at every level, as they
	// were right after it was linked in.
	last     uint32
	lastPrev [maxHeight]uint32
}

const (
	maxHeight    = 12
	nodeKeyChunk = 0
	nodeKeyOff   = 1
	nodeKeyLen   = 2
	nodeValLen   = 3
	nodeHeight   = 4
	nodePrefix   = 5 // four words
	nodeClass    = 9
	nodeNext     = 10
	maxNodeBytes = 4 * (nodeNext + maxHeight)
)

// Chunk sizes: at most maxDataChunk bytes and 1<<maxNodeShift words (1
// MiB each), smaller for small memtables.
const (
	minDataChunk = 4 << 10
	maxDataChunk = 1 << 20
	minNodeShift = 8
	maxNodeShift = 18
)

// newSkiplist returns an empty list whose memtable may hold dataBytes of
// keys and values and nodeBytes of nodes.
func newSkiplist(dataBytes, nodeBytes int) *skiplist {
	dataBytes = max(dataBytes, 0)
	nodeWords := nodeBytes/4 + nodeNext + maxHeight
	dc := min(max(dataBytes, minDataChunk), maxDataChunk)
	shift := uint32(min(max(bits.Len(uint(nodeWords-1)), minNodeShift), maxNodeShift))
	s := &skiplist{
		// A regular chunk is closed only by an entry that did not fit,
		// and then it and that entry hold more than a chunk: at most 2
		// per chunk of room. An entry larger than a chunk has a chunk of
		// its own: at most 1 per chunk of room. Plus the first (empty)
		// one and the last one being filled.
		dchunks:   make([][]byte, 3*(dataBytes/dc)+3),
		dataChunk: dc,
		dataCap:   dataBytes,
		// A node chunk (at least 256 words) is closed only by a node of
		// at most 22 words that did not fit, so it holds over 90% of a
		// chunk.
		nchunks: make([][]uint32, 2*(nodeWords>>shift)+3),
		nshift:  shift,
		nmask:   1<<shift - 1,
		nodeCap: nodeWords,
		rnd:     0x2545f4914f6cdd1d,
	}
	s.dchunks[0], s.dn = make([]byte, 0), 1
	s.newNodeChunk(0)
	s.nchunks[0][nodeHeight] = maxHeight
	s.ncur, s.nlen = nlen0, nlen0
	s.height.Store(1)
	return s
}

// newNodeChunk allocates node chunk i. Writer only.
func (s *skiplist) newNodeChunk(i int) {
	s.nchunks[i] = make([]uint32, 1<<s.nshift)
	s.alloc.Add(4 << s.nshift)
}

// allocData returns room for n bytes of key and value: the chunk and the
// offset in it. Writer only.
func (s *skiplist) allocData(n int) (chunk, off int) {
	s.dlen += n
	if n > s.dataChunk {
		// A chunk of its own; the regular chunk stays open.
		return s.newDataChunk(n), 0
	}
	if s.doff+n > len(s.dchunks[s.dcur]) {
		s.dcur, s.doff = s.newDataChunk(s.dataChunk), 0
	}
	chunk, off = s.dcur, s.doff
	s.doff += n
	return chunk, off
}

// newDataChunk allocates the next data chunk, of size bytes, and returns
// its slot. Writer only.
func (s *skiplist) newDataChunk(size int) int {
	if s.dn >= len(s.dchunks) {
		panic("lsm: skiplist data chunks exhausted: an add was not checked by fits")
	}
	i := s.dn
	s.dchunks[i] = make([]byte, size)
	s.dn++
	s.alloc.Add(int64(size))
	return i
}

// allocNode returns the index of room for a node of words words. Writer
// only.
func (s *skiplist) allocNode(words int) uint32 {
	if int(s.ncur&s.nmask)+words > 1<<s.nshift {
		s.ncur = (s.ncur>>s.nshift + 1) << s.nshift
	}
	if s.ncur&s.nmask == 0 {
		i := int(s.ncur >> s.nshift)
		if i >= len(s.nchunks) {
			panic("lsm: skiplist node chunks exhausted: an add was not checked by fits")
		}
		s.newNodeChunk(i)
	}
	x := s.ncur
	s.ncur += uint32(words)
	s.nlen += words
	return x
}

// node returns the words of node n onwards, within its chunk.
func (s *skiplist) node(n uint32) []uint32 {
	return s.nchunks[n>>s.nshift][n&s.nmask:]
}

// dlen0 and nlen0 are dlen and nlen of an empty list. The memtable
// checks for room against them plus its reservations, never against
// dlen and nlen, which the applier may be changing.
const (
	dlen0 = 0
	nlen0 = nodeNext + maxHeight
)

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
	return atomic.LoadUint32(&s.nchunks[n>>s.nshift][n&s.nmask+nodeNext+uint32(level)])
}

func (s *skiplist) key(n uint32) []byte {
	nd := s.node(n)
	off, l := nd[nodeKeyOff], nd[nodeKeyLen]
	return s.dchunks[nd[nodeKeyChunk]][off : off+l : off+l]
}

func (s *skiplist) value(n uint32) []byte {
	nd := s.node(n)
	off := nd[nodeKeyOff] + nd[nodeKeyLen]
	l := nd[nodeValLen]
	return s.dchunks[nd[nodeKeyChunk]][off : off+l : off+l]
}

// abbrev abbreviates a user key for ordering (see abbreviate): a class,
// then 16 bytes as two big-endian numbers.
type abbrev struct {
	class  uint32
	hi, lo uint64
}

func (a abbrev) less(b abbrev) bool {
	if a.class != b.class {
		return a.class < b.class
	}
	return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo
}

// Abbreviation classes: keys below the shared prefix's range, keys that
// start with it, keys above its range.
const (
	classBelow  = 0
	classShared = 1
	classAbove  = 2
)

// abbreviate returns ukey's abbreviation in s. A key that starts with the
// shared prefix P is in classShared with the 16 bytes after P; any other
// key is below or above every key starting with P, and keeps its own
// first 16 bytes. Abbreviations order like the keys: a < b implies
// abbreviate(a) <= abbreviate(b), so a strictly smaller abbreviation
// means a strictly smaller key (within a class the bytes compared are a
// prefix of what distinguishes the keys; classes order the ranges).
func (s *skiplist) abbreviate(ukey []byte) abbrev {
	p := s.shared
	switch {
	case bytes.HasPrefix(ukey, p):
		hi, lo := first16(ukey[len(p):])
		return abbrev{classShared, hi, lo}
	case bytes.Compare(ukey, p) < 0:
		hi, lo := first16(ukey)
		return abbrev{classBelow, hi, lo}
	}
	hi, lo := first16(ukey)
	return abbrev{classAbove, hi, lo}
}

// first16 returns the first 16 bytes of b, zero-padded, as two big-endian
// numbers.
func first16(b []byte) (hi, lo uint64) {
	if len(b) >= 16 {
		return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	}
	var buf [16]byte
	copy(buf[:], b)
	return binary.BigEndian.Uint64(buf[:]), binary.BigEndian.Uint64(buf[8:])
}

// maxShared bounds the shared prefix.
const maxShared = 256

// setShared sets the prefix that abbreviations skip. Only on an empty
// list that readers cannot see yet.
func (s *skiplist) setShared(p []byte) {
	s.shared = bytes.Clone(p[:min(len(p), maxShared)])
}

// commonPrefix returns the prefix every user key in s shares (that of its
// first and last keys), or nil if s is empty. Only once s has no writer.
func (s *skiplist) commonPrefix() []byte {
	first := s.next(0, 0)
	if first == 0 {
		return nil
	}
	x := uint32(0)
	for level := int(s.height.Load()) - 1; level >= 0; level-- {
		for nx := s.next(x, level); nx != 0; nx = s.next(x, level) {
			x = nx
		}
	}
	a, b := s.key(first), s.key(x)
	a, b = a[:len(a)-trailerLen], b[:len(b)-trailerLen]
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

func (s *skiplist) prefix(n uint32) abbrev {
	w := s.node(n)[nodePrefix : nodeClass+1 : nodeClass+1]
	return abbrev{w[4], uint64(w[0])<<32 | uint64(w[1]), uint64(w[2])<<32 | uint64(w[3])}
}

// less reports whether node n's key sorts before the search key given as
// user key, its abbreviation and trailer.
func (s *skiplist) less(n uint32, ukey []byte, prefix abbrev, trailer uint64) bool {
	if p := s.prefix(n); p != prefix {
		return p.less(prefix)
	}
	k := s.key(n)
	if c := bytes.Compare(k[:len(k)-trailerLen], ukey); c != 0 {
		return c < 0
	}
	return binary.LittleEndian.Uint64(k[len(k)-trailerLen:]) > trailer
}

// seekGE returns the first node >= (ukey, trailer), or 0. If prev is not
// nil it receives the predecessor at every level.
func (s *skiplist) seekGE(ukey []byte, trailer uint64, prev *[maxHeight]uint32) uint32 {
	return s.seekPrefixGE(ukey, s.abbreviate(ukey), trailer, prev)
}

// The result is the node that ended the search at level 0, not a fresh
// load of x's successor: the writer may have linked a node between x and
// that node since, and such a node may sort before the search key. (A
// reload here once made a Get miss its own write while other writers
// inserted nearby; TestSkiplistConcurrentSeek.)
func (s *skiplist) seekPrefixGE(ukey []byte, prefix abbrev, trailer uint64, prev *[maxHeight]uint32) uint32 {
	x, nx := uint32(0), uint32(0)
	for level := int(s.height.Load()) - 1; level >= 0; level-- {
		for {
			nx = s.next(x, level)
			if nx == 0 || !s.less(nx, ukey, prefix, trailer) {
				break
			}
			x = nx
		}
		if prev != nil {
			prev[level] = x
		}
	}
	return nx
}

// add inserts an entry. The caller must have checked fits, and must be the
// only writer.
func (s *skiplist) add(ukey []byte, trailer uint64, value []byte) {
	prefix := s.abbreviate(ukey)
	var prev [maxHeight]uint32
	if !s.spliceFits(ukey, prefix, trailer, &prev) {
		s.seekPrefixGE(ukey, prefix, trailer, &prev)
	}
	h := s.randomHeight()
	if cur := int(s.height.Load()); h > cur {
		for l := cur; l < h; l++ {
			prev[l] = 0
		}
		s.height.Store(int32(h))
	}
	n := len(ukey) + trailerLen
	chunk, koff := s.allocData(n + len(value))
	data := s.dchunks[chunk][koff : koff+n+len(value)]
	copy(data, ukey)
	binary.LittleEndian.PutUint64(data[len(ukey):], trailer)
	copy(data[n:], value)

	x := s.allocNode(nodeNext + h)
	nd := s.node(x)[:nodeNext+h]
	nd[nodeKeyChunk] = uint32(chunk)
	nd[nodeKeyOff] = uint32(koff)
	nd[nodeKeyLen] = uint32(n)
	nd[nodeValLen] = uint32(len(value))
	nd[nodeHeight] = uint32(h)
	nd[nodePrefix] = uint32(prefix.hi >> 32)
	nd[nodePrefix+1] = uint32(prefix.hi)
	nd[nodePrefix+2] = uint32(prefix.lo >> 32)
	nd[nodePrefix+3] = uint32(prefix.lo)
	nd[nodeClass] = prefix.class
	for l := range h {
		nd[nodeNext+l] = s.next(prev[l], l)
	}
	for l := range h {
		atomic.StoreUint32(&s.node(prev[l])[nodeNext+l], x)
	}
	s.last = x
	s.lastPrev = prev
	s.count.Add(1)
	s.used.Store(int64(s.dlen + 4*s.nlen))
}

// spliceFits reports whether the new key (ukey, trailer) sorts right
// after the last node added, before that node's successor, and if so
// fills prev with its predecessors without a search. Writer only.
//
// Then the last node L is the predecessor at every level below L's
// height, and above it the predecessors of L are still those of the new
// key: no node was added since L, and a successor of L's predecessor at
// such a level comes after L's successor at level 0, so after the key.
func (s *skiplist) spliceFits(ukey []byte, prefix abbrev, trailer uint64, prev *[maxHeight]uint32) bool {
	last := s.last
	if last == 0 || !s.less(last, ukey, prefix, trailer) {
		return false
	}
	if nx := s.next(last, 0); nx != 0 && s.less(nx, ukey, prefix, trailer) {
		return false
	}
	*prev = s.lastPrev
	for l := range int(s.node(last)[nodeHeight]) {
		prev[l] = last
	}
	return true
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
