package lsm_test

import (
	"fmt"
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
