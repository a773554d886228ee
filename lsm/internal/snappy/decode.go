package snappy

import (
	"encoding/binary"
	"math"
)

// Decode returns the decoded form of the Snappy block src. It writes into
// dst, from dst[0], when len(dst) is at least the decoded length, and
// returns that prefix of dst; otherwise it allocates a slice of the
// decoded length, which the header check bounds by about 21 times
// len(src). dst and src must not overlap. On an error it returns nil; it
// may have written to dst by then, but never past the decoded length.
//
// Decode returns ErrCorrupt when src is not a valid block and ErrTooLarge
// when the decoded length does not fit in an int. It never panics.
func Decode(dst, src []byte) ([]byte, error) {
	return DecodeLimit(dst, src, math.MaxInt)
}

// DecodeLimit is Decode for a caller who knows how large a block may be:
// it returns ErrTooLarge, before it allocates or writes anything, when
// the decoded length that src declares is more than limit.
func DecodeLimit(dst, src []byte, limit int) ([]byte, error) {
	n, h, err := header(src)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	if len(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]byte, n)
	}
	if !decode(dst, src[h:]) {
		return nil, ErrCorrupt
	}
	return dst, nil
}

// periodic[o], for an offset o of 1..7, is the smallest multiple of o
// that is at least 8. The output of a copy with offset o repeats every o
// bytes, so each byte also equals the one periodic[o] bytes back, far
// enough for 8-byte moves that do not read what they write.
var periodic = [8]int{0, 8, 8, 9, 8, 10, 12, 14}

// decode writes the output of the elements in src to dst and reports
// whether they were valid and produced exactly len(dst) bytes.
//
// Where dst and src have room, literals and copies are moved 8 or 16
// bytes at a time, rounding their length up: the bytes written past an
// element's end belong to later elements, which overwrite them. Within
// 16 bytes of the end of dst, copies go one byte at a time. The elements'
// extra bytes are read through a subslice of exactly their length, and
// moves through 16-byte subslices, which saves the compiler most bounds
// checks.
func decode(dst, src []byte) bool {
	d, s := 0, 0
	for s < len(src) {
		tag := src[s]
		var length, offset int
		switch tag & 3 {
		case tagLiteral:
			if x := int(tag >> 2); x < 60 {
				s++
				length = x + 1
				if len(src)-s >= 16 && len(dst)-d >= 16 {
					from, to := src[s:s+16], dst[d:d+16]
					binary.LittleEndian.PutUint64(to, binary.LittleEndian.Uint64(from))
					binary.LittleEndian.PutUint64(to[8:], binary.LittleEndian.Uint64(from[8:]))
					if length <= 16 {
						d += length
						s += length
						continue
					}
				}
			} else {
				// len-1 in the next 1..4 bytes, little-endian.
				nb := x - 59
				if len(src)-s <= nb {
					return false
				}
				var v uint64
				for i := nb; i > 0; i-- {
					v = v<<8 | uint64(src[s+i])
				}
				s += 1 + nb
				// v+1 may be 2^32, more than an int holds on 32-bit
				// platforms: compare before converting.
				if v >= uint64(len(src)-s) || v >= uint64(len(dst)-d) {
					return false
				}
				length = int(v) + 1
			}
			if length > len(src)-s || length > len(dst)-d {
				return false
			}
			copy(dst[d:], src[s:s+length])
			d += length
			s += length
			continue

		case tagCopy1:
			if len(src)-s < 2 {
				return false
			}
			e := src[s : s+2]
			length = 4 + int(tag>>2&7)
			offset = int(tag>>5)<<8 | int(e[1])
			s += 2

		case tagCopy2:
			if len(src)-s < 3 {
				return false
			}
			e := src[s : s+3]
			length = 1 + int(tag>>2)
			offset = int(e[1]) | int(e[2])<<8
			s += 3

		case tagCopy4:
			if len(src)-s < 5 {
				return false
			}
			e := src[s : s+5]
			length = 1 + int(tag>>2)
			// Through uint64: an offset of 2^31 or more must not turn
			// negative on 32-bit platforms.
			o := uint64(binary.LittleEndian.Uint32(e[1:]))
			if o > uint64(d) {
				return false
			}
			offset = int(o)
			s += 5
		}

		if offset <= 0 || offset > d || length > len(dst)-d {
			return false
		}
		switch end := d + length; {
		case len(dst)-end < 16:
			// Near the end of dst: exactly, one byte at a time.
			for i := d; i < end; i++ {
				dst[i] = dst[i-offset]
			}
		case offset >= 16:
			// Each 16-byte move reads only bytes written before it.
			for i := d; i < end; i += 16 {
				from, to := dst[i-offset:i-offset+16], dst[i:i+16]
				a := binary.LittleEndian.Uint64(from)
				b := binary.LittleEndian.Uint64(from[8:])
				binary.LittleEndian.PutUint64(to, a)
				binary.LittleEndian.PutUint64(to[8:], b)
			}
		case offset >= 8:
			for i := d; i < end; i += 8 {
				binary.LittleEndian.PutUint64(dst[i:i+8], binary.LittleEndian.Uint64(dst[i-offset:i-offset+8]))
			}
		default:
			// The first 8 bytes one at a time, then 8 at a time from
			// the same phase of the pattern further back.
			for i := d; i < d+8; i++ {
				dst[i] = dst[i-offset]
			}
			back := periodic[offset]
			for i := d + 8; i < end; i += 8 {
				binary.LittleEndian.PutUint64(dst[i:i+8], binary.LittleEndian.Uint64(dst[i-back:i-back+8]))
			}
		}
		d += length
	}
	return d == len(dst)
}
