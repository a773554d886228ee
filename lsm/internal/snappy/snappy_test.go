package snappy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// refDecode is a decoder written for clarity rather than speed: it
// appends one byte at a time and allocates only what the elements
// produce. Tests and fuzzing compare Decode with it.
func refDecode(src []byte) ([]byte, error) {
	var n uint64
	i := 0
	for shift := 0; ; shift += 7 {
		if i == len(src) || i == 5 {
			return nil, ErrCorrupt
		}
		b := src[i]
		i++
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			if b == 0 && i > 1 {
				return nil, ErrCorrupt // longer than needed
			}
			break
		}
	}
	if n > math.MaxUint32 {
		return nil, ErrCorrupt
	}
	out := []byte{}
	for i < len(src) {
		tag := src[i]
		i++
		need := [4]int{0, 1, 2, 4}[tag&3]
		if tag&3 == 0 && tag>>2 >= 60 {
			need = int(tag>>2) - 59
		}
		if len(src)-i < need {
			return nil, ErrCorrupt
		}
		var x uint64 // the bytes after the tag, little-endian
		for k := need - 1; k >= 0; k-- {
			x = x<<8 | uint64(src[i+k])
		}
		i += need
		switch tag & 3 {
		case tagLiteral:
			length := uint64(tag>>2) + 1
			if tag>>2 >= 60 {
				length = x + 1
			}
			if uint64(len(src)-i) < length {
				return nil, ErrCorrupt
			}
			out = append(out, src[i:i+int(length)]...)
			i += int(length)
		default:
			length := uint64(tag>>2) + 1
			offset := x
			if tag&3 == tagCopy1 {
				length = uint64(tag>>2&7) + 4
				offset = uint64(tag>>5)<<8 | x
			}
			if offset == 0 || offset > uint64(len(out)) {
				return nil, ErrCorrupt
			}
			for ; length > 0 && uint64(len(out)) <= n; length-- {
				out = append(out, out[uint64(len(out))-offset])
			}
		}
		if uint64(len(out)) > n {
			return nil, ErrCorrupt
		}
	}
	if uint64(len(out)) != n {
		return nil, ErrCorrupt
	}
	return out, nil
}

// encodeBound is Encode's own worst case, as MaxEncodedLen's
// documentation states it.
func encodeBound(n int) int {
	return n + 5 + 3*((n+pieceLen-1)/pieceLen) + n/65
}

