package blake3

import (
	"strconv"
	"testing"
)

// BenchmarkKernels runs sum256 with each kernel this machine supports, to
// show what each level of assembly buys.
func BenchmarkKernels(b *testing.B) {
	for _, n := range []int{64, 1024, 16 << 10, 1 << 20} {
		data := make([]byte, n)
		for _, k := range kernels() {
			b.Run(strconv.Itoa(n)+"/"+k.String(), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					sum256(k, data)
				}
			})
		}
	}
}
