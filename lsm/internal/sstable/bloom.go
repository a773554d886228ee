package sstable

import (
	"encoding/binary"
	"math/bits"
)

// hash64 is the hash the bloom filter uses: a multiply-and-rotate hash
// over 8-byte words. Part of the on-disk format (filters written with one
// hash cannot be read with another); never change.
func hash64(b []byte) uint64 {
	const (
		p1 = 0x9e3779b97f4a7c15
		p2 = 0xc2b2ae3d27d4eb4f
	)
	h := uint64(len(b))*p1 ^ 0x27d4eb2f165667c5
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		h ^= bits.RotateLeft64(w*p2, 31) * p1
		h = bits.RotateLeft64(h, 27)*p1 + p2
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		copy(t[:], b)
		w := binary.LittleEndian.Uint64(t[:])
		h ^= bits.RotateLeft64(w*p2, 31) * p1
		h = bits.RotateLeft64(h, 27)*p1 + p2
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	return h
}

// bloomBuilder collects key hashes and builds a filter.
//
// Filter layout: the bit array, then one byte holding the number of probes
// k. Probe i of a key tests bit (h1 + i*h2) mod nbits, where h1 and h2 are
// the low and high halves of hash64 (double hashing, as in LevelDB). Part
// of the on-disk format; never change.
type bloomBuilder struct {
	bitsPerKey int
	hashes     []uint64
}

func (b *bloomBuilder) add(key []byte) {
	h := hash64(key)
	if n := len(b.hashes); n > 0 && b.hashes[n-1] == h {
		return // the same user key at several sequence numbers
	}
	b.hashes = append(b.hashes, h)
}

func (b *bloomBuilder) finish() []byte {
	k := max(1, min(30, b.bitsPerKey*69/100))
	nbits := max(64, len(b.hashes)*b.bitsPerKey)
	nbytes := (nbits + 7) / 8
	nbits = nbytes * 8
	f := make([]byte, nbytes+1)
	for _, h := range b.hashes {
		h1, h2 := uint32(h), uint32(h>>32)
		for i := range k {
			bit := (h1 + uint32(i)*h2) % uint32(nbits)
			f[bit/8] |= 1 << (bit % 8)
		}
	}
	f[nbytes] = byte(k)
	return f
}

// bloomMayContain reports whether key may be in the set filter f was built
// from. A malformed filter answers true, so it can only cost a read.
func bloomMayContain(f []byte, key []byte) bool {
	if len(f) < 2 {
		return true
	}
	k := int(f[len(f)-1])
	if k < 1 || k > 30 {
		return true
	}
	nbits := uint32(len(f)-1) * 8
	h := hash64(key)
	h1, h2 := uint32(h), uint32(h>>32)
	for i := range k {
		bit := (h1 + uint32(i)*h2) % nbits
		if f[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}