// roundTrip encodes src, checks the result every way it can, and returns
// it.
func roundTrip(t testing.TB, src []byte) []byte {
	t.Helper()
	enc := Encode(nil, src)
	if len(enc) > MaxEncodedLen(len(src)) || len(enc) > encodeBound(len(src)) {
		t.Fatalf("%d bytes encoded to %d, more than MaxEncodedLen %d or the stated bound %d",
			len(src), len(enc), MaxEncodedLen(len(src)), encodeBound(len(src)))
	}
	if n, err := DecodedLen(enc); err != nil || n != len(src) {
		t.Fatalf("DecodedLen = %d, %v; want %d", n, err, len(src))
	}
	dec, err := Decode(nil, enc)
	if err != nil {
		t.Fatalf("Decode of %d encoded bytes: %v", len(src), err)
	}
	if !bytes.Equal(dec, src) {
		t.Fatalf("round trip of %d bytes differs at byte %d", len(src), firstDiff(dec, src))
	}
	if len(src) <= 1<<20 {
		ref, err := refDecode(enc)
		if err != nil || !bytes.Equal(ref, src) {
			t.Fatalf("refDecode of the encoding: %v", err)
		}
		// Into a buffer that is large enough: the same bytes, in it.
		buf := bytes.Repeat([]byte{0x5a}, MaxEncodedLen(len(src)))
		enc2 := Encode(buf, src)
		if !bytes.Equal(enc2, enc) || &enc2[0] != &buf[0] {
			t.Fatalf("Encode into a buffer gave other bytes, or a new slice")
		}
	}
	return enc
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// jsonLike returns about n bytes of JSON records of the kind a key-value
// store holds: repeated field names, varying values.
func jsonLike(r *rand.Rand, n int) []byte {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"id":%d,"user":"user_%d","email":"u%d@example.com","active":%t,`+
			`"score":%.2f,"tags":["%s","%s"],"created":"2025-%02d-%02dT%02d:%02d:%02dZ"}`+"\n",
			100000+i, r.IntN(50000), r.IntN(50000), r.IntN(2) == 0, r.Float64()*100,
			words[r.IntN(len(words))], words[r.IntN(len(words))],
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	}
	return b[:n]
}

func opticks(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testInputs returns named inputs that together reach every branch of
// the encoder: sizes around the literal and copy boundaries and the
// 64 KiB pieces, runs, patterns of many periods, text, JSON, noise.
func testInputs(t testing.TB) map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	in := map[string][]byte{
		"empty":  {},
		"1":      {'x'},
		"2":      {'x', 'y'},
		"opt":    opticks(t),
		"opt*13": bytes.Repeat(opticks(t), 13),
		"json":   jsonLike(r, 300000),
	}
	for _, n := range []int{3, 4, 5, 15, 16, 17, 18, 19, 20, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69,
		100, 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537, 131072, 131073, 200000} {
		in[fmt.Sprintf("run%d", n)] = bytes.Repeat([]byte{'a'}, n)
		in[fmt.Sprintf("random%d", n)] = randomBytes(r, n)
		in[fmt.Sprintf("opt%d", n)] = bytes.Repeat(opticks(t), n/16000+1)[:n]
		in[fmt.Sprintf("json%d", n)] = jsonLike(r, n)
	}
	for _, p := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 65, 100, 255, 256,
		1000, 2047, 2048, 2049, 4096, 30000, 32768, 40000} {
		unit := randomBytes(r, p)
		in[fmt.Sprintf("period%d", p)] = bytes.Repeat(unit, 3+100000/p)[:max(3*p+5, 100000)]
	}
	// Literals of chosen lengths between repeats of a common part.
	common := randomBytes(r, 40)
	for _, k := range []int{1, 59, 60, 61, 62, 255, 256, 257, 258, 4000, 65000} {
		var b []byte
		for range 4 {
			b = append(b, common...)
			b = append(b, randomBytes(r, k)...)
		}
		in[fmt.Sprintf("literal%d", k)] = b
	}
	// Noise then runs, and runs then noise, across pieces.
	half := 150000
	in["noise-then-runs"] = append(randomBytes(r, half), bytes.Repeat([]byte("0123456789"), half/10)...)
	in["runs-then-noise"] = append(bytes.Repeat([]byte("0123456789"), half/10), randomBytes(r, half)...)
	// Random bytes from a small alphabet: many short matches.
	small := make([]byte, 100000)
	for i := range small {
		small[i] = "abcd"[r.IntN(4)]
	}
	in["alphabet4"] = small
	return in
}

func TestRoundTrip(t *testing.T) {
	for name, src := range testInputs(t) {
		t.Run(name, func(t *testing.T) { roundTrip(t, src) })
	}
}

// TestRoundTripSizes round-trips every length up to 300 and some past
// the piece size, of compressible and random data.
func TestRoundTripSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	text := bytes.Repeat(opticks(t), 10)
	noise := randomBytes(r, 140000)
	for n := 0; n <= 300; n++ {
		roundTrip(t, text[:n])
		roundTrip(t, noise[:n])
		roundTrip(t, text[1000:1000+n])
	}
	for _, n := range []int{65535, 65536, 65537, 65536 + 16, 65536 + 17, 131071, 131072, 131073} {
		roundTrip(t, text[:n])
		roundTrip(t, noise[:n])
	}
}

// TestCompresses checks that the encoder finds what it should.
func TestCompresses(t *testing.T) {
	in := testInputs(t)
	for _, c := range []struct {
		name string
		max  float64 // encoded/original
	}{
		{"run200000", 0.05},
		{"period7", 0.05},
		{"period2047", 0.1}, // a 2047-byte literal in each piece
		{"opt", 0.6},
		{"opt*13", 0.25}, // each 64 KiB piece starts afresh
		{"json", 0.55},
		{"noise-then-runs", 0.55},
		{"runs-then-noise", 0.55},
	} {
		src := in[c.name]
		n := len(Encode(nil, src))
		if ratio := float64(n) / float64(len(src)); ratio > c.max {
			t.Errorf("%s: %d bytes encoded to %d (%.3f), want at most %.2f", c.name, len(src), n, ratio, c.max)
		}
	}
	// Random data grows by no more than the literal headers.
	src := in["random200000"]
	if n := len(Encode(nil, src)); n > len(src)+5+3*4 {
		t.Errorf("random: %d bytes encoded to %d", len(src), n)
	}
}

func TestEncodeReusesDst(t *testing.T) {
	src := bytes.Repeat([]byte("abcdefgh"), 100)
	want := Encode(nil, src)
	// Too short: a new slice, dst untouched.
	short := bytes.Repeat([]byte{1}, MaxEncodedLen(len(src))-1)
	got := Encode(short, src)
	if !bytes.Equal(got, want) || &got[0] == &short[0] || bytes.Count(short, []byte{1}) != len(short) {
		t.Errorf("Encode into a short dst")
	}
	// Long enough, and dirty: overwritten from dst[0].
	long := bytes.Repeat([]byte{0xff}, MaxEncodedLen(len(src)))
	got = Encode(long, src)
	if !bytes.Equal(got, want) || &got[0] != &long[0] {
		t.Errorf("Encode into a long dst")
	}
}

func TestEmitLiteral(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		n    int
		head string
	}{
		{1, "\x00"},
		{2, "\x04"},
		{60, "\xec"},
		{61, "\xf0\x3c"},
		{256, "\xf0\xff"},
		{257, "\xf4\x00\x01"},
		{65536, "\xf4\xff\xff"},
		{65537, "\xf8\x00\x00\x01"},
		{1 << 24, "\xf8\xff\xff\xff"},
		{1<<24 + 1, "\xfc\x00\x00\x00\x01"},
	} {
		lit := randomBytes(r, c.n)
		dst := make([]byte, c.n+5)
		n := emitLiteral(dst, lit)
		if n != len(c.head)+c.n || string(dst[:len(c.head)]) != c.head || !bytes.Equal(dst[len(c.head):n], lit) {
			t.Errorf("emitLiteral of %d bytes: wrote %d, header % x, want % x", c.n, n, dst[:len(c.head)], c.head)
		}
		// The element decodes to the literal.
		blk := binary.AppendUvarint(nil, uint64(c.n))
		blk = append(blk, dst[:n]...)
		if out, err := Decode(nil, blk); err != nil || !bytes.Equal(out, lit) {
			t.Errorf("literal of %d bytes does not decode: %v", c.n, err)
		}
	}
}

// TestEmitCopy checks the copy elements for many lengths and offsets:
// they decode to the match, use the 2-byte form where it fits, hold 4 to
// 64 bytes each, and never take more room than the bytes they replace.
func TestEmitCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, offset := range []int{1, 2, 3, 7, 8, 9, 255, 256, 257, 2047, 2048, 4095, 65535} {
		prefix := randomBytes(r, offset)
		for length := 4; length <= 300; length++ {
			var elems [64]byte
			n := emitCopy(elems[:], offset, length)
			want := append([]byte{}, prefix...)
			for range length {
				want = append(want, want[len(want)-offset])
			}
			blk := binary.AppendUvarint(nil, uint64(len(want)))
			lit := make([]byte, len(prefix)+5)
			blk = append(blk, lit[:emitLiteral(lit, prefix)]...)
			blk = append(blk, elems[:n]...)
			out, err := Decode(nil, blk)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("offset %d length %d: decode: %v", offset, length, err)
			}
			if n > length {
				t.Errorf("offset %d length %d: %d bytes of copies", offset, length, n)
			}
			if length <= 11 && offset < 2048 && n != 2 {
				t.Errorf("offset %d length %d: %d bytes, want the 2-byte form", offset, length, n)
			}
			for i := 0; i < n; {
				tag := elems[i]
				l := int(tag>>2) + 1
				switch tag & 3 {
				case tagCopy1:
					l = int(tag>>2&7) + 4
					i += 2
				case tagCopy2:
					i += 3
				default:
					t.Fatalf("offset %d length %d: element % x", offset, length, tag)
				}
				if l < 4 || l > 64 {
					t.Errorf("offset %d length %d: a copy of %d", offset, length, l)
				}
			}
		}
	}
}

// TestDecodeCopies decodes a literal, one copy of every tag, length and
// small offset, and another literal, into buffers of the exact size and
// with room to spare, against refDecode. The fast paths that move 8 bytes
// at a time turn on and off with the room left, so the literal after the
// copy varies in length too.
func TestDecodeCopies(t *testing.T) {
	prefix := []byte("abcdefghijklmnopqrstuvwxyz0123456789ABCD") // 40 bytes
	suffix := []byte("!@#$%^&*()_+-=[]{};'")
	for _, tag := range []byte{tagCopy1, tagCopy2, tagCopy4} {
		for length := 1; length <= 64; length++ {
			if tag == tagCopy1 && (length < 4 || length > 11) {
				continue
			}
			for offset := 1; offset <= len(prefix); offset++ {
				for sl := 0; sl <= len(suffix); sl++ {
					blk := []byte{0, 39 << 2}
					blk = append(blk, prefix...)
					switch tag {
					case tagCopy1:
						blk = append(blk, byte(offset>>8)<<5|byte(length-4)<<2|tagCopy1, byte(offset))
					case tagCopy2:
						blk = append(blk, byte(length-1)<<2|tagCopy2, byte(offset), byte(offset>>8))
					case tagCopy4:
						blk = append(blk, byte(length-1)<<2|tagCopy4, byte(offset), byte(offset>>8), 0, 0)
					}
					if sl > 0 {
						blk = append(blk, byte(sl-1)<<2)
						blk = append(blk, suffix[:sl]...)
					}
					total := len(prefix) + length + sl
					blk[0] = byte(total) // below 128: a 1-byte header
					want, err := refDecode(blk)
					if err != nil {
						t.Fatalf("refDecode: %v", err)
					}
					for _, extra := range []int{0, 1, 7, 8, 30} {
						buf := bytes.Repeat([]byte{0xa5}, total+extra)
						got, err := Decode(buf, blk)
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("tag %d length %d offset %d suffix %d: got %q, %v; want %q",
								tag, length, offset, sl, got, err, want)
						}
						if bytes.Count(buf[total:], []byte{0xa5}) != extra {
							t.Fatalf("tag %d length %d offset %d suffix %d: wrote past the end", tag, length, offset, sl)
						}
					}
				}
			}
		}
	}
}

// randomBlock builds a valid block of random literals and copies.
func randomBlock(r *rand.Rand) (blk, want []byte) {
	var elems []byte
	for n := r.IntN(40); n >= 0 || len(want) == 0; n-- {
		if len(want) == 0 || r.IntN(3) == 0 {
			lit := randomBytes(r, 1+r.IntN([]int{8, 20, 70, 300}[r.IntN(4)]))
			e := make([]byte, len(lit)+5)
			e = e[:emitLiteral(e, lit)]
			elems = append(elems, e...)
			want = append(want, lit...)
			continue
		}
		offset := 1 + r.IntN(min(len(want), []int{4, 10, 100, 70000}[r.IntN(4)]))
		length := 1 + r.IntN(64)
		switch {
		case length >= 4 && length <= 11 && offset < 2048 && r.IntN(2) == 0:
			elems = append(elems, byte(offset>>8)<<5|byte(length-4)<<2|tagCopy1, byte(offset))
		case offset < 1<<16 && r.IntN(2) == 0:
			elems = append(elems, byte(length-1)<<2|tagCopy2, byte(offset), byte(offset>>8))
		default:
			elems = binary.LittleEndian.AppendUint32(append(elems, byte(length-1)<<2|tagCopy4), uint32(offset))
		}
		for range length {
			want = append(want, want[len(want)-offset])
		}
	}
	blk = binary.AppendUvarint(nil, uint64(len(want)))
	return append(blk, elems...), want
}

func TestDecodeRandomBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 3000 {
		blk, want := randomBlock(r)
		got, err := Decode(nil, blk)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("block %d: %v, differs at %d", i, err, firstDiff(got, want))
		}
		// Every proper prefix of a valid block is invalid, and so is
		// the block with its last byte changed, when that changes the
		// output; refDecode says which.
		for _, cut := range []int{1, 2, 3, len(blk) / 2} {
			if cut < len(blk) {
				if _, err := Decode(nil, blk[:len(blk)-cut]); err == nil {
					t.Fatalf("block %d: a prefix decoded", i)
				}
			}
		}
		bad := append([]byte{}, blk...)
		bad[len(bad)-1] ^= 0x41
		got, err = Decode(nil, bad)
		ref, rerr := refDecode(bad)
		if (err == nil) != (rerr == nil) || !bytes.Equal(got, ref) {
			t.Fatalf("block %d, altered: Decode %v, refDecode %v", i, err, rerr)
		}
	}
}

func TestDecodedLen(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		err  error
		desc string
	}{
		{"", 0, ErrCorrupt, "empty"},
		{"\x00", 0, nil, "zero"},
		{"\x01", 0, ErrCorrupt, "one byte declared, none possible"},
		{"\x0b\x00\x00", 11, nil, "two bytes: a copy of 11"},
		{"\x0c\x00\x00", 0, ErrCorrupt, "two bytes: not 12"},
		{"\x40\x00\x00\x00", 64, nil, "three bytes: a copy of 64"},
		{"\x41\x00\x00\x00", 0, ErrCorrupt, "three bytes: not 65"},
		{"\x80\x00", 0, ErrCorrupt, "overlong"},
		{"\xff\xff\xff\xff\x0f\x00\x00\x00", 0, ErrCorrupt, "2^32-1 from three bytes"},
	} {
		n, err := DecodedLen([]byte(c.in))
		if n != c.n || err != c.err {
			t.Errorf("%s: DecodedLen = %d, %v; want %d, %v", c.desc, n, err, c.n, c.err)
		}
	}
	// maxDecodedLen is exact for the 3-byte copy, and the densest block
	// that can be built decodes.
	for m := range 40 {
		if got, want := maxDecodedLen(m), uint64(m/3*64+m%3/2*11); got != want {
			t.Errorf("maxDecodedLen(%d) = %d, want %d", m, got, want)
		}
	}
	blk := []byte{0x81, 0x7d, 0x00, 'x'} // 16001, then a 1-byte literal
	for range 250 {
		blk = append(blk, 63<<2|tagCopy2, 1, 0)
	}
	if out, err := Decode(nil, blk); err != nil || len(out) != 16001 {
		t.Errorf("densest block: %d bytes, %v", len(out), err)
	}
}

// TestHostileHeaders checks that a block declaring far more than it can
// hold, or more than the caller allows, fails before anything is
// allocated.
func TestHostileHeaders(t *testing.T) {
	huge := []byte("\xff\xff\xff\xff\x0f\x00a")
	if allocs := testing.AllocsPerRun(10, func() {
		if _, err := Decode(nil, huge); err != ErrCorrupt {
			t.Fatalf("Decode: %v", err)
		}
	}); allocs != 0 {
		t.Errorf("Decode of a hostile header allocated %v times", allocs)
	}
	blk := Encode(nil, bytes.Repeat([]byte("abc"), 1000))
	if allocs := testing.AllocsPerRun(10, func() {
		if _, err := DecodeLimit(nil, blk, 2999); err != ErrTooLarge {
			t.Fatalf("DecodeLimit: %v", err)
		}
		if _, err := DecodeLimit(nil, blk, -1); err != ErrTooLarge {
			t.Fatalf("DecodeLimit: %v", err)
		}
	}); allocs != 0 {
		t.Errorf("DecodeLimit over the limit allocated %v times", allocs)
	}
	if out, err := DecodeLimit(nil, blk, 3000); err != nil || len(out) != 3000 {
		t.Errorf("DecodeLimit at the limit: %d, %v", len(out), err)
	}
	if out, err := DecodeLimit(nil, []byte{0}, 0); err != nil || len(out) != 0 {
		t.Errorf("DecodeLimit of an empty block: %d, %v", len(out), err)
	}
}

func TestNoAllocs(t *testing.T) {
	src := jsonLike(rand.New(rand.NewPCG(11, 12)), 100000)
	enc := make([]byte, MaxEncodedLen(len(src)))
	dec := make([]byte, len(src))
	var blk []byte
	if allocs := testing.AllocsPerRun(10, func() { blk = Encode(enc, src) }); allocs != 0 {
		t.Errorf("Encode into a large enough dst allocated %v times", allocs)
	}
	if allocs := testing.AllocsPerRun(10, func() {
		if _, err := Decode(dec, blk); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Decode into a large enough dst allocated %v times", allocs)
	}
}

func TestMaxEncodedLen(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{-1, -1},
		{0, 32},
		{1, 33},
		{6, 39},
		{65536, 32 + 65536 + 10922},
	} {
		if got := MaxEncodedLen(c.n); got != c.want {
			t.Errorf("MaxEncodedLen(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	if n := uint64(math.MaxUint32); math.MaxInt > n {
		// 64-bit ints: the format's limit decides.
		if got := MaxEncodedLen(int(n)); uint64(got) != 32+n+n/6 {
			t.Errorf("MaxEncodedLen(2^32-1) = %d", got)
		}
		if got := MaxEncodedLen(int(n + 1)); got != -1 {
			t.Errorf("MaxEncodedLen(2^32) = %d, want -1", got)
		}
	} else if got := MaxEncodedLen(math.MaxInt); got != -1 {
		// 32-bit ints: the bound overflows first.
		t.Errorf("MaxEncodedLen(MaxInt) = %d, want -1", got)
	}
	// Encode's bound: pieces of 65 bytes, each a 61-byte literal (2 header
	// bytes) and a 4-byte copy from far back (3 bytes), are the worst.
	r := rand.New(rand.NewPCG(13, 14))
	far := randomBytes(r, 3000)
	src := append([]byte{}, far...)
	for len(src) < 300000 {
		src = append(src, randomBytes(r, 61)...)
		o := r.IntN(2900)
		src = append(src, far[o:o+4]...)
	}
	enc := roundTrip(t, src)
	t.Logf("adversarial input: %d bytes encoded to %d (MaxEncodedLen %d, bound %d)",
		len(src), len(enc), MaxEncodedLen(len(src)), encodeBound(len(src)))
}

func TestErrors(t *testing.T) {
	if errors.Is(ErrCorrupt, ErrTooLarge) || ErrCorrupt.Error() == ErrTooLarge.Error() {
		t.Error("the two errors are not distinct")
	}
}
