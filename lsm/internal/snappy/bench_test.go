package snappy

import (
	"math/rand/v2"
	"testing"
)

// benchInputs are the corpora of the benchmarks, at the sizes a table
// block has (4 KiB, the default) and larger.
func benchInputs(b *testing.B) []struct {
	name string
	data []byte
} {
	r := rand.New(rand.NewPCG(21, 22))
	text := opticks(b)
	json := jsonLike(r, 1<<20)
	random := randomBytes(r, 1<<20)
	var in []struct {
		name string
		data []byte
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"4K", 4 << 10}, {"64K", 64 << 10}, {"1M", 1 << 20}} {
		for _, c := range []struct {
			name string
			data []byte
		}{{"json", json}, {"text", text}, {"random", random}} {
			if len(c.data) < size.n {
				continue
			}
			in = append(in, struct {
				name string
				data []byte
			}{c.name + "/" + size.name, c.data[:size.n]})
		}
	}
	return in
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range benchInputs(b) {
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, MaxEncodedLen(len(c.data)))
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(Encode(dst, c.data))
			}
			b.ReportMetric(float64(n)/float64(len(c.data)), "ratio")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range benchInputs(b) {
		b.Run(c.name, func(b *testing.B) {
			blk := Encode(nil, c.data)
			dst := make([]byte, len(c.data))
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(dst, blk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
