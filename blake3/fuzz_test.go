package blake3_test

import (
	"bytes"
	"testing"

	"amaters-server/blake3"
)

// FuzzStreaming checks that writing data in pieces of the fuzzed sizes
// gives the same digest and extended output as one-shot Sum256 and one
// Write.
func FuzzStreaming(f *testing.F) {
	f.Add([]byte("abc"), uint16(1), uint16(2))
	f.Add(bytes.Repeat([]byte{0xA5}, 3000), uint16(1024), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, a, b uint16) {
		// Stretch the input so that several chunks and batches are
		// exercised even from short fuzz inputs.
		in := bytes.Repeat(data, 1+int(a%64))
		want := blake3.Sum256(in)

		h := blake3.New()
		pieces := []int{1 + int(a), 1 + int(b)}
		rest := in
		for i := 0; len(rest) > 0; i++ {
			c := min(pieces[i%2], len(rest))
			h.Write(rest[:c])
			rest = rest[c:]
		}
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("streamed Sum = %x, Sum256 = %x", got, want)
		}

		one := blake3.New()
		one.Write(in)
		x1 := make([]byte, 200+int(b%300))
		one.XOF().Read(x1)
		x2 := make([]byte, len(x1))
		r := h.XOF()
		for off := 0; off < len(x2); {
			c := min(1+int(a%97), len(x2)-off)
			r.Read(x2[off : off+c])
			off += c
		}
		if !bytes.Equal(x1, x2) || !bytes.Equal(x1[:32], want[:]) {
			t.Fatalf("extended outputs differ")
		}
	})
}
