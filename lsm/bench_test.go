package lsm_test

import (
	"fmt"
	"sync"
	"testing"

	"amaters-server/lsm"
)

func BenchmarkPut(b *testing.B) {
	db, err := lsm.Open("/db", lsm.Options{FS: lsm.NewMemFS(), Sync: lsm.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	v := make([]byte, 100)
	k := make([]byte, 16)
	b.SetBytes(116)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		copy(k, fmt.Appendf(k[:0], "%016d", i))
		if err := db.Put(k, v); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	db, err := lsm.Open("/db", lsm.Options{FS: lsm.NewMemFS(), Sync: lsm.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	v := make([]byte, 100)
	for i := range 100000 {
		db.Put(fmt.Appendf(nil, "%016d", i), v)
	}
	db.Flush()
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "%016d", i*23)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Get(keys[i&4095]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkIterate(b *testing.B) {
	db, err := lsm.Open("/db", lsm.Options{FS: lsm.NewMemFS(), Sync: lsm.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	v := make([]byte, 100)
	for i := range 50000 {
		db.Put(fmt.Appendf(nil, "%016d", i), v)
	}
	db.Flush()
	b.ReportAllocs()
	var it *lsm.Iterator
	for b.Loop() {
		if it == nil || !it.Next() {
			if it != nil {
				it.Close()
			}
			it = db.NewIterator(nil, nil)
			it.Next()
		}
	}
	it.Close()
}

// BenchmarkReadSeq scans a reopened on-disk database of 200 000 keys
// written in random order, like db_bench's readseq; one op is one full
// scan.
func BenchmarkReadSeq(b *testing.B) {
	dir := b.TempDir()
	db, err := lsm.Open(dir, lsm.Options{Sync: lsm.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	v := make([]byte, 100)
	const n = 200_000
	for i := range uint64(n) {
		j := (i * 0x9e3779b97f4a7c15) & (1<<40 - 1)
		if err := db.Put(fmt.Appendf(nil, "%016d", j^j>>17), v); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if db, err = lsm.Open(dir, lsm.Options{Sync: lsm.SyncNone}); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	for b.Loop() {
		it := db.NewIterator(nil, nil)
		keys := 0
		for it.Next() {
			_, _ = it.Key(), it.Value()
			keys++
		}
		if err := it.Close(); err != nil || keys != n {
			b.Fatal(keys, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkPutSync measures group commit: writers goroutines each Put
// with SyncAlways on disk; one op is one acknowledged Put. The
// writes/sync metric is the average commit group size.
func BenchmarkPutSync(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := lsm.Open(b.TempDir(), lsm.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			v := make([]byte, 100)
			syncs := db.Metrics().WALSyncs
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					k := make([]byte, 0, 16)
					for i := w; i < b.N; i += writers {
						k = fmt.Appendf(k[:0], "%016d", i)
						if err := db.Put(k, v); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			b.ReportMetric(float64(b.N)/float64(db.Metrics().WALSyncs-syncs), "writes/sync")
		})
	}
}
