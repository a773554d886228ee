package blake3_test

import (
	"strconv"
	"testing"

	"amaters-server/blake3"
)

var benchSizes = []int{64, 1024, 16 << 10, 1 << 20}

func BenchmarkSum256(b *testing.B) {
	for _, n := range benchSizes {
		data := make([]byte, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				blake3.Sum256(data)
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, n := range benchSizes {
		data := make([]byte, n)
		h := blake3.New()
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var sum [blake3.Size]byte
			for b.Loop() {
				h.Reset()
				h.Write(data)
				h.Sum(sum[:0])
			}
		})
	}
}

func BenchmarkXOF(b *testing.B) {
	h := blake3.New()
	r := h.XOF()
	out := make([]byte, 1<<20)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		r.Read(out)
	}
}
