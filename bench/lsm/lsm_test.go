// Package lsm compares amaters-server/lsm with goleveldb v1.0.0 and
// pebble v2 in the style of LevelDB's db_bench: 16-byte keys, 100-byte
// values. See README.md for the command and the results.
//
// Every library runs with the same settings (config): the same memtable
// size and block cache (pebble's cache enlarged by what it reserves for
// memtables, see openPebble), bloom filters of 10 bits per key, and the
// same block compression. Fill benchmarks write without fsync in all
// three (lsm.SyncNone, goleveldb Sync:false, pebble.NoSync); the fillsync
// ones fsync every write in all three (lsm.SyncAlways, Sync:true,
// pebble.Sync). compare_test.go runs the large side-by-side comparison,
// each engine in its own process.
package lsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

const (
	keySize   = 16
	valueSize = 100
	// dbKeys is the size of the database the read benchmarks use.
	dbKeys = 200_000
)

// store is the little the benchmarks need from an engine.
type store interface {
	put(k, v []byte) error
	get(k []byte) (bool, error)
	scan() (int, error) // returns keys seen
	close() error
}

type engine struct {
	name string
	open func(dir string, c config) (store, error)
}

// config is what every engine is given alike.
type config struct {
	Sync     bool  // fsync every write
	Memtable int64 // memtable size, bytes
	Cache    int64 // block cache, bytes
	Compress bool  // Snappy block compression
}

// microConfig is the micro-benchmarks' configuration: amaters' defaults.
var microConfig = config{Memtable: 4 << 20, Cache: 8 << 20, Compress: true}

var engines = []engine{
	{"amaters", openAmaters},
	{"goleveldb", openLevelDB},
	{"pebble", openPebble},
}

// amaters

type amatersStore struct{ db *lsm.DB }

func openAmaters(dir string, c config) (store, error) {
	o := lsm.Options{Sync: lsm.SyncNone, MemtableSize: c.Memtable, BlockCacheSize: c.Cache}
	if c.Sync {
		o.Sync = lsm.SyncAlways
	}
	if !c.Compress {
		o.Compression = lsm.NoCompression
	}
	// Bloom filters of 10 bits per key are always on.
	db, err := lsm.Open(dir, o)
	return amatersStore{db}, err
}

