package lsm

import (
	"bytes"
	"encoding/binary"
)

// An internal key is a user key followed by an 8-byte little-endian
// trailer, seq<<8 | kind. Internal keys sort by user key ascending, then by
// trailer descending, so that the newest version of a key comes first and
// a search for (key, seq) lands on the newest version visible at seq.
// Part of the on-disk format; never change.

// kind is the type of an entry.
type kind uint8

// Entry kinds. Part of the on-disk format (WAL and SSTables); never change.
const (
	kindDelete kind = 0
	kindSet    kind = 1
	// kindMax sorts before every real kind at the same sequence number,
	// for search keys.
	kindMax kind = 0xff
)

const (
	trailerLen = 8
	// maxSeq is the largest sequence number; the trailer keeps 56 bits.
	maxSeq = 1<<56 - 1
)

func makeTrailer(seq uint64, k kind) uint64 { return seq<<8 | uint64(k) }

// appendInternalKey appends the internal key for (ukey, seq, k) to dst.
func appendInternalKey(dst, ukey []byte, seq uint64, k kind) []byte {
	dst = append(dst, ukey...)
	return binary.LittleEndian.AppendUint64(dst, makeTrailer(seq, k))
}

// userKey returns the user key of an internal key.
func userKey(ikey []byte) []byte { return ikey[:len(ikey)-trailerLen] }

// trailerOf returns the trailer of an internal key.
func trailerOf(ikey []byte) uint64 {
	return binary.LittleEndian.Uint64(ikey[len(ikey)-trailerLen:])
}

// compareInternal orders internal keys. Keys shorter than a trailer
// (only possible in a corrupt file) sort bytewise first.
func compareInternal(a, b []byte) int {
	if len(a) < trailerLen || len(b) < trailerLen {
		return bytes.Compare(a, b)
	}
	if c := bytes.Compare(a[:len(a)-trailerLen], b[:len(b)-trailerLen]); c != 0 {
		return c
	}
	ta, tb := trailerOf(a), trailerOf(b)
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}

// filterKey is the part of an internal key the bloom filter sees.
func filterKey(ikey []byte) []byte {
	if len(ikey) < trailerLen {
		return ikey
	}
	return ikey[:len(ikey)-trailerLen]
}
