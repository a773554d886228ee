package sstable

import (
	"bytes"
	"encoding/binary"
)

// blockWriter builds one block in memory.
type blockWriter struct {
	restartInterval int
	buf             []byte
	restarts        []uint32
	lastKey         []byte
	counter         int // entries since the last restart
	entries         int
}

func (w *blockWriter) add(key, value []byte) {
	shared := 0
	if w.counter < w.restartInterval && w.entries > 0 {
		n := min(len(key), len(w.lastKey))
		for shared < n && key[shared] == w.lastKey[shared] {
			shared++
		}
	} else {
		w.restarts = append(w.restarts, uint32(len(w.buf)))
		w.counter = 0
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)-shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, key[shared:]...)
	w.buf = append(w.buf, value...)
	w.lastKey = append(w.lastKey[:0], key...)
	w.counter++
	w.entries++
}

// estimatedSize is the size of the block if finished now.
func (w *blockWriter) estimatedSize() int {
	return len(w.buf) + 4*len(w.restarts) + 4
}

// finish appends the restart array and returns the block contents, which
// stay valid until reset.
func (w *blockWriter) finish() []byte {
	if len(w.restarts) == 0 {
		w.restarts = append(w.restarts, 0)
	}
	for _, r := range w.restarts {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, r)
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.restarts)))
	return w.buf
}

func (w *blockWriter) reset() {
	w.buf = w.buf[:0]
	w.restarts = w.restarts[:0]
	w.lastKey = w.lastKey[:0]
	w.counter = 0
	w.entries = 0
}

// blockIter iterates over one decoded block. Its zero value is unusable;
// call init. A blockIter reused across blocks keeps its key buffer, so a
// lookup allocates nothing once warm.
type blockIter struct {
	cmp         func(a, b []byte) int
	data        []byte // entries only, without the restart array
	restarts    []byte // numRestarts uint32s
	numRestarts int
	off         int // offset of the current entry
	nextOff     int // offset of the entry after it
	key         []byte
	val         []byte
	err         error
	baseOff     int64 // file offset of the block, for errors
}

// initBlock checks the block's restart array and positions the iterator
// before the first entry.
func (it *blockIter) init(cmp func(a, b []byte) int, block []byte, fileOff int64) error {
	it.cmp = cmp
	it.baseOff = fileOff
	it.err = nil
	it.key = it.key[:0]
	it.val = nil
	if len(block) < 4 {
		return &CorruptError{fileOff, "block too short"}
	}
	n := int(binary.LittleEndian.Uint32(block[len(block)-4:]))
	if n == 0 || n > (len(block)-4)/4 {
		return &CorruptError{fileOff, "bad restart count"}
	}
	end := len(block) - 4 - 4*n
	it.data = block[:end]
	it.restarts = block[end : len(block)-4]
	it.numRestarts = n
	it.off, it.nextOff = 0, 0
	return nil
}

func (it *blockIter) restart(i int) int {
	return int(binary.LittleEndian.Uint32(it.restarts[4*i:]))
}

// decodeAt parses the entry at offset off into it.key and it.val, given
// that it.key holds the previous entry's key. It reports false and sets
// it.err on malformed input, or false at the end of the block.
func (it *blockIter) decodeAt(off int) bool {
	if off >= len(it.data) {
		it.off = len(it.data)
		return false
	}
	p := it.data[off:]
	var shared, unshared, vlen uint64
	var h int
	if len(p) >= 3 && p[0]|p[1]|p[2] < 0x80 {
		// The common case: three one-byte lengths.
		shared, unshared, vlen, h = uint64(p[0]), uint64(p[1]), uint64(p[2]), 3
	} else {
		var n1, n2, n3 int
		shared, n1 = binary.Uvarint(p)
		if n1 <= 0 {
			return it.corrupt(off, "bad entry header")
		}
		unshared, n2 = binary.Uvarint(p[n1:])
		if n2 <= 0 {
			return it.corrupt(off, "bad entry header")
		}
		vlen, n3 = binary.Uvarint(p[n1+n2:])
		if n3 <= 0 {
			return it.corrupt(off, "bad entry header")
		}
		h = n1 + n2 + n3
	}
	if shared > uint64(len(it.key)) || unshared > uint64(len(p)-h) || vlen > uint64(len(p)-h)-unshared {
		return it.corrupt(off, "entry overruns block")
	}
	it.key = append(it.key[:shared], p[h:h+int(unshared)]...)
	vs := h + int(unshared)
	it.val = p[vs : vs+int(vlen) : vs+int(vlen)]
	it.off = off
	it.nextOff = off + vs + int(vlen)
	return true
}

func (it *blockIter) corrupt(off int, reason string) bool {
	it.err = &CorruptError{it.baseOff + int64(off), reason}
	it.off = len(it.data)
	return false
}

// first moves to the first entry.
func (it *blockIter) first() bool {
	it.key = it.key[:0]
	return it.decodeAt(0)
}

// next moves to the following entry.
func (it *blockIter) next() bool {
	if it.off >= len(it.data) || it.err != nil {
		return false
	}
	return it.decodeAt(it.nextOff)
}

// seekGE moves to the first entry whose key is >= target.
func (it *blockIter) seekGE(target []byte) bool {
	// Binary search for the last restart point whose key is < target.
	lo, hi := 0, it.numRestarts-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		ro := it.restart(mid)
		if ro >= len(it.data) {
			return it.corrupt(ro, "restart beyond entries")
		}
		it.key = it.key[:0]
		if !it.decodeAt(ro) {
			if it.err == nil {
				it.corrupt(ro, "empty restart")
			}
			return false
		}
		if it.cmp(it.key, target) < 0 {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	ro := it.restart(lo)
	it.key = it.key[:0]
	if !it.decodeAt(ro) {
		return false
	}
	for it.cmp(it.key, target) < 0 {
		if !it.next() {
			return false
		}
	}
	return true
}

// valid reports whether the iterator is at an entry.
func (it *blockIter) valid() bool { return it.off < len(it.data) && it.err == nil }

// findString looks up a string key in a small block compared bytewise (the
// metaindex and properties blocks).
func findString(block []byte, name string, off int64) ([]byte, bool, error) {
	var it blockIter
	if err := it.init(bytes.Compare, block, off); err != nil {
		return nil, false, err
	}
	if it.seekGE([]byte(name)) && string(it.key) == name {
		return it.val, true, nil
	}
	return nil, false, it.err
}
