package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

// The benchmarks compare the store with the raw lsm.DB under it, on the
// memory FS (no I/O: the store's CPU cost shows in full) with SyncNone,
// as lsm's own benchmarks run: 16-byte keys in random order, 100-byte
// values.

const benchKeys = 20000

func benchDB(b *testing.B) *lsm.DB {
	b.Helper()
	db, err := lsm.Open("/db", lsm.Options{FS: lsm.NewMemFS(), Sync: lsm.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchStore(b *testing.B, db *lsm.DB, history uint64) *store.Store {
	b.Helper()
	s, err := store.Open(db, store.Options{HistoryRevisions: history, ExpireInterval: -1, TrimInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchKey is the i-th key: 16 hex digits in a scrambled order, so that
// writes land all over the key space as a server's do (sequential keys
// would let the raw lsm.DB append to its memtable, while the store's
// "rev" meta key sends every other insert to the front).
func benchKey(i int) []byte { return fmt.Appendf(nil, "%016x", uint64(i)*0x9e3779b97f4a7c15) }

// rawKey is the lsm key of (c, key), built per call as the 0.2 server
// does (server/store.go engineKey), so that the raw lsm figures include
// what the server pays for them today.
func rawKey(c string, key []byte) []byte {
	k := make([]byte, 0, 1+len(c)+len(key))
	k = append(k, byte(len(c)))
	k = append(k, c...)
	return append(k, key...)
}

// loaded returns a DB holding benchKeys keys, flushed, written through
// the store (envelopes) or raw.
func loaded(b *testing.B, viaStore bool) (*lsm.DB, *store.Store) {
	db := benchDB(b)
	var s *store.Store
	v := make([]byte, 100)
	if viaStore {
		s = benchStore(b, db, 0)
		reqs := make([]store.Request, 0, 1000)
		for i := range benchKeys {
			reqs = append(reqs, store.Request{Ops: []store.Op{{Kind: store.OpPut, Collection: "bench", Key: benchKey(i), Value: v}}})
			if len(reqs) == cap(reqs) {
				if _, err := s.Apply(reqs); err != nil {
					b.Fatal(err)
				}
				reqs = reqs[:0]
			}
		}
	} else {
		var batch lsm.Batch
		for i := range benchKeys {
			batch.Put(rawKey("bench", benchKey(i)), v)
			if batch.Len() == 1000 {
				if err := db.Apply(&batch); err != nil {
					b.Fatal(err)
				}
				batch.Reset()
			}
		}
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	return db, s
}

func BenchmarkGet(b *testing.B) {
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = benchKey(i * 23 % benchKeys)
	}
	missing := make([][]byte, 4096)
	for i := range missing {
		missing[i] = append(benchKey(i*23%benchKeys), 'x')
	}
	b.Run("lsm/hit", func(b *testing.B) {
		db, _ := loaded(b, false)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.Get(rawKey("bench", keys[i&4095])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("store/hit", func(b *testing.B) {
		_, s := loaded(b, true)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := s.Get("bench", keys[i&4095], t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("lsm/miss", func(b *testing.B) {
		db, _ := loaded(b, false)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.Get(rawKey("bench", missing[i&4095])); err == nil {
				b.Fatal("found")
			}
			i++
		}
	})
	b.Run("store/miss", func(b *testing.B) {
		_, s := loaded(b, true)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := s.Get("bench", missing[i&4095], t0); !isNotFound(err) {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkPut(b *testing.B) {
	v := make([]byte, 100)
	b.Run("lsm", func(b *testing.B) {
		db := benchDB(b)
		b.SetBytes(116)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := db.Put(rawKey("bench", benchKey(i)), v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, tc := range []struct {
		name    string
		history uint64
		guard   store.Guard
	}{
		{"store/unguarded", 0, store.Guard{}},
		{"store/unguarded/history", 100000, store.Guard{}},
		{"store/guarded", 0, ifAbsent},
		{"store/guarded/history", 100000, ifAbsent},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchStore(b, benchDB(b), tc.history)
			ctx := context.Background()
			b.SetBytes(116)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				op := store.Op{Kind: store.OpPut, Collection: "bench", Key: benchKey(i), Value: v, Guard: tc.guard}
				if _, err := s.Write(ctx, store.Request{Ops: []store.Op{op}, Now: t0}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPutParallel: concurrent writers, whose requests share groups.
func BenchmarkPutParallel(b *testing.B) {
	v := make([]byte, 100)
	b.Run("lsm", func(b *testing.B) {
		db := benchDB(b)
		b.SetBytes(116)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := db.Put(rawKey("bench", fmt.Appendf(nil, "%p%d", pb, i)), v); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("store", func(b *testing.B) {
		s := benchStore(b, benchDB(b), 100000)
		b.SetBytes(116)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				op := store.Op{Kind: store.OpPut, Collection: "bench", Key: fmt.Appendf(nil, "%p%d", pb, i), Value: v}
				if _, err := s.Write(context.Background(), store.Request{Ops: []store.Op{op}, Now: t0}); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkPutDurable: 32 concurrent writers on a real directory with
// SyncAlways, where the fsync dominates and both the lsm.DB and the store
// share it among the writers of a group.
func BenchmarkPutDurable(b *testing.B) {
	v := make([]byte, 100)
	open := func(b *testing.B) *lsm.DB {
		db, err := lsm.Open(b.TempDir(), lsm.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	b.Run("lsm", func(b *testing.B) {
		db := open(b)
		b.SetParallelism(16)
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.Put(rawKey("bench", benchKey(int(n.Add(1)))), v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("store", func(b *testing.B) {
		s := benchStore(b, open(b), 100000)
		b.SetParallelism(16)
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op := store.Op{Kind: store.OpPut, Collection: "bench", Key: benchKey(int(n.Add(1))), Value: v}
				if _, err := s.Write(context.Background(), store.Request{Ops: []store.Op{op}, Now: t0}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
