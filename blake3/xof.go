package blake3

// xofReader reads the extended output of a root node: output block i is
// the root compressed again with counter i (specification, section 2.6).
// Its Read never fails; after 2^64 blocks the counter would wrap, which no
// caller reaches.
type xofReader struct {
	o    output
	kern kernel
	// next is the index of the next output block to compute.
	next uint64
	// buf holds the last computed block, of which pos bytes were read.
	buf [BlockSize]byte
	pos int
}

// Read fills p with the next len(p) bytes of output. It always returns
// len(p) and a nil error.
func (r *xofReader) Read(p []byte) (int, error) {
	n := len(p)
	if r.pos < BlockSize {
		c := copy(p, r.buf[r.pos:])
		r.pos += c
		p = p[c:]
	}
	for len(p) >= BlockSize {
		r.o.rootBlock(r.kern, r.next, (*[BlockSize]byte)(p))
		r.next++
		p = p[BlockSize:]
	}
	if len(p) > 0 {
		r.o.rootBlock(r.kern, r.next, &r.buf)
		r.next++
		r.pos = copy(p, r.buf[:])
	}
	return n, nil
}