func (s amatersStore) put(k, v []byte) error { return s.db.Put(k, v) }
func (s amatersStore) get(k []byte) (bool, error) {
	_, err := s.db.Get(k)
	if errors.Is(err, lsm.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
func (s amatersStore) scan() (int, error) {
	it := s.db.NewIterator(nil, nil)
	n := 0
	for it.Next() {
		_, _ = it.Key(), it.Value()
		n++
	}
	return n, it.Close()
}
func (s amatersStore) close() error { return s.db.Close() }

// goleveldb

type levelStore struct {
	db *leveldb.DB
	wo *opt.WriteOptions
}

func openLevelDB(dir string, c config) (store, error) {
	o := &opt.Options{
		WriteBuffer:        int(c.Memtable),
		BlockCacheCapacity: int(c.Cache),
		Filter:             filter.NewBloomFilter(10),
		Compression:        opt.SnappyCompression,
	}
	if !c.Compress {
		o.Compression = opt.NoCompression
	}
	db, err := leveldb.OpenFile(dir, o)
	return levelStore{db, &opt.WriteOptions{Sync: c.Sync}}, err
}

func (s levelStore) put(k, v []byte) error { return s.db.Put(k, v, s.wo) }
func (s levelStore) get(k []byte) (bool, error) {
	_, err := s.db.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
func (s levelStore) scan() (int, error) {
	it := s.db.NewIterator(nil, nil)
	n := 0
	for it.Next() {
		_, _ = it.Key(), it.Value()
		n++
	}
	it.Release()
	return n, it.Error()
}
func (s levelStore) close() error { return s.db.Close() }

// pebble

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

// openPebble gives pebble the same memtable, and a cache larger by two
// memtables: pebble reserves the memory of its memtables out of its
// block cache, so a cache of c.Cache alone would leave it less for blocks
// than the others get.
func openPebble(dir string, c config) (store, error) {
	cache := pebble.NewCache(c.Cache + 2*c.Memtable)
	defer cache.Unref()
	o := &pebble.Options{Logger: quietLogger{}, MemTableSize: uint64(c.Memtable), Cache: cache}
	comp := sstable.NoCompression
	if c.Compress {
		comp = sstable.SnappyCompression
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return comp }
	}
	db, err := pebble.Open(dir, o)
	wo := pebble.NoSync
	if c.Sync {
		wo = pebble.Sync
	}
	return pebbleStore{db, wo}, err
}

func (s pebbleStore) put(k, v []byte) error { return s.db.Set(k, v, s.wo) }
func (s pebbleStore) get(k []byte) (bool, error) {
	_, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, c.Close()
}
func (s pebbleStore) scan() (int, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		_, _ = it.Key(), it.Value()
		n++
	}
	return n, it.Close()
}
func (s pebbleStore) close() error { return s.db.Close() }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Keys and values.

// key writes the 16-byte key of i: zero-padded decimal, like db_bench.
func key(buf []byte, i uint64) []byte {
	return fmt.Appendf(buf[:0], "%016d", i)
}

func value(rng *rand.Rand) []byte {
	v := make([]byte, valueSize+8)
	for i := 0; i < valueSize; i += 8 {
		binary.LittleEndian.PutUint64(v[i:], rng.Uint64())
	}
	return v[:valueSize]
}

func report(b *testing.B, start time.Time, ops int) {
	b.ReportMetric(float64(ops)/time.Since(start).Seconds(), "keys/s")
}

func openOrFatal(b *testing.B, e engine, dir string, sync bool) store {
	b.Helper()
	c := microConfig
	c.Sync = sync
	s, err := e.open(dir, c)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// fill writes b.N keys from order(i) with the given number of writers.
func fill(b *testing.B, e engine, writers int, syncWrites bool, order func(i uint64) uint64) {
	s := openOrFatal(b, e, b.TempDir(), syncWrites)
	defer s.close()
	b.ReportAllocs()
	b.SetBytes(keySize + valueSize)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	n := b.N
	if syncWrites {
		// An fsync per write is slow: like db_bench (num/1000), write a
		// fraction of the count, so one -benchtime fits every benchmark.
		n = max(writers, b.N/100)
	}
	per := n / writers
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A distinct random value for every key: one value for all
			// would flatter the engines that compress.
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			var kb [keySize]byte
			for i := range per {
				if err := s.put(key(kb[:], order(uint64(w*per+i))), value(rng)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	report(b, start, per*writers)
}

func seq(i uint64) uint64 { return i }

// scramble spreads i over [0, 2^40) in random order without repeats.
func scramble(i uint64) uint64 {
	i = (i * 0x9e3779b97f4a7c15) & (1<<40 - 1)
	return i ^ i>>17
}

func BenchmarkFillSeq(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { fill(b, e, 1, false, seq) })
	}
}

func BenchmarkFillRandom(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { fill(b, e, 1, false, scramble) })
	}
}

func BenchmarkFillRandom2Writers(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { fill(b, e, 2, false, scramble) })
	}
}

func BenchmarkFillSync(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { fill(b, e, 1, true, scramble) })
	}
}

func BenchmarkFillSync8Writers(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { fill(b, e, 8, true, scramble) })
	}
}

// readDB builds a database of dbKeys even-numbered keys and reopens it,
// so that reads start from tables, not from a memtable.
func readDB(b *testing.B, e engine) (store, func()) {
	dir := b.TempDir()
	s := openOrFatal(b, e, dir, false)
	rng := rand.New(rand.NewPCG(3, 4))
	var kb [keySize]byte
	for i := range uint64(dbKeys) {
		if err := s.put(key(kb[:], 2*scramble(i)%(4*dbKeys)), value(rng)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.close(); err != nil {
		b.Fatal(err)
	}
	s = openOrFatal(b, e, dir, false)
	return s, func() { s.close() }
}

func BenchmarkReadRandom(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s, done := readDB(b, e)
			defer done()
			rng := rand.New(rand.NewPCG(5, 6))
			var kb [keySize]byte
			found := 0
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				// Existing keys are even numbers below 4*dbKeys; odd ones
				// fall between them and miss.
				i := uint64(rng.IntN(2 * dbKeys))
				ok, err := s.get(key(kb[:], 2*scramble(i/2)%(4*dbKeys)+i%2))
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					found++
				}
			}
			report(b, start, b.N)
			b.ReportMetric(float64(found)/float64(b.N), "hit-ratio")
		})
	}
}

func BenchmarkReadSeq(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s, done := readDB(b, e)
			defer done()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			total := 0
			for total < b.N {
				n, err := s.scan()
				if err != nil {
					b.Fatal(err)
				}
				total += n
			}
			report(b, start, total)
		})
	}
}
