package blake3

import (
	"encoding/binary"
	"fmt"
	"hash"
	"io"
)

// Hasher computes a BLAKE3 hash incrementally. It implements [hash.Hash]
// with a 32-byte default digest; [Hasher.XOF] gives output of any length.
//
// A Hasher is not safe for concurrent use. Its zero value is not ready for
// use: create one with [New], [NewKeyed] or [NewDeriveKey]. Copying a
// Hasher copies its state, so a copy can be finished while the original
// keeps going.
type Hasher struct {
	t tree
	// buflen is the number of bytes of input in buf, the input after the
	// last batch added to t. buf fills up to a whole batch, which is added
	// only once more input arrives (see tree).
	buflen int
	buf    [batchLen]byte
}

var _ hash.Hash = (*Hasher)(nil)

// New returns a Hasher for the default (unkeyed) hash function.
func New() *Hasher {
	return newHasher(iv, 0)
}

// NewKeyed returns a Hasher for the keyed hash function, a MAC or PRF under
// key. It returns [ErrKeySize] if key is not [KeySize] bytes long.
func NewKeyed(key []byte) (*Hasher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(key))
	}
	return newHasher(keyWords(key), flagKeyedHash), nil
}

// NewDeriveKey returns a Hasher for the key derivation function: the
// input written to it is the key material, and context is a hard-coded,
// globally unique, application-specific string describing the purpose of
// the derived key (for example "amaters-server 2025-01-01 cache keys v1").
// The output, of any length, is the derived key.
func NewDeriveKey(context string) *Hasher {
	return newDeriveKey(detected, context)
}

func newDeriveKey(k kernel, context string) *Hasher {
	t := tree{key: iv, flags: flagDeriveKeyContext, kern: k}
	o := t.finishString(context)
	h := newHasher(o.rootChainingValue(k), flagDeriveKeyMaterial)
	h.t.kern = k
	return h
}

func newHasher(key [8]uint32, flags uint32) *Hasher {
	return &Hasher{t: tree{key: key, flags: flags, kern: detected}}
}

// keyWords reads a 32-byte key as 8 little-endian words.
func keyWords(key []byte) [8]uint32 {
	var k [8]uint32
	for i := range k {
		k[i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	return k
}

// Sum256 returns the default 32-byte BLAKE3 digest of data. It does not
// allocate.
func Sum256(data []byte) [Size]byte {
	return sum256(detected, data)
}

// SumKeyed returns the 32-byte keyed BLAKE3 hash of data under key.
func SumKeyed(key *[KeySize]byte, data []byte) [Size]byte {
	return sumTree(detected, keyWords(key[:]), flagKeyedHash, data)
}

func sum256(k kernel, data []byte) [Size]byte {
	return sumTree(k, iv, 0, data)
}

// sumTree hashes data in one call, without a Hasher's buffer: whole
// batches are read in place.
func sumTree(k kernel, key [8]uint32, flags uint32, data []byte) [Size]byte {
	var sum [Size]byte
	if len(data) > chunkLen {
		t := tree{key: key, flags: flags, kern: k}
		o := t.finishBytes(data)
		cv := o.rootChainingValue(k)
		putWords(sum[:], &cv)
		return sum
	}
	// One chunk, which is the root: the same as chunkOutput and
	// rootChainingValue, without building the output node, and without
	// copying a last block that is whole.
	cv := key
	f := flags | flagChunkStart
	if len(data) > BlockSize {
		n := (len(data) - 1) / BlockSize
		k.compressBlocks(&cv, data[:n*BlockSize], 0, flags, f)
		f = flags
		data = data[n*BlockSize:]
	}
	f |= flagChunkEnd | flagRoot
	if len(data) == BlockSize {
		k.compress(&cv, (*[BlockSize]byte)(data), 0, BlockSize, f)
	} else {
		var block [BlockSize]byte
		copy(block[:], data)
		k.compress(&cv, &block, 0, uint32(len(data)), f)
	}
	putWords(sum[:], &cv)
	return sum
}

// finishBytes adds all the whole batches of data that are followed by more
// input, and returns the root node.
func (t *tree) finishBytes(data []byte) output {
	for len(data) > batchLen {
		t.addBatch(data[:batchLen])
		data = data[batchLen:]
	}
	return t.finish(data)
}

// finishString is finishBytes for a string, hashing it through a small
// buffer so that NewDeriveKey does not copy the whole context.
func (t *tree) finishString(s string) output {
	var buf [batchLen]byte
	for len(s) > batchLen {
		copy(buf[:], s)
		t.addBatch(buf[:])
		s = s[batchLen:]
	}
	n := copy(buf[:], s)
	return t.finish(buf[:n])
}

// rootChainingValue returns the first 32 bytes of the root output as
// words: the compression of the root node with the ROOT flag and counter 0.
func (o *output) rootChainingValue(k kernel) [8]uint32 {
	cv := o.cv
	k.compress(&cv, &o.block, 0, o.blockLen, o.flags|flagRoot)
	return cv
}

// Write adds p to the input. It always returns len(p) and a nil error.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if h.buflen == batchLen {
			h.t.addBatch(h.buf[:])
			h.buflen = 0
		}
		if h.buflen == 0 {
			// Hash whole batches straight from p, keeping at least one
			// byte back: the last batch may hold the root.
			for len(p) > batchLen {
				h.t.addBatch(p[:batchLen])
				p = p[batchLen:]
			}
		}
		c := copy(h.buf[h.buflen:], p)
		h.buflen += c
		p = p[c:]
	}
	return n, nil
}

// WriteString is Write for a string, without converting it to a []byte.
func (h *Hasher) WriteString(s string) (int, error) {
	n := len(s)
	for len(s) > 0 {
		if h.buflen == batchLen {
			h.t.addBatch(h.buf[:])
			h.buflen = 0
		}
		c := copy(h.buf[h.buflen:], s)
		h.buflen += c
		s = s[c:]
	}
	return n, nil
}

// Sum appends the 32-byte digest of the input written so far to b and
// returns the result. It does not change the state of h.
func (h *Hasher) Sum(b []byte) []byte {
	o := h.t.finish(h.buf[:h.buflen])
	cv := o.rootChainingValue(h.t.kern)
	var sum [Size]byte
	putWords(sum[:], &cv)
	return append(b, sum[:]...)
}

// Reset returns h to its initial state, keeping the key or derived key
// context it was created with.
func (h *Hasher) Reset() {
	h.t.reset()
	h.buflen = 0
}

// Size returns the length of the default digest, 32 bytes.
func (h *Hasher) Size() int { return Size }

// BlockSize returns the block size of the compression function, 64 bytes.
func (h *Hasher) BlockSize() int { return BlockSize }

// XOF returns a reader of the extended output for the input written so
// far: an unbounded stream whose first 32 bytes are the default digest.
// The reader is independent of h, which can keep receiving input; later
// writes do not change what the reader returns.
func (h *Hasher) XOF() io.Reader {
	return &xofReader{o: h.t.finish(h.buf[:h.buflen]), kern: h.t.kern, pos: BlockSize}
}
