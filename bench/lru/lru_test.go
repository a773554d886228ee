// Package lru compares amaters-server/lru with hashicorp/golang-lru/v2.
//
// Workload (issue 3): b.RunParallel, 64k entries, 90% Get / 10% Add, keys
// drawn uniformly from twice the capacity so that about half the Gets miss
// and Adds evict.
package lru

import (
	"testing"

	"amaters-server/lru"

	hlru "github.com/hashicorp/golang-lru/v2"
)

const entries = 1 << 16

// xorshift is a tiny per-goroutine generator so the benchmark measures the
// caches, not math/rand.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

func BenchmarkParallelMix(b *testing.B) {
	b.Run("amaters", func(b *testing.B) {
		c := lru.NewSharded(lru.ShardedOptions[int, int]{MaxEntries: entries})
		for i := range entries {
			c.Add(i, i, 1)
		}
		b.ReportAllocs()
		b.ResetTimer()
		var seed uint64
		b.RunParallel(func(pb *testing.PB) {
			x := xorshift(0x9e3779b97f4a7c15 ^ seedInc(&seed))
			for pb.Next() {
				r := x.next()
				k := int(r>>8) & (2*entries - 1)
				if r&0xff < 26 {
					c.Add(k, k, 1)
				} else {
					c.Get(k)
				}
			}
		})
	})
	b.Run("hashicorp", func(b *testing.B) {
		c, err := hlru.New[int, int](entries)
		if err != nil {
			b.Fatal(err)
		}
		for i := range entries {
			c.Add(i, i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		var seed uint64
		b.RunParallel(func(pb *testing.PB) {
			x := xorshift(0x9e3779b97f4a7c15 ^ seedInc(&seed))
			for pb.Next() {
				r := x.next()
				k := int(r>>8) & (2*entries - 1)
				if r&0xff < 26 {
					c.Add(k, k)
				} else {
					c.Get(k)
				}
			}
		})
	})
}

func BenchmarkSerialMix(b *testing.B) {
	b.Run("amaters", func(b *testing.B) {
		c := lru.NewSharded(lru.ShardedOptions[int, int]{MaxEntries: entries})
		x := xorshift(88172645463325252)
		b.ReportAllocs()
		for b.Loop() {
			r := x.next()
			k := int(r>>8) & (2*entries - 1)
			if r&0xff < 26 {
				c.Add(k, k, 1)
			} else {
				c.Get(k)
			}
		}
	})
	b.Run("hashicorp", func(b *testing.B) {
		c, _ := hlru.New[int, int](entries)
		x := xorshift(88172645463325252)
		b.ReportAllocs()
		for b.Loop() {
			r := x.next()
			k := int(r>>8) & (2*entries - 1)
			if r&0xff < 26 {
				c.Add(k, k)
			} else {
				c.Get(k)
			}
		}
	})
}
