package snappy

import (
	"errors"
	"math"
)

var (
	// ErrCorrupt is returned by Decode and DecodeLimit when the input is
	// not a valid Snappy block, and by DecodedLen when its header is not
	// valid (the package documentation says what is checked).
	ErrCorrupt = errors.New("snappy: corrupt block")

	// ErrTooLarge is returned by DecodeLimit when a block declares a
	// decoded length above the caller's limit, and by Decode and
	// DecodedLen when the declared length does not fit in an int (only
	// possible where int has 32 bits). Encode panics with it when its
	// input is longer than the format allows, 2^32-1 bytes.
	ErrTooLarge = errors.New("snappy: block too large")
)

// Element tags: the low two bits of an element's first byte.
const (
	tagLiteral = 0
	tagCopy1   = 1
	tagCopy2   = 2
	tagCopy4   = 3
)

// maxBlockLen is the largest decoded length the header may declare.
const maxBlockLen = 1<<32 - 1

// MaxEncodedLen returns the largest number of bytes Encode can produce
// for n bytes of input, or -1 if n is negative or more than the format
// allows (2^32-1), or the bound does not fit in an int. It is 32 + n +
// n/6, the bound the reference implementations use, so a buffer sized for
// one of them is big enough for this one. Encode's own worst case is
// smaller: n, plus at most 5 header bytes, 3 bytes for each 64 KiB piece,
// and n/65 (every literal of over 60 bytes is followed by a copy that
// saves at least one byte of its longer header).
func MaxEncodedLen(n int) int {
	if n < 0 || uint64(n) > maxBlockLen {
		return -1
	}
	m := 32 + uint64(n) + uint64(n)/6
	if m > math.MaxInt {
		return -1
	}
	return int(m)
}

// DecodedLen returns the decoded length that the Snappy block src
// declares in its header, after checking the header as Decode does: a
// complete, shortest-form varint of at most 2^32-1 that the rest of src
// could produce. It does not look at the rest of the block, so a block
// that passes may still fail to decode.
func DecodedLen(src []byte) (int, error) {
	n, _, err := header(src)
	return n, err
}

// header parses and checks the header of src. It returns the declared
// decoded length and the length of the header.
func header(src []byte) (n, size int, err error) {
	var v uint64
	for i := 0; i < len(src) && i < 5; i++ {
		b := src[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			// A last byte of zero adds nothing: the varint is longer
			// than it needs to be.
			if (b == 0 && i > 0) || v > maxBlockLen {
				return 0, 0, ErrCorrupt
			}
			size = i + 1
			if v > maxDecodedLen(len(src)-size) {
				return 0, 0, ErrCorrupt
			}
			if v > math.MaxInt {
				return 0, 0, ErrTooLarge
			}
			return int(v), size, nil
		}
	}
	// The input ended inside the varint, or its fifth byte was not the
	// last.
	return 0, 0, ErrCorrupt
}

// maxDecodedLen returns the most output n bytes of elements can produce.
// The densest element is a copy with a 2-byte offset: 3 bytes for 64 of
// output. Two bytes left over can be one more element, a copy with a
// 1-byte offset of up to 11; one byte left over cannot be an element.
func maxDecodedLen(n int) uint64 {
	return uint64(n/3)*64 + uint64(n%3/2)*11
}
