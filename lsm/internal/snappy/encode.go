package snappy

import (
	"encoding/binary"
	"math/bits"
)

const (
	// pieceLen is how much input the encoder matches in one go: copies
	// never reach back further, so positions fit in a uint16.
	pieceLen = 1 << 16

	// matchMargin is how far from the end of a piece the search for
	// matches stops, so that the 8-byte loads near the end stay inside
	// the piece. What lies past it goes into the final literal, unless a
	// copy found earlier extends over it.
	matchMargin = 15

	// minMatchPiece is the shortest piece worth searching for matches;
	// shorter ones become a single literal.
	minMatchPiece = matchMargin + 2

	// hashMul spreads 4 input bytes over the table (the multiplier of
	// the reference encoders; any odd constant with mixed bits would do,
	// but this one keeps our output the same as theirs).
	hashMul = 0x1e35a7bd
)

// Encode returns the Snappy block of src. It writes into dst, from
// dst[0], when len(dst) is at least MaxEncodedLen(len(src)), and returns
// the written prefix of dst; otherwise it allocates a new slice. It never
// appends: whatever dst held is overwritten, including a few bytes past
// the returned slice. This is what github.com/golang/snappy's Encode
// does. dst and src must not overlap.
//
// Encode panics with ErrTooLarge if len(src) is more than 2^32-1 (or
// MaxEncodedLen(len(src)) does not fit in an int).
func Encode(dst, src []byte) []byte {
	n := MaxEncodedLen(len(src))
	if n < 0 {
		panic(ErrTooLarge)
	}
	if len(dst) < n {
		dst = make([]byte, n)
	}
	d := binary.PutUvarint(dst, uint64(len(src)))
	for len(src) > 0 {
		p := src[:min(len(src), pieceLen)]
		src = src[len(p):]
		if len(p) < minMatchPiece {
			d += emitLiteral(dst[d:], p)
			continue
		}
		d += pieceEncoders[min(max(bits.Len(uint(len(p)-1)), minTableBits), maxTableBits)](dst[d:], p)
	}
	return dst[:d]
}

// The hash table of a piece has the smallest power of two entries that is
// at least the piece's length, from 1<<minTableBits to 1<<maxTableBits
// (the sizes golang/snappy and libsnappy 1.1.9 use: with the same
// matching rules, our output is the same as theirs, byte for byte).
const (
	minTableBits = 8
	maxTableBits = 14
)

// pieceEncoders[b] encodes a piece with a table of 1<<b entries. Each
// has the table on its own stack frame, so that a piece pays for zeroing
// the table it uses and no more, and a call of Encode does not need stack
// room for all of them.
var pieceEncoders = [maxTableBits + 1]func(dst, p []byte) int{
	8:  func(dst, p []byte) int { var t [1 << 8]uint16; return encodePiece(dst, p, t[:], 32-8) },
	9:  func(dst, p []byte) int { var t [1 << 9]uint16; return encodePiece(dst, p, t[:], 32-9) },
	10: func(dst, p []byte) int { var t [1 << 10]uint16; return encodePiece(dst, p, t[:], 32-10) },
	11: func(dst, p []byte) int { var t [1 << 11]uint16; return encodePiece(dst, p, t[:], 32-11) },
	12: func(dst, p []byte) int { var t [1 << 12]uint16; return encodePiece(dst, p, t[:], 32-12) },
	13: func(dst, p []byte) int { var t [1 << 13]uint16; return encodePiece(dst, p, t[:], 32-13) },
	14: func(dst, p []byte) int { var t [1 << 14]uint16; return encodePiece(dst, p, t[:], 32-14) },
}

// hash maps 4 bytes to a table index; the table has 1<<(32-shift)
// entries.
func hash(u uint32, shift uint) uint32 {
	return (u * hashMul) >> shift
}

func load32(b []byte, i int) uint32 {
	return binary.LittleEndian.Uint32(b[i:])
}

func load64(b []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(b[i:])
}

