package lsm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Batch is a sequence of Puts and Deletes applied atomically by
// [DB.Apply]: after a crash either all of it is present or none.
//
// The zero value is an empty batch. A Batch copies the keys and values
// given to it. It is not safe for concurrent use, and may be reused after
// Apply returns, via Reset.
//
// # Format
//
// A batch's encoding is the write-ahead log record for it:
//
//	seq u64 | count u32 | entry * count
//	entry: kind u8 | uvarint keyLen | key | (kind = set) uvarint valueLen | value
//
// seq is the sequence number of the first entry; entry i gets seq+i.
// Integers are little-endian. Part of the on-disk format; never change.
type Batch struct {
	data  []byte // header and entries; nil until the first entry
	count uint32
}

const batchHeaderLen = 12

func (b *Batch) init() {
	if len(b.data) < batchHeaderLen {
		b.data = append(b.data[:0], make([]byte, batchHeaderLen)...)
	}
}

// Put records setting key to value.
func (b *Batch) Put(key, value []byte) {
	b.init()
	b.data = append(b.data, byte(kindSet))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)))
	b.data = append(b.data, key...)
	b.data = binary.AppendUvarint(b.data, uint64(len(value)))
	b.data = append(b.data, value...)
	b.count++
}

// Delete records deleting key.
func (b *Batch) Delete(key []byte) {
	b.init()
	b.data = append(b.data, byte(kindDelete))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)))
	b.data = append(b.data, key...)
	b.count++
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return int(b.count) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.data = b.data[:0]
	b.count = 0
}

// size is the encoded size.
func (b *Batch) size() int { return len(b.data) }

// setSeq stamps the sequence number of the first entry and the count.
func (b *Batch) setSeq(seq uint64) {
	b.init()
	binary.LittleEndian.PutUint64(b.data[0:8], seq)
	binary.LittleEndian.PutUint32(b.data[8:12], b.count)
}

var errBadBatch = errors.New("malformed batch")

// batchReader walks an encoded batch.
type batchReader struct {
	data  []byte
	seq   uint64
	count uint32
	left  uint32
	err   error // first malformation met by next
}

func newBatchReader(data []byte) (batchReader, error) {
	if len(data) < batchHeaderLen {
		return batchReader{}, fmt.Errorf("%w: %d-byte header", errBadBatch, len(data))
	}
	r := batchReader{
		data:  data[batchHeaderLen:],
		seq:   binary.LittleEndian.Uint64(data[0:8]),
		count: binary.LittleEndian.Uint32(data[8:12]),
	}
	r.left = r.count
	return r, nil
}

// next returns the next entry. ok is false at the end, and also on a
// malformed entry, which sets r.err.
func (r *batchReader) next() (k kind, key, value []byte, ok bool) {
	fail := func(format string, args ...any) (kind, []byte, []byte, bool) {
		r.err = fmt.Errorf("%w: "+format, append([]any{errBadBatch}, args...)...)
		r.left = 0
		r.data = nil
		return 0, nil, nil, false
	}
	if r.left == 0 {
		if len(r.data) != 0 {
			return fail("%d trailing bytes", len(r.data))
		}
		return 0, nil, nil, false
	}
	if len(r.data) < 1 {
		return fail("truncated")
	}
	k = kind(r.data[0])
	p := r.data[1:]
	key, p, ok = readBytes(p)
	if !ok {
		return fail("bad key")
	}
	switch k {
	case kindSet:
		value, p, ok = readBytes(p)
		if !ok {
			return fail("bad value")
		}
	case kindDelete:
	default:
		return fail("unknown kind %d", k)
	}
	r.data = p
	r.left--
	return k, key, value, true
}

func readBytes(p []byte) (b, rest []byte, ok bool) {
	n, m := binary.Uvarint(p)
	// m > 1 with a zero last byte is an overlong length (such as 0x80
	// 0x00 for 0), which Put never writes: refuse it, so that a batch
	// that decodes is exactly one Batch encodes.
	if m <= 0 || (m > 1 && p[m-1] == 0) || n > uint64(len(p)-m) {
		return nil, nil, false
	}
	return p[m : m+int(n) : m+int(n)], p[m+int(n):], true
}
