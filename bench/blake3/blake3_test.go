// Package blake3bench compares amaters-server/blake3 with
// github.com/zeebo/blake3 and lukechampine.com/blake3: Sum256 of the same
// inputs, in one `go test -bench` run so that the numbers share a machine
// state.
//
//	cd bench && go test -run '^$' -bench . ./blake3/
package blake3bench

import (
	"bytes"
	"strconv"
	"testing"

	zeebo "github.com/zeebo/blake3"
	luke "lukechampine.com/blake3"

	"amaters-server/blake3"
)

var sizes = []int{64, 1 << 10, 16 << 10, 1 << 20}

func input(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestSameDigest makes sure the three libraries are compared on the same
// function.
func TestSameDigest(t *testing.T) {
	for _, n := range append(sizes, 0, 1, 1025, 100000) {
		in := input(n)
		ours, z, l := blake3.Sum256(in), zeebo.Sum256(in), luke.Sum256(in)
		if !bytes.Equal(ours[:], z[:]) || !bytes.Equal(ours[:], l[:]) {
			t.Errorf("len %d: amaters %x, zeebo %x, lukechampine %x", n, ours, z, l)
		}
	}
}

// BenchmarkSum256 runs the three implementations for each size, next to
// each other, so that a change in machine load hits all three alike.
func BenchmarkSum256(b *testing.B) {
	for _, n := range sizes {
		in := input(n)
		name := strconv.Itoa(n)
		b.Run(name+"/amaters", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				blake3.Sum256(in)
			}
		})
		b.Run(name+"/zeebo", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				zeebo.Sum256(in)
			}
		})
		b.Run(name+"/lukechampine", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				luke.Sum256(in)
			}
		})
	}
}