// encodePiece writes the elements for p, at least minMatchPiece and at
// most pieceLen bytes, to dst and returns how many bytes it wrote. table
// must be zero and have 1<<(32-shift) entries; it maps the hash of 4
// bytes to the last position in p that held them (or to 0, which the
// 4-byte check then rejects or accepts on its merits).
func encodePiece(dst, p []byte, table []uint16, shift uint) int {
	d := 0
	// lit is where the bytes not yet covered by an element start.
	lit := 0
	// Matches are searched at positions up to last; a copy may extend
	// to the end of p.
	last := len(p) - matchMargin

	s := 1
	h := hash(load32(p, s), shift)
	for {
		// Look for a position s whose 4 bytes occurred before, at
		// cand. After 32 misses in a row look at every second
		// position, after 16 more at every third, and so on: input
		// that does not compress costs little time.
		var cand int
		misses := 32
		next := s
		for {
			s = next
			step := misses >> 5
			next = s + step
			misses += step
			if next > last {
				goto tail
			}
			cand = int(table[h])
			table[h] = uint16(s)
			h = hash(load32(p, next), shift)
			if load32(p, s) == load32(p, cand) {
				break
			}
		}

		// p[lit:s] has no match: a literal. Then copies, for as long
		// as the position right after each copy matches too.
		d += emitLiteral(dst[d:], p[lit:s])
		for {
			start := s
			s = extendMatch(p, cand+4, s+4)
			d += emitCopy(dst[d:], start-cand, s-start)
			lit = s
			if s >= last {
				goto tail
			}
			// Remember s-1, then try s. One 8-byte load serves
			// both, and the next position if s does not match.
			x := load64(p, s-1)
			table[hash(uint32(x), shift)] = uint16(s - 1)
			hs := hash(uint32(x>>8), shift)
			cand = int(table[hs])
			table[hs] = uint16(s)
			if uint32(x>>8) != load32(p, cand) {
				s++
				h = hash(uint32(x>>16), shift)
				break
			}
		}
	}

tail:
	if lit < len(p) {
		d += emitLiteral(dst[d:], p[lit:])
	}
	return d
}

// extendMatch returns the end of the match that p[i:] and p[j:], i < j,
// have in common, as a position after j: the first k >= j with p[k] !=
// p[i+k-j], or len(p).
func extendMatch(p []byte, i, j int) int {
	for j+8 <= len(p) {
		if x := load64(p, j) ^ load64(p, i); x != 0 {
			return j + bits.TrailingZeros64(x)>>3
		}
		i += 8
		j += 8
	}
	for j < len(p) && p[i] == p[j] {
		i++
		j++
	}
	return j
}

// emitLiteral writes a literal element holding lit, which is not empty,
// to dst and returns its length. It may write up to 17 bytes of dst for a
// shorter element.
func emitLiteral(dst, lit []byte) int {
	n := uint32(len(lit) - 1)
	var i int
	switch {
	case n < 60:
		dst[0] = byte(n)<<2 | tagLiteral
		if n < 16 && cap(lit) >= 16 && len(dst) >= 17 {
			// Move 16 bytes, from within lit's capacity (the rest of
			// the piece) to dst's room: what lies beyond the literal is
			// overwritten by the elements that follow, or is past the
			// end of the output.
			from, to := lit[:16], dst[1:17]
			binary.LittleEndian.PutUint64(to, binary.LittleEndian.Uint64(from))
			binary.LittleEndian.PutUint64(to[8:], binary.LittleEndian.Uint64(from[8:]))
			return 1 + len(lit)
		}
		i = 1
	case n < 1<<8:
		dst[0] = 60<<2 | tagLiteral
		dst[1] = byte(n)
		i = 2
	case n < 1<<16:
		dst[0] = 61<<2 | tagLiteral
		binary.LittleEndian.PutUint16(dst[1:], uint16(n))
		i = 3
	case n < 1<<24:
		dst[0] = 62<<2 | tagLiteral
		dst[1], dst[2], dst[3] = byte(n), byte(n>>8), byte(n>>16)
		i = 4
	default:
		dst[0] = 63<<2 | tagLiteral
		binary.LittleEndian.PutUint32(dst[1:], n)
		i = 5
	}
	return i + copy(dst[i:], lit)
}

// emitCopy writes copy elements for a match of length at least 4 at
// offset 1..65535 to dst and returns their length. A copy holds at most
// 64 bytes; a longer match is cut so that no piece is shorter than 4,
// which keeps every piece no longer than the bytes it stands for and lets
// the last one use the 2-byte form when the offset is small.
func emitCopy(dst []byte, offset, length int) int {
	i := 0
	for length >= 68 {
		dst[i] = 63<<2 | tagCopy2
		binary.LittleEndian.PutUint16(dst[i+1:], uint16(offset))
		i += 3
		length -= 64
	}
	if length > 64 {
		// 65..67: 60 now leaves 5..7 for the last piece.
		dst[i] = 59<<2 | tagCopy2
		binary.LittleEndian.PutUint16(dst[i+1:], uint16(offset))
		i += 3
		length -= 60
	}
	if length <= 11 && offset < 1<<11 {
		dst[i] = byte(offset>>8)<<5 | byte(length-4)<<2 | tagCopy1
		dst[i+1] = byte(offset)
		return i + 2
	}
	dst[i] = byte(length-1)<<2 | tagCopy2
	binary.LittleEndian.PutUint16(dst[i+1:], uint16(offset))
	return i + 3
}
